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

"""msg <-> numpy conversions on real messages built by colcon."""

from fer_models.core.baseline import NeutralBaseline
from fer_models.core.landmarks import DetectedFace
from fer_msgs.msg import FeatureWindow
from fer_ros.conversions import (
    Appearance, ConversionError, emotion_to_msg, face_to_msg, faces_to_msg, image_to_rgb,
    landmarks_to_points, msg_to_appearance, msg_to_neutral_baseline, msg_to_window,
    numpy_into_image, numpy_to_image, window_to_msg)
import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header


def _pattern(height=4, width=5):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8'])
def test_colour_round_trip_gives_rgb(encoding):
    rgb = _pattern()
    pixels = rgb if encoding == 'rgb8' else rgb[:, :, ::-1]
    msg = numpy_to_image(pixels, encoding)
    assert (msg.height, msg.width, msg.step) == (4, 5, 15)
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_mono_and_alpha_encodings():
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    out = image_to_rgb(numpy_to_image(grey, 'mono8'))
    assert out.shape == (4, 5, 3) and np.all(out[:, :, 0] == grey)
    rgba = np.dstack([_pattern(), np.full((4, 5), 7, np.uint8)])
    np.testing.assert_array_equal(image_to_rgb(numpy_to_image(rgba, 'rgba8')), rgba[:, :, :3])
    np.testing.assert_array_equal(image_to_rgb(numpy_to_image(rgba, 'bgra8')),
                                  rgba[:, :, 2::-1])


def test_one_message_carries_a_stream_in_one_buffer():
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (100, 120, 3), np.uint8)
    msg = Image()
    first = numpy_into_image(msg, canvas[:48, :64], 'rgb8')
    buffer = msg.data
    for y, x in ((3, 5), (20, 40)):
        # Frames cut out of a larger picture (not contiguous), as the sample camera does.
        assert numpy_into_image(msg, canvas[y:y + 48, x:x + 64], 'rgb8') is first
        assert msg.data is buffer
        np.testing.assert_array_equal(image_to_rgb(msg), canvas[y:y + 48, x:x + 64])
    numpy_into_image(msg, canvas[:10, :10, 0], 'mono8')  # another size: a new buffer
    assert msg.data is not buffer and (msg.height, msg.width, msg.step) == (10, 10, 10)
    np.testing.assert_array_equal(image_to_rgb(msg)[:, :, 0], canvas[:10, :10, 0])
    with pytest.raises(ConversionError):
        numpy_into_image(msg, canvas.astype(np.float32), 'rgb8')


def test_row_padding_is_honoured():
    rgb = _pattern()
    padded = np.zeros((4, 16), np.uint8)
    padded[:, :15] = rgb.reshape(4, 15)
    msg = Image(height=4, width=5, encoding='rgb8', step=16, data=padded.tobytes())
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


@pytest.mark.parametrize('msg, reason', [
    (Image(height=4, width=5, encoding='yuv422', step=10, data=bytes(40)), 'unsupported'),
    (Image(height=2, width=2, encoding='16UC1', step=4, data=bytes(8)), 'unsupported'),
    (Image(height=0, width=0, encoding='rgb8', step=0, data=b''), 'empty'),
    (Image(height=4, width=5, encoding='rgb8', step=15, data=bytes(10)), 'bytes'),
    (Image(height=4, width=5, encoding='rgb8', step=3, data=bytes(60)), 'step'),
])
def test_bad_images_are_rejected_with_a_reason(msg, reason):
    with pytest.raises(ConversionError, match=reason):
        image_to_rgb(msg)


def test_face_message_round_trip():
    points = np.random.default_rng(1).random((468, 3)).astype(np.float32)
    header = Header(frame_id='camera')
    msg = face_to_msg(DetectedFace(points, (1.0, 2.0, 30.0, 40.0)), 7, 'mesh', header, 640, 480)
    assert (msg.face_id, msg.num_points, msg.image_width, msg.image_height) == (7, 468, 640, 480)
    assert (msg.bbox_x, msg.bbox_width) == (1.0, 30.0)
    assert np.isnan(msg.detection_confidence)
    np.testing.assert_array_equal(landmarks_to_points(msg), points)


def test_inconsistent_landmarks_are_rejected():
    points = np.zeros((468, 3), np.float32)
    msg = face_to_msg(DetectedFace(points, (0, 0, 1, 1)), 1, 'mesh', Header(), 64, 64)
    msg.num_points = 467
    with pytest.raises(ConversionError, match='num_points'):
        landmarks_to_points(msg)
    msg.num_points = 468
    msg.points[5] = np.nan
    with pytest.raises(ConversionError, match='NaN'):
        landmarks_to_points(msg)


def test_window_round_trip_and_rejections():
    window = np.arange(24, dtype=np.float32).reshape(4, 6)
    msg = window_to_msg(window, 3, 'dlib68:coords', Header())
    assert (msg.window_length, msg.feature_dim, msg.face_id) == (4, 6, 3)
    np.testing.assert_array_equal(msg_to_window(msg), window)
    with pytest.raises(ConversionError, match='values'):
        msg_to_window(FeatureWindow(window_length=4, feature_dim=7, data=window.ravel()))
    msg.data[0] = np.inf
    with pytest.raises(ConversionError, match='infinite'):
        msg_to_window(msg)


def test_window_carries_the_neutral_baseline_state():
    window = np.zeros((2, 3), np.float32)
    assert msg_to_neutral_baseline(window_to_msg(window, 1, 'x', Header())) == ('off', 0, 0)
    assert msg_to_neutral_baseline(FeatureWindow()) == ('off', 0, 0)  # an older publisher
    baseline = NeutralBaseline(frames_needed=3, max_motion=0.1)
    for _ in range(3):
        baseline.update(np.ones(3))
    msg = window_to_msg(window, 1, 'x', Header(), baseline=baseline)
    assert msg_to_neutral_baseline(msg) == (FeatureWindow.NEUTRAL_BASELINE_COLLECTING, 2, 3)
    baseline.update(np.ones(3))
    msg = window_to_msg(window, 1, 'x', Header(), baseline=baseline)
    assert msg_to_neutral_baseline(msg) == (FeatureWindow.NEUTRAL_BASELINE_READY, 3, 3)
    msg.neutral_baseline = 'almost'
    with pytest.raises(ConversionError, match="unknown neutral_baseline 'almost'"):
        msg_to_neutral_baseline(msg)


def test_frame_message_carries_every_face_and_its_appearance():
    rng = np.random.default_rng(2)
    faces = [DetectedFace(rng.random((478, 3)).astype(np.float32), (1.0, 2.0, 30.0, 40.0)),
             DetectedFace(rng.random((478, 3)).astype(np.float32), (50.0, 2.0, 30.0, 40.0))]
    appearances = [Appearance('ean', ('happy', 'sad'), np.array([0.9, 0.1])),
                   Appearance('ean', ('happy', 'sad'), np.array([0.2, 0.8]))]
    header = Header(frame_id='camera')
    msg = faces_to_msg(faces, [4, 9], 'mesh', header, 640, 480, appearances)
    assert msg.header.frame_id == 'camera'
    assert [f.face_id for f in msg.faces] == [4, 9]
    assert all(f.header.frame_id == 'camera' and f.num_points == 478 for f in msg.faces)
    read = msg_to_appearance(msg.faces[1])
    assert (read.model_name, read.labels) == ('ean', ('happy', 'sad'))
    np.testing.assert_allclose(read.probabilities, [0.2, 0.8])
    # Carried on into the window, read back the same way.
    window = window_to_msg(np.zeros((2, 3), np.float32), 9, 'x', header, read)
    np.testing.assert_allclose(msg_to_appearance(window).probabilities, [0.2, 0.8])
    without = faces_to_msg(faces, [4, 9], 'mesh', header, 640, 480)
    assert msg_to_appearance(without.faces[0]) is None
    assert faces_to_msg([], [], 'mesh', header, 640, 480).faces == []


def test_emotion_message_fields_and_latency():
    header = Header()
    header.stamp.sec, header.stamp.nanosec = 10, 500_000_000
    msg = emotion_to_msg(header, 3, 'happy', 0.875, ('happy', 'sad'), np.array([0.875, 0.125]),
                         'landmark_default', received_s=10.5125)
    assert (msg.face_id, msg.label, msg.model_name) == (3, 'happy', 'landmark_default')
    assert list(msg.labels) == ['happy', 'sad'] and list(msg.probabilities) == [0.875, 0.125]
    assert msg.confidence == pytest.approx(0.875)
    assert np.isnan(msg.valence) and np.isnan(msg.arousal)
    assert msg.latency_ms == pytest.approx(12.5, abs=1e-3)
    rated = emotion_to_msg(header, 3, 'unknown', 0.3, ('happy',), [1.0], 'm', (0.25, -0.5))
    assert (rated.valence, rated.arousal) == (0.25, -0.5)
    assert np.isnan(rated.latency_ms)
