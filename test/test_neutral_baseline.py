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

"""The neutral baseline over real DDS: feature buffer states, the classifier's answers."""

from diagnostic_msgs.msg import DiagnosticArray
from fer_models.core.features import FeatureExtractor
from fer_models.core.resources import shipped_model
from fer_msgs.msg import Emotion, FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import faces_to_msg, msg_to_window, window_to_msg
from fer_ros.diagnostics import status_values
from fer_ros.emotion_monitor import emotion_line
from fer_ros.runtime import EXIT_BAD_CONFIGURATION
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import FEATURE_TYPE, statuses_of, WINDOW_LENGTH
from std_msgs.msg import Header

RELATIVE_FEATURE_TYPE = f'{FEATURE_TYPE}/neutral'
RELATIVE_MODEL = shipped_model('landmark_neutral.onnx')


def landmark_frame(face, image, seconds, with_face=True):
    """Return the FaceLandmarksArray of one frame at ``seconds`` (face id 1 or no face)."""
    header = Header(frame_id='camera')
    header.stamp.sec, header.stamp.nanosec = 1000 + int(seconds), int(seconds % 1 * 1e9)
    faces = [face] if with_face else []
    return faces_to_msg(faces, [1] * len(faces), 'mediapipe_face_mesh_468', header,
                        image.shape[1], image.shape[0])


def play_frames(ros, publisher, frames, windows, node, expected):
    """
    Publish the frames of one still face until ``expected`` windows came back in all.

    The first WINDOW_LENGTH frames go out at once (the node's input queue
    holds 10); after that each frame waits for the window of the one
    before, so a node that a busy machine holds up loses no frame.
    """
    before = len(windows)
    for index, frame in enumerate(frames):
        answered = before + index - WINDOW_LENGTH + 1
        assert ros.spin_until(lambda: len(windows) >= answered, timeout=10.0,
                              processes=[node]), f'{len(windows)} windows of {answered}'
        publisher.publish(frame)
    assert ros.spin_until(lambda: len(windows) >= expected, timeout=10.0, processes=[node]), \
        f'{len(windows)} windows of {expected}'


@pytest.fixture
def buffer(ros, start_node):
    """Return a function starting feature_buffer_node with parameters; its publisher and log."""
    def start(*parameters):
        windows = ros.record(FeatureWindow, 'fer/features')
        arguments = ['--ros-args'] + [item for p in parameters for item in ('-p', p)]
        node = start_node('feature_buffer_node', *arguments)
        publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
        ros.wait_for_subscribers(publisher, processes=[node])
        ros.wait_for_connections('feature_buffer_node', inputs=1, outputs=1, processes=[node])
        ros.wait_for_recorders(processes=[node])
        return node, publisher, windows
    return start


def test_auto_mode_collects_then_publishes_relative_windows(ros, buffer, astronaut):
    image, face = astronaut
    node, publisher, windows = buffer('neutral_baseline:=auto', 'baseline_frames:=10',
                                      f'window_length:={WINDOW_LENGTH}')
    # A face held still: every frame after the first counts for the baseline.
    play_frames(ros, publisher, [landmark_frame(face, image, 0.05 * i) for i in range(14)],
                windows, node, expected=14 - WINDOW_LENGTH + 1)
    states = [(w.neutral_baseline, w.neutral_baseline_frames) for w in windows]
    assert states == [('collecting', n) for n in range(WINDOW_LENGTH - 1, 10)] + [
        ('ready', 10)] * (14 - 10), states
    assert {w.feature_type for w in windows} == {RELATIVE_FEATURE_TYPE}
    assert all(w.neutral_baseline_frames_needed == 10 for w in windows)
    # The resting face minus its own baseline: nothing left.
    np.testing.assert_allclose(msg_to_window(windows[-1]), 0.0, atol=1e-6)
    # The track expires (face_timeout_s 1 s of frame time): it starts collecting again.
    publisher.publish(landmark_frame(face, image, 3.0, with_face=False))
    play_frames(ros, publisher, [landmark_frame(face, image, 3.1 + 0.05 * i)
                                 for i in range(WINDOW_LENGTH)], windows, node,
                expected=14 - WINDOW_LENGTH + 2)
    assert (windows[-1].neutral_baseline, windows[-1].neutral_baseline_frames) == (
        'collecting', WINDOW_LENGTH - 1)


def test_off_mode_publishes_absolute_windows(ros, buffer, astronaut):
    image, face = astronaut
    node, publisher, windows = buffer()
    play_frames(ros, publisher, [landmark_frame(face, image, 0.05 * i)
                                 for i in range(WINDOW_LENGTH)], windows, node, expected=1)
    window = windows[0]
    assert (window.feature_type, window.neutral_baseline) == (FEATURE_TYPE, 'off')
    assert (window.neutral_baseline_frames, window.neutral_baseline_frames_needed) == (0, 0)
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    np.testing.assert_allclose(msg_to_window(window),
                               extractor.window(np.tile(frame, (WINDOW_LENGTH, 1))), atol=1e-6)


def test_feature_type_with_a_reference_is_refused(start_node):
    process = start_node('feature_buffer_node', '--ros-args', '-p',
                         f'feature_type:={RELATIVE_FEATURE_TYPE}')
    assert process.process.wait(timeout=20) == EXIT_BAD_CONFIGURATION
    assert "parameter 'feature_type'" in process.output()
    assert 'neutral_baseline: auto adds /neutral' in process.output()


def test_classifier_says_unknown_while_collecting_and_refuses_absolute_windows(
        ros, start_node, astronaut):
    image, face = astronaut
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'neutral_baseline:=auto',
                      '-p', f'model_path:={RELATIVE_MODEL}', '-p', 'fusion:=landmark')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    collecting = window_to_msg(np.zeros((WINDOW_LENGTH, frame.size), np.float32), 1,
                               RELATIVE_FEATURE_TYPE, Header())
    collecting.neutral_baseline = FeatureWindow.NEUTRAL_BASELINE_COLLECTING
    collecting.neutral_baseline_frames, collecting.neutral_baseline_frames_needed = 12, 20
    assert ros.spin_until(lambda: publisher.publish(collecting) or emotions, timeout=15.0,
                          processes=[node])
    answer = emotions[0]
    assert (answer.label, answer.reason, answer.neutral_baseline) == (
        Emotion.UNKNOWN, 'collecting neutral baseline 12/20 frames', 'collecting')
    assert len(answer.probabilities) == 0 and answer.confidence == 0.0
    line = emotion_line(answer, 5.0)
    assert 'roll' in line and 'baseline collecting' in line and '12/20 frames' in line
    # An absolute window does not fit the relative model: refused, named in the log.
    absolute = window_to_msg(extractor.window(np.tile(frame, (WINDOW_LENGTH, 1))), 2,
                             FEATURE_TYPE, Header())
    refusal = f"feature_type '{FEATURE_TYPE}' (model wants '{RELATIVE_FEATURE_TYPE}')"
    assert ros.spin_until(lambda: publisher.publish(absolute) or refusal in node.output(),
                          timeout=10.0, processes=[node])
    assert "neutral_baseline 'off', this node has 'auto': set it once for both" in \
        node.output(), node.output()[-2000:]
    # Ready: the model answers; a face exactly at its resting features is neutral.
    at_rest = window_to_msg(np.zeros((WINDOW_LENGTH, frame.size), np.float32), 3,
                            RELATIVE_FEATURE_TYPE, Header())
    at_rest.neutral_baseline = FeatureWindow.NEUTRAL_BASELINE_READY
    assert ros.spin_until(lambda: publisher.publish(at_rest) or any(
        e.face_id == 3 for e in emotions), timeout=10.0, processes=[node])
    answered = next(e for e in emotions if e.face_id == 3)
    assert (answered.label, answered.reason, answered.neutral_baseline) == (
        Emotion.NEUTRAL, '', 'ready')
    assert len(answered.probabilities) == 7
    assert not any(e.face_id == 2 for e in emotions)


@pytest.mark.parametrize('parameters, fix', [
    (['model_path:=landmark_neutral.onnx'], "set neutral_baseline to 'auto'"),
    (['neutral_baseline:=auto', 'model_path:=landmark_default.onnx'],
     "set neutral_baseline to 'off'"),
], ids=['relative-model-with-off', 'absolute-model-with-auto'])
def test_classifier_refuses_a_model_for_the_other_baseline_mode_at_start(
        start_node, parameters, fix):
    arguments = [item for p in parameters for item in ('-p', p)]
    process = start_node('emotion_classifier_node', '--ros-args', *arguments)
    assert process.process.wait(timeout=20) == EXIT_BAD_CONFIGURATION
    fatal = [line for line in process.output().splitlines() if 'FATAL' in line]
    assert len(fatal) == 1, process.output()
    assert "emotion_classifier_node: parameter 'model_path'" in fatal[0], fatal
    assert fix in fatal[0] and 'neutral_baseline' in fatal[0], fatal


def set_parameters(ros, node_name, **values):
    """Set parameters of a running node in one call, through its service; return the result."""
    client = AsyncParameterClient(ros.node, node_name)
    assert client.wait_for_services(timeout_sec=15.0)
    future = client.set_parameters_atomically(
        [Parameter(name, value=value) for name, value in values.items()])
    assert ros.spin_until(future.done, timeout=30.0), f'{node_name} did not answer'
    return future.result().result


def test_classifier_refuses_a_live_mismatched_pair_and_follows_neutral_baseline(
        ros, start_node):
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node = start_node('emotion_classifier_node')
    name = 'emotion_classifier_node'

    def model_loaded(model_name):
        return ros.spin_until(lambda: any(
            status_values(s).get('model_name') == model_name
            for s in statuses_of(diagnostics, name)[-1:]), timeout=15.0, processes=[node])

    assert model_loaded('landmark_default'), node.output()[-2000:]
    refused = set_parameters(ros, name, model_path='landmark_neutral.onnx')
    assert not refused.successful
    assert "parameter 'model_path'" in refused.reason, refused.reason
    assert "set neutral_baseline to 'auto'" in refused.reason, refused.reason
    assert "keeping model 'landmark_default'" in refused.reason, refused.reason
    assert ros.parameters(name, ['model_path'])['model_path'] == ''
    # neutral_baseline alone is enough: an empty model_path follows it.
    assert set_parameters(ros, name, neutral_baseline='auto').successful
    assert model_loaded('landmark_neutral'), node.output()[-2000:]
    refused = set_parameters(ros, name, model_path='landmark_default.onnx')
    assert not refused.successful and "set neutral_baseline to 'off'" in refused.reason
    assert ros.parameters(name, ['model_path', 'neutral_baseline']) == {
        'model_path': '', 'neutral_baseline': 'auto'}
    # Both at once is a consistent pair.
    assert set_parameters(ros, name, neutral_baseline='off',
                          model_path='landmark_baseline.onnx').successful
    assert model_loaded('landmark_baseline'), node.output()[-2000:]
