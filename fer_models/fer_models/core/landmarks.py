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

"""Face landmark detection with MediaPipe Face Mesh (runs offline, on CPU)."""

from dataclasses import dataclass
import importlib.util
import math
import os
import sys
import types

import numpy as np

# MediaPipe logs a warning per frame through glog unless told otherwise.
os.environ.setdefault('GLOG_minloglevel', '2')

LANDMARK_MODEL = 'mediapipe_face_mesh'
# OpenCV, inside MediaPipe too, asserts that both sides of an image it remaps
# are below SHRT_MAX; the assertion aborts the whole process.
OPENCV_MAX_SIDE = 32767
# Camera frames are at most about 4:1 (32:9 panoramas); beyond 8:1 a frame is
# not a camera image, and MediaPipe would squeeze it into a square input.
MAX_ASPECT_RATIO = 8.0
# Upscaling (min_input_size) never makes a side longer than this: the
# detector's input is 128-256 px, so more only costs CPU and memory.
MAX_UPSCALED_SIDE = 4096


# Clockwise rotations that make a rotated camera's frames upright.
ROTATIONS = (0, 90, 180, 270)


class FrameSizeError(ValueError):
    """Raised for an image whose size the detector must not be given."""


def check_frame_size(width, height):
    """
    Raise FrameSizeError, with a reason fit for a log line, for an unusable frame size.

    Refused: an empty side, a side that reaches OpenCV's limit
    (OPENCV_MAX_SIDE) and an aspect ratio beyond MAX_ASPECT_RATIO. O(1): it
    runs before the pixels are touched.
    """
    if width <= 0 or height <= 0:
        raise FrameSizeError(f'empty image ({width}x{height})')
    if max(width, height) >= OPENCV_MAX_SIDE:
        raise FrameSizeError(f"image of {width}x{height}: a side reaches OpenCV's limit "
                             f'of {OPENCV_MAX_SIDE} px')
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise FrameSizeError(f'image of {width}x{height}: aspect ratio {ratio:.0f}:1 is beyond '
                             f'{MAX_ASPECT_RATIO:g}:1, not a camera frame')


def rotate_clockwise(image, degrees):
    """
    Return ``image`` rotated clockwise by ``degrees`` (one of ROTATIONS).

    For a camera mounted rotated on a robot: Face Mesh finds and fits
    upright faces, and fits an upright mesh to an upside-down face with
    confidence, so the frame is turned upright before detection.
    """
    if degrees not in ROTATIONS:
        raise ValueError(f"rotation {degrees} is not one of {', '.join(map(str, ROTATIONS))}")
    if degrees == 0:
        return image
    import cv2
    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
            270: cv2.ROTATE_90_COUNTERCLOCKWISE}[degrees]
    return cv2.rotate(image, code)


def upscale_factor(width, height, min_input_size):
    """
    Return the factor (>= 1) a frame is enlarged by before detection.

    The shorter side is brought up to ``min_input_size`` (0: never), but no
    side beyond MAX_UPSCALED_SIDE.
    """
    shorter, longer = min(width, height), max(width, height)
    if not 0 < shorter < min_input_size:
        return 1.0
    return max(1.0, min(min_input_size / shorter, MAX_UPSCALED_SIDE / longer))


@dataclass
class DetectedFace:
    """
    One face found in an image.

    points: (N, 3) float32, x and y normalised to the image size, z relative
    depth. bbox: (x, y, width, height) in pixels of the input image.
    """

    points: np.ndarray
    bbox: tuple
    confidence: float = math.nan


# One NormalizedLandmark with exactly x, y and z set, as protobuf serialises it
# inside a NormalizedLandmarkList: field 1 (landmark), length 15, then each
# coordinate as tag (fields 1, 2, 3 as fixed32) + little-endian float32.
_PACKED_LANDMARK = np.dtype([('key', 'u1'), ('length', 'u1'), ('x_tag', 'u1'), ('x', '<f4'),
                             ('y_tag', 'u1'), ('y', '<f4'), ('z_tag', 'u1'), ('z', '<f4')])
_PACKED_HEADER = (0x0A, 15, 0x0D, 0x15, 0x1D)


def landmarks_to_array(landmark_list):
    """
    Return the (N, 3) float32 x, y, z of a MediaPipe NormalizedLandmarkList.

    Reading 468 landmarks attribute by attribute costs about 0.2-0.3 ms per
    face; the list's serialised bytes are read in one numpy view instead
    whenever every landmark has exactly x, y and z (the normal case), and
    attribute by attribute otherwise (e.g. a coordinate of exactly 0, which
    protobuf leaves out, or visibility fields).
    """
    raw = landmark_list.SerializeToString()
    count = len(landmark_list.landmark)
    if len(raw) == count * _PACKED_LANDMARK.itemsize:
        packed = np.frombuffer(raw, _PACKED_LANDMARK)
        header = (packed['key'], packed['length'], packed['x_tag'], packed['y_tag'],
                  packed['z_tag'])
        if all(np.all(field == value) for field, value in zip(header, _PACKED_HEADER)):
            return np.stack([packed['x'], packed['y'], packed['z']], axis=1)
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)


def bbox_of(points, image_width, image_height):
    """Return the pixel (x, y, w, h) box around normalised points, clipped."""
    xs = np.clip(points[:, 0], 0.0, 1.0) * image_width
    ys = np.clip(points[:, 1], 0.0, 1.0) * image_height
    x0, y0 = float(xs.min()), float(ys.min())
    return (x0, y0, float(xs.max()) - x0, float(ys.max()) - y0)


# mediapipe's package __init__ imports its drawing helpers, which import
# matplotlib at module level; nothing here draws with them.
_MEDIAPIPE_DRAWING = ('mediapipe.python.solutions.drawing_utils',
                      'mediapipe.python.solutions.drawing_styles')


def import_mediapipe():
    """
    Return the mediapipe module, also where matplotlib is not installed.

    The runtime-only install (requirements-runtime.txt) has no matplotlib:
    there mediapipe's two drawing modules are registered as empty modules
    before the import, so that Face Mesh loads without it. With matplotlib
    installed, mediapipe is imported unchanged.
    """
    if importlib.util.find_spec('matplotlib') is None:
        for name in _MEDIAPIPE_DRAWING:
            sys.modules.setdefault(name, types.ModuleType(name))
    import mediapipe
    return mediapipe


class FaceMeshDetector:
    """
    MediaPipe Face Mesh behind a small numpy interface.

    ``static_image_mode=False`` tracks faces between consecutive frames of a
    stream (fast); ``True`` runs the detector on every image (for datasets).
    Images whose shorter side is below ``min_input_size`` pixels are upscaled
    first, because the short-range face detector misses faces under ~80 px
    (``upscale_factor``). Images MediaPipe cannot take (``check_frame_size``)
    raise FrameSizeError instead of reaching it.
    """

    def __init__(self, max_faces=1, min_detection_confidence=0.5,
                 min_tracking_confidence=0.5, refine_landmarks=False,
                 static_image_mode=False, min_input_size=192):
        """Create the MediaPipe graph; see the class docstring."""
        mp = import_mediapipe()

        self.num_points = 478 if refine_landmarks else 468
        self.landmark_model = f'{LANDMARK_MODEL}_{self.num_points}'
        self.min_input_size = int(min_input_size)
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static_image_mode,
            max_num_faces=int(max_faces),
            refine_landmarks=refine_landmarks,
            min_detection_confidence=float(min_detection_confidence),
            min_tracking_confidence=float(min_tracking_confidence))

    def detect(self, rgb):
        """
        Return the DetectedFace list of an (H, W, 3) uint8 RGB image.

        Raises FrameSizeError for a size MediaPipe must not see (see
        ``check_frame_size``).
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f'expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}')
        height, width = rgb.shape[:2]
        check_frame_size(width, height)
        image = rgb
        scale = upscale_factor(width, height, self.min_input_size)
        if scale > 1.0:
            import cv2
            image = cv2.resize(rgb, (round(width * scale), round(height * scale)),
                               interpolation=cv2.INTER_CUBIC)
        result = self._mesh.process(np.ascontiguousarray(image))
        faces = []
        for landmarks in result.multi_face_landmarks or ():
            points = landmarks_to_array(landmarks)
            faces.append(DetectedFace(points, bbox_of(points, width, height)))
        return faces

    def detect_still(self, rgb, frames=3):
        """
        Return the faces of a still image as the node sees it shown for a while.

        In tracking mode, landmarks after the first frame come from a region
        of interest refined by the previous frame, and differ noticeably from
        a single-shot detection. Training and offline evaluation use this so
        that they see the same landmarks as the live pipeline.
        """
        faces = []
        for _ in range(frames):
            faces = self.detect(rgb)
        return faces

    def close(self):
        """Release the MediaPipe graph."""
        self._mesh.close()


def detect_single_face(rgb):
    """
    Return the one face of a still RGB image, as the pipeline would see it.

    Raises ValueError unless exactly one face is found.
    """
    detector = FaceMeshDetector()
    try:
        faces = detector.detect_still(rgb)
    finally:
        detector.close()
    if len(faces) != 1:
        raise ValueError(f'expected one face, found {len(faces)}')
    return faces[0]
