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

"""Models and model outputs that must not end or poison emotion_classifier_node."""

import json
import math

from diagnostic_msgs.msg import DiagnosticArray
from fer_models.core.features import FeatureExtractor
from fer_models.core.onnx_model import default_model_path
from fer_models.core.resources import shipped_model
from fer_msgs.msg import Emotion, FeatureWindow
from fer_ros.conversions import Appearance, window_to_msg
from fer_ros.diagnostics import status_values
import numpy as np
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import FEATURE_TYPE, statuses_of, WINDOW_LENGTH
from std_msgs.msg import Header

EAN_LABELS = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')


def with_metadata(source, target, **changes):
    """Write a copy of the ONNX model ``source`` with some fer.* metadata changed."""
    import onnx

    model = onnx.load(source)
    for entry in model.metadata_props:
        if entry.key[len('fer.'):] in changes:
            entry.value = changes[entry.key[len('fer.'):]]
    onnx.save(model, str(target))
    return str(target)


def happy_window(astronaut):
    """Return the astronaut's (smiling) feature window."""
    image, face = astronaut
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    return extractor.window(np.tile(frame, (WINDOW_LENGTH, 1)))


def set_parameter(ros, node_name, name, value):
    """Set a parameter of a running node through its service; return the result."""
    client = AsyncParameterClient(ros.node, node_name)
    assert client.wait_for_services(timeout_sec=15.0)
    future = client.set_parameters([Parameter(name, value=value)])
    assert ros.spin_until(future.done, timeout=30.0), f'{node_name} did not answer'
    return future.result().results[0]


def rejected(diagnostics, node_name, counter):
    """Return a node's latest count of ``counter`` on /diagnostics."""
    statuses = statuses_of(diagnostics, node_name)
    return int(status_values(statuses[-1]).get(counter, 0)) if statuses else 0


def test_a_live_model_that_fails_to_load_or_to_check_is_refused_and_the_old_one_kept(
        ros, start_node, astronaut, tmp_path):
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    default = default_model_path()
    three_labels = with_metadata(default, tmp_path / 'three.onnx',
                                 labels=json.dumps(['neutral', 'happy', 'sad']))
    short_window = with_metadata(default, tmp_path / 'short.onnx', window_length='4')
    broken = {
        # 3 labels for 7 outputs: fusion raised ValueError and the node ended.
        three_labels: 'its graph gives 7 outputs for the 3 labels',
        # The graph wants 8 frames: onnxruntime ended the node on the first window.
        short_window: 'fer.window_length is 4 but its graph wants 8',
        str(tmp_path / 'missing.onnx'): 'model file not found',
    }
    for path, reason in broken.items():
        result = set_parameter(ros, 'emotion_classifier_node', 'model_path', path)
        assert not result.successful and reason in result.reason, result.reason
        assert "keeping model 'landmark_default'" in result.reason, result.reason
    message = window_to_msg(happy_window(astronaut), 1, FEATURE_TYPE, Header())
    assert ros.spin_until(lambda: publisher.publish(message) or emotions, timeout=15.0,
                          processes=[node]), node.output()[-3000:]
    assert emotions[-1].label == 'happy'
    assert emotions[-1].model_name == 'landmark_default'
    assert ros.parameters('emotion_classifier_node', ['model_path'])['model_path'] == ''
    # A good model is still taken live.
    result = set_parameter(ros, 'emotion_classifier_node', 'model_path',
                           shipped_model('landmark_baseline.onnx'))
    assert result.successful, result.reason
    emotions.clear()
    assert ros.spin_until(lambda: publisher.publish(message) or emotions, timeout=15.0,
                          processes=[node])
    assert emotions[-1].model_name == 'landmark_baseline'


def test_an_extreme_window_neither_poisons_the_face_nor_publishes_nan(ros, start_node,
                                                                      astronaut):
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'smoothing:=ema')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    window = happy_window(astronaut)
    good = window_to_msg(window, 1, FEATURE_TYPE, Header())
    assert ros.spin_until(lambda: publisher.publish(good) or emotions, timeout=15.0,
                          processes=[node])
    # Finite, so the window passes the checks; the model answers NaN.
    extreme = window_to_msg(np.full(window.shape, 3e38, np.float32), 1, FEATURE_TYPE, Header())
    publisher.publish(extreme)
    ros.spin_for(0.5)
    count = len(emotions)
    for _ in range(3):
        publisher.publish(good)
        ros.spin_for(0.1)
    assert ros.spin_until(lambda: len(emotions) >= count + 3, timeout=10.0, processes=[node])
    assert all(math.isfinite(e.confidence) and all(map(math.isfinite, e.probabilities))
               for e in emotions), [(e.label, e.confidence) for e in emotions]
    assert emotions[-1].label == 'happy'
    assert ros.spin_until(lambda: rejected(diagnostics, 'emotion_classifier_node',
                                           'rejected_model_output') == 1, timeout=5.0)
    assert 'model output refused, probabilities contain NaN' in node.output()


def test_appearance_probabilities_that_are_no_distribution_are_refused(ros, start_node,
                                                                       astronaut):
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'fusion:=late')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    window = happy_window(astronaut)
    lying = window_to_msg(window, 1, FEATURE_TYPE, Header(), Appearance(
        'ean_union', EAN_LABELS, np.array([5, -4, 0, 0, 0, 0, 0], np.float32)))
    assert ros.spin_until(lambda: publisher.publish(lying) or rejected(
        diagnostics, 'emotion_classifier_node', 'rejected_appearance') >= 1, timeout=15.0,
        processes=[node]), [(e.label, e.confidence) for e in emotions]
    assert not emotions, [(e.label, e.confidence) for e in emotions]
    assert r'probabilities outside [0, 1] (min -4, max 5)' in node.output()
