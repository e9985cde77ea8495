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

"""The one place where fer_msgs/sensor_msgs messages and numpy arrays meet."""

import array
from dataclasses import dataclass
import math

from fer_models.core.baseline import OFF, STATES
from fer_msgs.msg import Emotion, FaceLandmarks, FaceLandmarksArray, FeatureWindow
import numpy as np
from sensor_msgs.msg import Image

try:  # cv_bridge is part of a normal ROS install, but not installable from PyPI.
    from cv_bridge import CvBridge
    _BRIDGE = CvBridge()
except ImportError:
    _BRIDGE = None

# The frame_id of camera images unless the camera says otherwise: its optical
# frame (REP 103), which head poses and REP-155 face frames are expressed in.
CAMERA_FRAME_ID = 'camera_optical_frame'
# Encodings the landmark node accepts, with their channel count.
SUPPORTED_ENCODINGS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}


class ConversionError(ValueError):
    """Raised for a message that cannot be turned into a valid array."""


@dataclass(frozen=True)
class Appearance:
    """The appearance path's output for one face, as carried by the messages."""

    model_name: str
    labels: tuple
    probabilities: np.ndarray


def float32_sequence(values):
    """
    Return values as the array.array('f') that a float32[] message field stores.

    The generated setters copy a numpy array into array.array element by
    element (about 0.25 ms for 468 points); from bytes it is one memcpy.
    """
    return array.array('f', np.ascontiguousarray(values, dtype=np.float32).tobytes())


def stamp_to_seconds(stamp):
    """Return a builtin_interfaces/Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def numpy_to_image(array, encoding, header=None):
    """Return a sensor_msgs/Image holding an HxWxC (or HxW) uint8 array."""
    if _BRIDGE is not None:
        array = np.ascontiguousarray(array)
        check_encodable(array, encoding)
        msg = _BRIDGE.cv2_to_imgmsg(array, encoding=encoding)
    else:
        msg = numpy_into_image(Image(), array, encoding)
    if header is not None:
        msg.header = header
    return msg


def numpy_into_image(msg, pixels, encoding):
    """
    Write HxWxC (or HxW) uint8 ``pixels`` into the Image ``msg``; return ``msg``.

    The message's data buffer is kept when its size fits: a publisher
    serialises a message as it publishes, so one message can carry every
    frame of a stream without a new megabyte buffer (and its page faults)
    per frame.
    """
    check_encodable(pixels, encoding)
    if len(msg.data) == pixels.size:
        np.copyto(np.frombuffer(msg.data, np.uint8).reshape(pixels.shape), pixels)
    else:
        data = array.array('B')
        data.frombytes(np.ascontiguousarray(pixels))
        msg.data = data
    msg.height, msg.width = pixels.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = pixels.size // pixels.shape[0]
    return msg


def check_encodable(array, encoding):
    """Raise ConversionError unless ``array`` can be sent with ``encoding``."""
    if encoding not in SUPPORTED_ENCODINGS or array.dtype != np.uint8:
        raise ConversionError(f'cannot encode {array.dtype} array as {encoding}')


def image_to_rgb(msg):
    """
    Return an HxWx3 uint8 RGB array of a sensor_msgs/Image.

    Raises ConversionError, with a message fit for a log line, for an
    unsupported encoding, an empty image or a data size that does not match
    height, width and step.
    """
    channels = SUPPORTED_ENCODINGS.get(msg.encoding)
    if channels is None:
        raise ConversionError(
            f"unsupported image encoding '{msg.encoding}'; "
            f"supported: {', '.join(SUPPORTED_ENCODINGS)}")
    if msg.height == 0 or msg.width == 0:
        raise ConversionError(f'empty image ({msg.width}x{msg.height})')
    row_bytes = msg.width * channels
    if msg.step < row_bytes:
        raise ConversionError(f'step {msg.step} is smaller than width*channels {row_bytes}')
    if len(msg.data) < msg.step * msg.height:
        raise ConversionError(
            f'image data has {len(msg.data)} bytes, expected {msg.step * msg.height} '
            f'({msg.height} rows of {msg.step})')
    flat = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height)
    pixels = flat.reshape(msg.height, msg.step)[:, :row_bytes].reshape(
        msg.height, msg.width, channels)
    if msg.encoding == 'rgb8':
        return pixels
    if msg.encoding == 'mono8':
        return np.repeat(pixels, 3, axis=2)
    if msg.encoding == 'rgba8':
        return pixels[:, :, :3]
    # bgr8 and bgra8: reverse the colour channels.
    return pixels[:, :, 2::-1]


NO_HEAD_POSE = (math.nan, math.nan, math.nan)


def faces_to_msg(faces, face_ids, landmark_model, header, image_width, image_height,
                 appearances=None, head_poses=None):
    """
    Return the fer_msgs/FaceLandmarksArray of one frame's DetectedFaces.

    ``appearances``: one Appearance per face, when an appearance model ran;
    ``head_poses``: one (yaw, pitch, roll) in degrees per face.
    """
    msg = FaceLandmarksArray()
    msg.header = header
    msg.faces = [face_to_msg(face, face_id, landmark_model, header, image_width, image_height)
                 for face, face_id in zip(faces, face_ids)]
    for face_msg, appearance in zip(msg.faces, appearances or ()):
        set_appearance(face_msg, appearance)
    for face_msg, pose in zip(msg.faces, head_poses or ()):
        set_head_pose(face_msg, pose)
    return msg


def set_head_pose(msg, pose):
    """Fill the head pose fields of a FaceLandmarks, FeatureWindow or Emotion."""
    msg.head_yaw_deg, msg.head_pitch_deg, msg.head_roll_deg = (float(v) for v in pose)


def msg_to_head_pose(msg):
    """Return (yaw, pitch, roll) in degrees of a message (NaN when unknown)."""
    return msg.head_yaw_deg, msg.head_pitch_deg, msg.head_roll_deg


def set_appearance(msg, appearance):
    """Fill the appearance fields of a FaceLandmarks or FeatureWindow (None: leave empty)."""
    if appearance is None:
        return
    msg.appearance_model = appearance.model_name
    msg.appearance_labels = list(appearance.labels)
    msg.appearance_probabilities = float32_sequence(appearance.probabilities)


def msg_to_appearance(msg):
    """Return the Appearance of a FaceLandmarks or FeatureWindow, or None when it has none."""
    if len(msg.appearance_probabilities) == 0:
        return None
    return Appearance(msg.appearance_model, tuple(msg.appearance_labels),
                      np.asarray(msg.appearance_probabilities, dtype=np.float32))


def face_to_msg(face, face_id, landmark_model, header, image_width, image_height):
    """Return a fer_msgs/FaceLandmarks of a fer_models.core.landmarks.DetectedFace."""
    msg = FaceLandmarks()
    set_head_pose(msg, NO_HEAD_POSE)
    msg.header = header
    msg.face_id = int(face_id)
    msg.points = float32_sequence(face.points)
    msg.num_points = int(face.points.shape[0])
    msg.landmark_model = landmark_model
    msg.detection_confidence = float(face.confidence)
    msg.bbox_x, msg.bbox_y, msg.bbox_width, msg.bbox_height = (float(v) for v in face.bbox)
    msg.image_width = int(image_width)
    msg.image_height = int(image_height)
    return msg


def landmarks_to_points(msg):
    """
    Return the (num_points, 3) float32 points of a fer_msgs/FaceLandmarks.

    Raises ConversionError when the point count, values or image size are
    inconsistent.
    """
    points = np.asarray(msg.points, dtype=np.float32)
    if msg.num_points == 0 or points.size != 3 * msg.num_points:
        raise ConversionError(
            f'face {msg.face_id}: {points.size} values for num_points={msg.num_points} '
            '(expected 3 per point)')
    if msg.image_width == 0 or msg.image_height == 0:
        raise ConversionError(f'face {msg.face_id}: image size is zero')
    if not np.all(np.isfinite(points)):
        raise ConversionError(f'face {msg.face_id}: landmarks contain NaN or infinity')
    return points.reshape(msg.num_points, 3)


def window_to_msg(window, face_id, feature_type, header, appearance=None,
                  head_pose=NO_HEAD_POSE, baseline=None):
    """
    Return a fer_msgs/FeatureWindow of a (T, D) array, the face's Appearance and pose.

    ``baseline``: the face's fer_models.core.baseline.NeutralBaseline, or
    None when the neutral baseline is off.
    """
    msg = FeatureWindow()
    set_head_pose(msg, head_pose)
    msg.neutral_baseline = OFF if baseline is None else baseline.state
    if baseline is not None:
        msg.neutral_baseline_frames = baseline.collected
        msg.neutral_baseline_frames_needed = baseline.frames_needed
    msg.header = header
    msg.face_id = int(face_id)
    msg.feature_type = feature_type
    msg.window_length, msg.feature_dim = (int(n) for n in window.shape)
    msg.data = float32_sequence(window)
    set_appearance(msg, appearance)
    return msg


def msg_to_neutral_baseline(msg):
    """
    Return (state, frames collected, frames needed) of a FeatureWindow's neutral baseline.

    An empty state (a publisher that predates the field) means off; another
    unknown state raises ConversionError.
    """
    state = msg.neutral_baseline or OFF
    if state not in STATES:
        raise ConversionError(f'window of face {msg.face_id}: unknown neutral_baseline '
                              f"'{state}' (known: {', '.join(STATES)})")
    return state, msg.neutral_baseline_frames, msg.neutral_baseline_frames_needed


def msg_to_window(msg):
    """
    Return the (window_length, feature_dim) float32 array of a FeatureWindow.

    Raises ConversionError when the data size or values are inconsistent.
    """
    data = np.asarray(msg.data, dtype=np.float32)
    expected = msg.window_length * msg.feature_dim
    if expected == 0 or data.size != expected:
        raise ConversionError(
            f'window of face {msg.face_id}: {data.size} values, expected '
            f'window_length*feature_dim = {msg.window_length}*{msg.feature_dim}')
    if not np.all(np.isfinite(data)):
        raise ConversionError(f'window of face {msg.face_id}: NaN or infinite features')
    return data.reshape(msg.window_length, msg.feature_dim)


def emotion_to_msg(header, face_id, label, confidence, labels, probabilities, model_name,
                   valence_arousal=None, received_s=None, head_pose=NO_HEAD_POSE, reason='',
                   neutral_baseline=OFF):
    """
    Return a fer_msgs/Emotion stamped with its source frame's header.

    ``valence_arousal``: a (valence, arousal) pair, or None when the model has
    none (both NaN). ``received_s``: now, in seconds of the frame stamp's
    clock, to fill ``latency_ms``; NaN when not given. ``reason``: why the
    label is unknown. ``neutral_baseline``: the window's baseline state.
    """
    msg = Emotion()
    set_head_pose(msg, head_pose)
    msg.reason = reason
    msg.neutral_baseline = neutral_baseline
    msg.header = header
    msg.face_id = int(face_id)
    msg.label = label
    msg.confidence = float(confidence)
    msg.labels = list(labels)
    msg.probabilities = float32_sequence(probabilities)
    msg.valence, msg.arousal = (math.nan, math.nan) if valence_arousal is None else (
        float(v) for v in valence_arousal)
    msg.model_name = model_name
    msg.latency_ms = (math.nan if received_s is None
                      else 1e3 * (received_s - stamp_to_seconds(header.stamp)))
    return msg
