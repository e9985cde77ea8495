# Copyright 2026 The fer_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
The nodes of the fer_ros pipeline, in data-flow order.

The one list that launch/fer.launch.py, fer_launch and fer_pipeline start
from, and the optional REP-155 bridge. Each entry's name is at once the
node's default name, its executable and its module in fer_ros, and the
section of config/fer.yaml it reads.
"""

import importlib

CAMERA_NODE = 'camera_node'

# (node name, class in the module of that name)
_PIPELINE = (
    (CAMERA_NODE, 'CameraNode'),
    ('landmark_node', 'LandmarkNode'),
    ('feature_buffer_node', 'FeatureBufferNode'),
    ('emotion_classifier_node', 'EmotionClassifierNode'),
)

NODE_NAMES = tuple(name for name, _ in _PIPELINE)

# Optional, after the pipeline: the REP-155 (ROS4HRI) output, which needs
# hri_msgs (hri:=true, --hri).
HRI_BRIDGE_NODE = 'hri_bridge_node'
_OPTIONAL = ((HRI_BRIDGE_NODE, 'HriBridgeNode'),)
ALL_NODE_NAMES = NODE_NAMES + tuple(name for name, _ in _OPTIONAL)


def node_names(camera=True, hri=False):
    """
    Return the nodes to start.

    Without camera_node when frames come from elsewhere; with hri_bridge_node
    when the REP-155 output is asked for.
    """
    names = tuple(name for name in NODE_NAMES if camera or name != CAMERA_NODE)
    return names + ((HRI_BRIDGE_NODE,) if hri else ())


def node_class(name):
    """
    Return the class of pipeline node ``name``.

    Imported on demand: the launch file and fer_launch only need the names,
    and must not load MediaPipe or onnxruntime.
    """
    class_name = dict(_PIPELINE + _OPTIONAL)[name]
    return getattr(importlib.import_module(f'fer_ros.{name}'), class_name)
