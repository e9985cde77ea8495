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

"""Bad input: every node logs a clear error, keeps running and still works."""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fer_models.core.features import FeatureExtractor
from fer_msgs.msg import Emotion, FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import face_to_msg, numpy_to_image, window_to_msg
from fer_ros.diagnostics import status_values
import numpy as np
import pytest
from ros_helpers import FEATURE_TYPE, statuses_of, WINDOW_LENGTH
from sensor_msgs.msg import Image
from std_msgs.msg import Header


def answering_landmark_node(ros, start_node, image):
    """Start landmark_node and feed it ``image`` until it finds the face in it."""
    landmarks = ros.record(FaceLandmarksArray, 'fer/landmarks')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node = start_node('landmark_node')
    publisher = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    ros.wait_for_subscribers(publisher, processes=[node])
    good = numpy_to_image(image, 'rgb8', Header(frame_id='camera'))
    # Publish until the node answers: best-effort frames sent before the
    # node's side has matched this publisher are lost.
    assert ros.spin_until(lambda: publisher.publish(good) or any(a.faces for a in landmarks),
                          timeout=20.0, processes=[node])
    return node, publisher, good, landmarks, diagnostics


def test_landmark_node_survives_bad_images(ros, start_node, astronaut):
    node, publisher, good, landmarks, diagnostics = answering_landmark_node(
        ros, start_node, astronaut[0])
    landmarks.clear()
    bad = [
        Image(height=4, width=4, encoding='yuv422', step=8, data=bytes(32)),
        Image(height=0, width=0, encoding='rgb8', step=0, data=b''),
        Image(height=480, width=640, encoding='rgb8', step=1920, data=bytes(100)),
        Image(height=2, width=2, encoding='32FC1', step=8, data=bytes(16)),
    ]
    for msg in bad * 5:
        publisher.publish(msg)
        ros.spin_for(0.02)
    assert ros.spin_until(lambda: publisher.publish(good) or any(a.faces for a in landmarks),
                          timeout=20.0, processes=[node])
    assert node.alive()
    assert ros.spin_until(lambda: any(s.level == DiagnosticStatus.WARN and 'rejected image'
                                      in s.message for s in statuses_of(diagnostics,
                                                                        'landmark_node')),
                          timeout=5.0)
    assert all(a.header.frame_id == 'camera' for a in landmarks), 'a bad image got through'
    log = node.output()
    assert "unsupported image encoding 'yuv422'" in log
    assert log.count("unsupported image encoding 'yuv422'") == 1, 'logged once, then counted'


def test_landmark_node_refuses_sizes_that_would_abort_mediapipe(ros, start_node, astronaut):
    node, publisher, good, landmarks, diagnostics = answering_landmark_node(
        ros, start_node, astronaut[0])
    # 1x171 was upscaled to 192x32832 and a side >= 32767 went in as it was:
    # OpenCV asserted inside MediaPipe and the process aborted (SIGABRT).
    deadly = [
        Image(height=1, width=171, encoding='mono8', step=171, data=bytes(171)),
        Image(height=1, width=40000, encoding='mono8', step=40000, data=bytes(40000)),
        Image(height=32767, width=1, encoding='mono8', step=1, data=bytes(32767)),
        Image(height=8, width=1000, encoding='rgb8', step=3000, data=bytes(24000)),
    ]
    for msg in deadly:
        publisher.publish(msg)
        ros.spin_for(1.1)  # one diagnostics period each: its message names the last
        assert node.alive(), f'{msg.width}x{msg.height} killed landmark_node:\n' + \
            node.output()[-2000:]

    def rejected():
        statuses = statuses_of(diagnostics, 'landmark_node')
        return int(status_values(statuses[-1]).get('rejected_image', 0)) if statuses else 0

    assert ros.spin_until(lambda: rejected() >= len(deadly), timeout=10.0, processes=[node]), \
        rejected()
    landmarks.clear()
    assert ros.spin_until(lambda: publisher.publish(good) or any(a.faces for a in landmarks),
                          timeout=20.0, processes=[node])
    assert 'rejected image: image of 171x1: aspect ratio 171:1 is beyond 8:1' in node.output()
    reported = ' '.join(s.message for s in statuses_of(diagnostics, 'landmark_node'))
    assert "image of 40000x1: a side reaches OpenCV's limit of 32767 px" in reported
    assert "image of 1x32767: a side reaches OpenCV's limit" in reported


def test_feature_buffer_survives_bad_landmarks(ros, start_node, astronaut):
    image, face = astronaut
    windows = ros.record(FeatureWindow, 'fer/features')
    node = start_node('feature_buffer_node', '--ros-args', '-p', 'window_length:=4')
    publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    ros.wait_for_subscribers(publisher, processes=[node])
    height, width = image.shape[:2]

    def array_of(points, num_points=None):
        msg = face_to_msg(face, 1, 'mediapipe_face_mesh_468', Header(), width, height)
        msg.points = np.asarray(points, np.float32).ravel()
        msg.num_points = len(msg.points) // 3 if num_points is None else num_points
        return FaceLandmarksArray(faces=[msg])

    nan_points = face.points.copy()
    nan_points[10] = np.nan
    bad = [array_of(face.points[:100]), array_of(face.points, num_points=400),
           array_of(nan_points), array_of(np.full((468, 3), 1e30)), array_of([])]
    for msg in bad * 200:
        publisher.publish(msg)
    good = array_of(face.points)
    for _ in range(4):
        publisher.publish(good)
    assert ros.spin_until(lambda: len(windows) >= 1, timeout=20.0, processes=[node]), \
        node.output()[-2000:]
    assert node.alive()
    expected = FeatureExtractor(FEATURE_TYPE)
    window = np.asarray(windows[0].data).reshape(4, -1)
    frame = expected.frame(face.points, width, height)
    np.testing.assert_allclose(window, np.tile(frame, (4, 1)), rtol=1e-5, atol=1e-5)
    assert 'rejected face 1' in node.output()


def test_classifier_survives_bad_windows(ros, start_node, astronaut):
    image, face = astronaut
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    window = extractor.window(np.tile(frame, (WINDOW_LENGTH, 1)))
    wrong_dim = window_to_msg(window[:, :-1], 1, FEATURE_TYPE, Header())
    wrong_length = window_to_msg(window[:WINDOW_LENGTH - 1], 1, FEATURE_TYPE, Header())
    wrong_type = window_to_msg(window, 1, 'no_such_layout:coords', Header())
    nan_window = window_to_msg(np.full_like(window, np.nan), 1, FEATURE_TYPE, Header())
    lying = window_to_msg(window, 1, FEATURE_TYPE, Header())
    lying.feature_dim += 1
    unknown_baseline = window_to_msg(window, 1, FEATURE_TYPE, Header())
    unknown_baseline.neutral_baseline = 'almost'
    # The first window the node takes is logged; later ones are counted.
    wrong_dim_error = f'feature_dim {extractor.dim - 1} (model wants {extractor.dim})'
    assert ros.spin_until(lambda: publisher.publish(wrong_dim) or wrong_dim_error in
                          node.output(), timeout=10.0, processes=[node])
    for msg in [wrong_dim, wrong_length, wrong_type, nan_window, lying, unknown_baseline] * 100:
        publisher.publish(msg)
    ros.spin_for(0.5)
    assert not emotions, 'bad windows must not produce emotions'
    publisher.publish(window_to_msg(window, 1, FEATURE_TYPE, Header(frame_id='camera')))
    assert ros.spin_until(lambda: emotions, timeout=10.0, processes=[node])
    assert emotions[0].label == 'happy'  # the astronaut smiles
    assert node.alive()
    assert node.output().count(wrong_dim_error) == 1, 'logged once, then counted'


@pytest.mark.parametrize('problem', ['missing', 'corrupt'])
def test_classifier_without_a_usable_model_names_the_file_and_keeps_running(
        ros, start_node, tmp_path, problem):
    path = str(tmp_path / 'model.onnx')
    if problem == 'corrupt':
        with open(path, 'wb') as corrupt:
            corrupt.write(b'not an onnx model' * 100)
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', f'model_path:={path}')
    assert ros.spin_until(lambda: statuses_of(diagnostics, 'emotion_classifier_node'),
                          timeout=15.0, processes=[node])
    status = statuses_of(diagnostics, 'emotion_classifier_node')[-1]
    assert status.level == DiagnosticStatus.ERROR and path in status.message
    expected = {'missing': f'model file not found: {path}',
                'corrupt': f'cannot load ONNX model {path}'}[problem]
    assert expected in node.output()
    ros.spin_for(1.0)
    assert node.alive()
