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

"""Parameters: config/fer.yaml covers every node, descriptors, rejections."""

import os

from fer_ros.camera_node import CameraNode
from fer_ros.emotion_classifier_node import EmotionClassifierNode
from fer_ros.feature_buffer_node import FeatureBufferNode
from fer_ros.landmark_node import LandmarkNode
from fer_ros.nodes import node_class, NODE_NAMES
from fer_ros.parameters import PIPELINE_PARAMETERS
from fer_ros.runtime import EXIT_BAD_CONFIGURATION
import pytest
from rclpy.parameter import Parameter
from ros_helpers import REPO
import yaml

NODE_CLASSES = [node_class(name) for name in NODE_NAMES]
CONFIG = os.path.join(REPO, 'config', 'fer.yaml')
BUILTIN = {'use_sim_time', 'start_type_description_service'}


@pytest.fixture
def make_node(ros):
    """Create nodes of a class in the test's context; destroyed afterwards."""
    created = []

    def make(node_class, **overrides):
        parameters = [Parameter(k, value=v) for k, v in overrides.items()]
        node = node_class(context=ros.context, parameter_overrides=parameters)
        created.append(node)
        return node

    yield make
    for node in created:
        node.destroy_node()


@pytest.mark.parametrize('node_class', NODE_CLASSES, ids=lambda c: c.__name__)
def test_yaml_holds_every_parameter_with_its_default(make_node, node_class):
    node = make_node(node_class, **({'source': 'none'} if node_class is CameraNode else {}))
    with open(CONFIG) as config:
        params = yaml.safe_load(config)
    every_node = params['/**']['ros__parameters']
    assert set(every_node) == set(PIPELINE_PARAMETERS)
    declared = {name for name in node._parameters if name not in BUILTIN}
    # A pipeline-wide value is set once, in '/**', not again in a node's section.
    section = params[node.get_name()]['ros__parameters']
    assert not set(section) & set(every_node), f'{node.get_name()} repeats a /** parameter'
    section = {**{k: v for k, v in every_node.items() if k in declared}, **section}
    assert declared == set(section), f'{node.get_name()}: YAML and declared parameters differ'
    for name in declared:
        descriptor = node.describe_parameter(name)
        assert descriptor.description, f'{name} has no description'
        if name != 'source':  # overridden to 'none' above: no camera here
            assert node.get_parameter(name).value == section[name], name


@pytest.mark.parametrize('node_class, name, value, reason', [
    (CameraNode, 'fps', 0.0, 'range'),
    (LandmarkNode, 'max_faces', 99, 'range'),
    (FeatureBufferNode, 'feature_type', 'dlib68:wobble', 'unknown feature kind'),
    (FeatureBufferNode, 'window_length', 'eight', 'type'),
    (FeatureBufferNode, 'feature_type', 'dlib68:coords/neutral', 'neutral_baseline: auto adds'),
    (FeatureBufferNode, 'neutral_baseline', 'manual', 'not one of'),
    (FeatureBufferNode, 'baseline_max_motion', -0.5, 'range'),
    (EmotionClassifierNode, 'smoothing', 'median', 'not one of'),
    (EmotionClassifierNode, 'confidence_threshold', 1.5, 'range'),
], ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_live_changes_are_validated(make_node, node_class, name, value, reason):
    node = make_node(node_class, **({'source': 'none'} if node_class is CameraNode else {}))
    before = node.get_parameter(name).value
    try:
        result = node.set_parameters([Parameter(name, value=value)])[0]
    except Exception as error:  # rclpy raises for a type change instead of refusing
        assert reason in str(error).lower() or 'type' in type(error).__name__.lower()
    else:
        assert not result.successful and reason in result.reason.lower(), result.reason
    assert node.get_parameter(name).value == before


def test_live_change_is_applied(make_node):
    node = make_node(FeatureBufferNode)
    node.trigger_configure()
    result = node.set_parameters([Parameter('feature_type', value='mesh468:coords+velocity')])
    assert result[0].successful
    assert node._extractor.name == 'mesh468:coords+velocity'
    assert node._extractor.dim == 2 * 468 * 2


def test_live_neutral_baseline_change_resets_the_windows(make_node):
    node = make_node(FeatureBufferNode)
    node.trigger_configure()
    windows = node._windows
    assert node._baselines is None and node._feature_type == 'dlib68:coords+geometric'
    assert node.set_parameters([Parameter('neutral_baseline', value='auto')])[0].successful
    assert node._feature_type == 'dlib68:coords+geometric/neutral'
    assert node._baselines is not None and node._windows is not windows
    assert node.set_parameters([Parameter('baseline_frames', value=5)])[0].successful
    assert node._baselines.settings[0] == 5
    assert node.set_parameters([Parameter('baseline_min_neutral', value=0.4)])[0].successful
    assert node._baselines.settings == (5, 0.02, 0.4)
    assert not node.set_parameters([Parameter('baseline_min_neutral', value=1.5)])[0].successful
    assert node.set_parameters([Parameter('neutral_baseline', value='off')])[0].successful
    assert node._baselines is None and node._feature_type == 'dlib68:coords+geometric'


def test_invalid_start_up_value_exits_with_a_clear_message(start_node):
    process = start_node('feature_buffer_node', '--ros-args', '-p', 'feature_type:=dlib68:wobble')
    assert process.process.wait(timeout=20) == EXIT_BAD_CONFIGURATION
    assert "parameter 'feature_type'" in process.output()
    assert 'wobble' in process.output()


@pytest.mark.parametrize('node_name, name, value, expected, given', [
    ('camera_node', 'fps', 30, 'a double', 'an integer (30); write 30.0'),
    ('landmark_node', 'max_faces', 1.5, 'an integer', 'a double (1.5)'),
    ('landmark_node', 'debug_image', 'yes', 'a bool', "a string ('yes')"),
    ('feature_buffer_node', 'window_length', 'eight', 'an integer', "a string ('eight')"),
    ('emotion_classifier_node', 'model_path', 3, 'a string', 'an integer (3)'),
])
def test_a_wrong_type_in_the_yaml_exits_2_with_one_fatal_line(start_node, tmp_path, node_name,
                                                              name, value, expected, given):
    params = tmp_path / 'params.yaml'
    params.write_text(yaml.safe_dump({node_name: {'ros__parameters': {name: value}}}))
    extra = ('-p', 'source:=none') if node_name == 'camera_node' else ()
    process = start_node(node_name, '--ros-args', '--params-file', str(params), *extra)
    assert process.process.wait(timeout=30) == EXIT_BAD_CONFIGURATION, process.output()
    output = process.output()
    fatal = [line for line in output.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1, output
    assert (f"{node_name}: parameter '{name}' expects {expected}, got {given}"
            in fatal[0]), fatal[0]
    assert 'Traceback' not in output


def test_readme_documents_every_parameter():
    from fer_ros import camera_node, emotion_classifier_node, feature_buffer_node, landmark_node
    readme = open(os.path.join(REPO, 'README.md')).read()
    for module in (camera_node, landmark_node, feature_buffer_node, emotion_classifier_node):
        for spec in module.PARAMETERS:
            assert f'`{spec.name}`' in readme, f'{spec.name} is not documented in README.md'
