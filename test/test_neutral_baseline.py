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
from fer_models.core.baseline import load_resting_corrections, log_probabilities, RESTING_FILE
from fer_models.core.crops import CropClassifier
from fer_models.core.features import FeatureExtractor
from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL
from fer_models.core.onnx_model import EmotionModel
from fer_models.core.resources import shipped_model
from fer_msgs.msg import Emotion, FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import Appearance, faces_to_msg, msg_to_window, window_to_msg
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


def landmark_frame(face, image, seconds, with_face=True, appearance=None):
    """Return the FaceLandmarksArray of one frame at ``seconds`` (face id 1 or no face)."""
    header = Header(frame_id='camera')
    header.stamp.sec, header.stamp.nanosec = 1000 + int(seconds), int(seconds % 1 * 1e9)
    faces = [face] if with_face else []
    return faces_to_msg(faces, [1] * len(faces), 'mediapipe_face_mesh_468', header,
                        image.shape[1], image.shape[0],
                        appearances=[appearance] if appearance and with_face else None)


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
    states = [(w.neutral_baseline, w.neutral_baseline_frames, w.feature_type) for w in windows]
    # Collecting: absolute features, read as with the baseline off; ready: relative ones.
    assert states == [('collecting', n, FEATURE_TYPE) for n in range(WINDOW_LENGTH - 1, 10)] + [
        ('ready', 10, RELATIVE_FEATURE_TYPE)] * (14 - 10), states
    assert all(w.neutral_baseline_frames_needed == 10 for w in windows)
    # The resting face minus its own baseline: nothing left.
    np.testing.assert_allclose(msg_to_window(windows[-1]), 0.0, atol=1e-6)
    # No appearance path: the first low-motion frames are the resting frames, and the log says it.
    assert 'neutral_baseline auto without the appearance path' in node.output()
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


def test_classifier_reads_a_collecting_face_as_with_the_baseline_off(ros, start_node, astronaut):
    image, face = astronaut
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'neutral_baseline:=auto',
                      '-p', f'model_path:={RELATIVE_MODEL}', '-p', 'fusion:=landmark',
                      '-p', 'smoothing:=none')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    absolute = extractor.window(np.tile(frame, (WINDOW_LENGTH, 1)))
    collecting = window_to_msg(absolute, 1, FEATURE_TYPE, Header())
    collecting.neutral_baseline = FeatureWindow.NEUTRAL_BASELINE_COLLECTING
    collecting.neutral_baseline_frames, collecting.neutral_baseline_frames_needed = 12, 20
    assert ros.spin_until(lambda: publisher.publish(collecting) or emotions, timeout=15.0,
                          processes=[node])
    answer = emotions[0]
    # The absolute model answers, exactly as neutral_baseline off would.
    off_model = EmotionModel(shipped_model('landmark_default.onnx'))
    expected = off_model.predict(absolute)[0][0]
    assert (answer.model_name, answer.neutral_baseline, answer.reason) == (
        'landmark_default', 'collecting', '')
    np.testing.assert_allclose(answer.probabilities, expected, atol=1e-6)
    assert answer.label == off_model.labels[int(np.argmax(expected))]
    line = emotion_line(answer, 5.0)
    assert 'roll' in line and 'baseline collecting' in line
    # An absolute window marked ready does not fit the relative model: refused, named in the log.
    ready_absolute = window_to_msg(absolute, 2, FEATURE_TYPE, Header())
    ready_absolute.neutral_baseline = FeatureWindow.NEUTRAL_BASELINE_READY
    refusal = f"feature_type '{FEATURE_TYPE}' (model wants '{RELATIVE_FEATURE_TYPE}')"
    assert ros.spin_until(lambda: publisher.publish(ready_absolute) or refusal in node.output(),
                          timeout=10.0, processes=[node])
    assert "neutral_baseline 'off', this node has 'auto': set it once for both" in \
        node.output(), node.output()[-2000:]
    # Ready: the relative model answers; a face exactly at its resting features is neutral.
    at_rest = window_to_msg(np.zeros((WINDOW_LENGTH, frame.size), np.float32), 3,
                            RELATIVE_FEATURE_TYPE, Header())
    at_rest.neutral_baseline = FeatureWindow.NEUTRAL_BASELINE_READY
    assert ros.spin_until(lambda: publisher.publish(at_rest) or any(
        e.face_id == 3 for e in emotions), timeout=10.0, processes=[node])
    answered = next(e for e in emotions if e.face_id == 3)
    assert (answered.label, answered.reason, answered.neutral_baseline, answered.model_name) == (
        Emotion.NEUTRAL, '', 'ready', 'landmark_neutral')
    assert len(answered.probabilities) == 7
    assert not any(e.face_id == 2 for e in emotions)


SAD_AT_REST = np.array([0.3, 0.02, 0.55, 0.02, 0.05, 0.02, 0.04], np.float32)


def test_appearance_is_taken_relative_to_the_resting_face_once_ready(ros, buffer, astronaut):
    image, face = astronaut
    model = CropClassifier(shipped_model(DEFAULT_APPEARANCE_MODEL))
    correction = load_resting_corrections(shipped_model(RESTING_FILE))[model.model_name]
    appearance = Appearance(model.model_name, model.labels, SAD_AT_REST)
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node, publisher, windows = buffer('neutral_baseline:=auto', 'baseline_frames:=10',
                                      'baseline_min_neutral:=0.2',
                                      f'window_length:={WINDOW_LENGTH}')
    frames = [landmark_frame(face, image, 0.05 * i, appearance=appearance) for i in range(14)]
    play_frames(ros, publisher, frames, windows, node, expected=14 - WINDOW_LENGTH + 1)
    collecting = [w for w in windows if w.neutral_baseline == 'collecting']
    ready = [w for w in windows if w.neutral_baseline == 'ready']
    assert len(collecting) == 10 - WINDOW_LENGTH + 1 and len(ready) == 4
    # Not ready: the appearance output as it came, as with the baseline off.
    for window in collecting:
        np.testing.assert_array_equal(window.appearance_probabilities, SAD_AT_REST)
    # Ready: relative to this face's resting appearance (sad at rest): less sad, more neutral.
    expected = correction.correct(SAD_AT_REST, log_probabilities(SAD_AT_REST))
    for window in ready:
        np.testing.assert_allclose(window.appearance_probabilities, expected, atol=1e-6)
    sad, neutral = model.labels.index('sad'), model.labels.index('neutral')
    assert correction.strength > 0
    assert expected[sad] < SAD_AT_REST[sad] - 0.05 and expected[neutral] > SAD_AT_REST[neutral]
    assert ros.spin_until(lambda: any(
        status_values(s).get('resting_frames') == 'face 1: 10/10'
        for s in statuses_of(diagnostics, 'feature_buffer_node')), timeout=10.0,
        processes=[node]), node.output()[-2000:]


def test_a_still_is_read_exactly_as_with_the_baseline_off(ros, start_node, astronaut):
    """A face with no history (fewer frames than baseline_frames): auto answers as off."""
    image, face = astronaut
    model = CropClassifier(shipped_model(DEFAULT_APPEARANCE_MODEL))
    appearance = Appearance(model.model_name, model.labels, SAD_AT_REST)
    emotions = ros.record(Emotion, 'emotion')
    # baseline_frames 900: however many frames it takes, the face keeps no history.
    nodes = [start_node('feature_buffer_node', '--ros-args', '-p', 'neutral_baseline:=auto',
                        '-p', f'window_length:={WINDOW_LENGTH}', '-p', 'baseline_frames:=900'),
             start_node('emotion_classifier_node', '--ros-args', '-p', 'neutral_baseline:=auto',
                        '-p', 'smoothing:=none')]
    publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    ros.wait_for_subscribers(publisher, processes=nodes)
    ros.wait_for_connections('feature_buffer_node', inputs=1, outputs=1, processes=nodes)
    ros.wait_for_recorders(processes=nodes)
    answers = {}
    for index, mode in enumerate(('auto', 'off')):
        if mode == 'off':
            for name in ('feature_buffer_node', 'emotion_classifier_node'):
                assert set_parameters(ros, name, neutral_baseline='off').successful
        emotions.clear()
        start = 100.0 * index  # beyond face_timeout_s: a new track
        # Frames of the same still until three answers: a frame lost while
        # DDS matches a new publisher changes nothing but the count.
        for step in range(100):
            publisher.publish(landmark_frame(face, image, start + 0.05 * step,
                                             appearance=appearance))
            if ros.spin_until(lambda: len(emotions) >= 3, timeout=0.5, processes=nodes):
                break
        assert len(emotions) >= 3, node_output(nodes)
        answers[mode] = [(e.label, e.neutral_baseline, np.asarray(e.probabilities))
                         for e in emotions[:3]]
    assert [a[1] for a in answers['auto']] == ['collecting'] * 3
    assert [a[1] for a in answers['off']] == ['off'] * 3
    for auto, off in zip(answers['auto'], answers['off']):
        assert auto[0] == off[0]
        np.testing.assert_array_equal(auto[2], off[2])


def node_output(nodes):
    """Return the end of every node's output, for a failing assertion."""
    return '\n'.join(node.output()[-1500:] for node in nodes)


@pytest.mark.parametrize('parameters, fix', [
    (['model_path:=landmark_neutral.onnx'], "set neutral_baseline to 'auto'"),
    (['neutral_baseline:=auto', 'model_path:=landmark_default.onnx'],
     "set neutral_baseline to 'off'"),
    (['neutral_baseline:=auto', 'absolute_model_path:=landmark_neutral.onnx'],
     'name a model for neutral_baseline off'),
], ids=['relative-model-with-off', 'absolute-model-with-auto', 'relative-absolute-model'])
def test_classifier_refuses_a_model_for_the_other_baseline_mode_at_start(
        start_node, parameters, fix):
    arguments = [item for p in parameters for item in ('-p', p)]
    process = start_node('emotion_classifier_node', '--ros-args', *arguments)
    assert process.process.wait(timeout=20) == EXIT_BAD_CONFIGURATION
    fatal = [line for line in process.output().splitlines() if 'FATAL' in line]
    assert len(fatal) == 1, process.output()
    parameter = parameters[-1].split(':=')[0]
    assert f"emotion_classifier_node: parameter '{parameter}'" in fatal[0], fatal
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
