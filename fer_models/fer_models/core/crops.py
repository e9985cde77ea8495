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
Appearance-path inference without PyTorch: face crops and the ONNX crop model.

A crop model (exported by fer_models.research.ean) takes (N, 1, S, S) grayscale
face crops scaled to [0, 1] and returns class probabilities; its labels, input
size and crop (``fer.crop``) are in the ``fer.*`` ONNX metadata. Two crops exist:

* ``box`` (``square_crop``): a square around the face-mesh box; models
  without a ``fer.crop`` key (the first ``ean.onnx``) use it;
* ``aligned_v1`` (``aligned_crop``): a similarity transform from the
  MediaPipe Face Mesh points: eyes level, fixed inter-ocular distance and
  eye-centre position. Training crops are made by the same function, so a
  face looks the same to the model at training and at run time.

The nodes use this module so that PyTorch, needed only for training, is
never loaded on a robot.
"""

import json

from fer_models.core.fusion import check_distribution, FusionError
from fer_models.core.onnx_model import METADATA_PREFIX, ModelError, open_session
import numpy as np

CROP_SIZE = 48
BOX_CROP = 'box'
ALIGNED_CROP = 'aligned_v1'
CROPS = (BOX_CROP, ALIGNED_CROP)
# aligned_v1 geometry, as fractions of the crop side: chosen to frame a face
# like the box crop does on TFEID (median over its 988 faces: inter-ocular
# distance 0.37 of the side, eye centre 0.37 from the top), so FER2013's
# pre-cropped faces need little padding and the whole face, brows to chin, fits.
ALIGNED_EYE_DISTANCE = 0.37
ALIGNED_EYE_X = 0.5
ALIGNED_EYE_Y = 0.37
# Face Mesh eye corners (outer, inner) of the eye on the image's left (the
# person's right) and of the other eye; an eye's centre is their midpoint.
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_CORNERS = (362, 263)


def _gray(image):
    import cv2

    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def square_region(image, bbox, scale=1.2):
    """
    Return the square patch around a face box, at the image's resolution and colour.

    The square side is ``scale`` times the longer box side, centred on the
    box; outside the image is edge-padded.
    """
    import cv2

    x, y, w, h = bbox
    side = max(1, int(round(scale * max(w, h))))
    x0 = int(round(x + w / 2 - side / 2))
    y0 = int(round(y + h / 2 - side / 2))
    pad = max(0, -x0, -y0, x0 + side - image.shape[1], y0 + side - image.shape[0])
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return image[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]


def square_crop(image, bbox, scale=1.2, size=CROP_SIZE):
    """
    Return a (size, size) uint8 grayscale crop around a face box.

    image: (H, W, 3) RGB or (H, W) grayscale uint8; bbox: (x, y, w, h) in
    pixels (e.g. FaceMeshDetector's); the square as square_region takes it.
    """
    import cv2

    patch = square_region(_gray(image), bbox, scale)
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def eye_centres(points, image_width, image_height):
    """Return the pixel centres (left-in-image, right-in-image) of the eyes of Face Mesh points."""
    xy = np.asarray(points, np.float64)[:, :2] * (image_width, image_height)
    return xy[list(LEFT_EYE_CORNERS)].mean(axis=0), xy[list(RIGHT_EYE_CORNERS)].mean(axis=0)


def aligned_transform(left_eye, right_eye, size=CROP_SIZE):
    """
    Return the 2x3 similarity (image pixels -> crop pixels) of the aligned_v1 crop.

    It rotates the eye line to horizontal, scales the inter-ocular distance to
    ALIGNED_EYE_DISTANCE * size and moves the eye midpoint to
    (ALIGNED_EYE_X, ALIGNED_EYE_Y) * size.
    """
    left_eye, right_eye = np.asarray(left_eye, float), np.asarray(right_eye, float)
    dx, dy = right_eye - left_eye
    distance = max(float(np.hypot(dx, dy)), 1e-6)
    scale = ALIGNED_EYE_DISTANCE * size / distance
    cos, sin = scale * dx / distance, scale * dy / distance
    rotation = np.array([[cos, sin], [-sin, cos]])
    centre = (left_eye + right_eye) / 2
    target = np.array([ALIGNED_EYE_X * size, ALIGNED_EYE_Y * size])
    return np.hstack([rotation, (target - rotation @ centre)[:, None]])


def warp_crop(image, transform, size=CROP_SIZE):
    """
    Return the (size, size) uint8 grayscale crop of ``image`` under a 2x3 similarity.

    When the crop shrinks the face by more than 2x, the region it covers is
    first reduced with area averaging (cv2.INTER_AREA), so that a large face
    in a camera frame is low-pass filtered like a small one instead of
    aliased by the bilinear warp. Outside the image is edge-replicated.
    """
    import cv2

    transform = np.asarray(transform, np.float64)
    scale = float(np.hypot(transform[0, 0], transform[0, 1]))
    # Only the crop's footprint in the image, plus a margin for the filters,
    # is converted to grey and resampled: a camera frame is far larger than
    # a face. Clipping at the image's edges keeps edge replication as it is.
    inverse = cv2.invertAffineTransform(transform)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], float)
    footprint = corners @ inverse.T
    margin = max(2.0, 2.0 / scale)
    x0, y0 = np.floor(footprint.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(footprint.max(axis=0) + margin).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        # The crop lies (almost) outside the image: replicate its edge.
        return cv2.warpAffine(_gray(image), transform, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    region = _gray(image[y0:y1, x0:x1])
    # to_image maps region pixels to image pixels.
    to_image = np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1]])
    if scale < 0.5:
        factor = 2 * scale  # leaves the final warp a 2x reduction at most
        width = max(1, int(round((x1 - x0) * factor)))
        height = max(1, int(round((y1 - y0) * factor)))
        region = cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA)
        # reduced pixel = (image pixel - origin) * actual factor per axis
        fx, fy = width / (x1 - x0), height / (y1 - y0)
        to_image = np.array([[1 / fx, 0, x0 + 0.5 / fx - 0.5],
                             [0, 1 / fy, y0 + 0.5 / fy - 0.5], [0, 0, 1]])
    return cv2.warpAffine(region, transform @ to_image, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def aligned_crop(image, points, size=CROP_SIZE):
    """
    Return the (size, size) uint8 grayscale aligned_v1 crop of one face.

    image: (H, W, 3) RGB or (H, W) grayscale uint8; points: (N, 2 or 3) Face
    Mesh points with x and y normalised to the image size (as
    ``DetectedFace.points``; N >= 468).
    """
    left_eye, right_eye = eye_centres(points, image.shape[1], image.shape[0])
    return warp_crop(image, aligned_transform(left_eye, right_eye, size), size)


class CropClassifier:
    """
    An onnxruntime session of an exported crop model plus its metadata.

    ``crop`` is the model's ``fer.crop`` (``box`` when absent) and ``size``
    the side of its square input; ``face_crop`` makes the crop it expects.
    """

    def __init__(self, path, threads=1):
        """Load ``path``; raise ModelError naming the file."""
        self.path, self._session, self.metadata = open_session(path, threads)
        try:
            self.model_name = self.metadata[METADATA_PREFIX + 'model_name']
            self.labels = tuple(json.loads(self.metadata[METADATA_PREFIX + 'labels']))
        except (KeyError, ValueError) as error:
            raise ModelError(f'crop model {self.path} lacks valid fer.* metadata: {error} '
                             '(export it with fer_models.research.ean)') from error
        self.crop = self.metadata.get(METADATA_PREFIX + 'crop', BOX_CROP)
        if self.crop.startswith('square'):
            # The first ean.onnx describes its box crop in words under fer.crop.
            self.crop = BOX_CROP
        if self.crop not in CROPS:
            raise ModelError(f"crop model {self.path} asks for crop '{self.crop}'; this "
                             f"version knows {', '.join(CROPS)}")
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        side = model_input.shape[-1]
        self.size = side if isinstance(side, int) else self._declared_size()
        if self._declared_size(self.size) != self.size:
            raise ModelError(f'crop model {self.path}: fer.input_shape says '
                             f'{self._declared_size()} px but its graph takes {self.size} px')
        self._check_output()

    def _declared_size(self, default=CROP_SIZE):
        """Return the side of ``fer.input_shape`` ([1, S, S]), or ``default`` without it."""
        declared = self.metadata.get(METADATA_PREFIX + 'input_shape')
        if declared is None:
            return default
        try:
            return int(json.loads(declared)[-1])
        except (ValueError, TypeError, IndexError) as error:
            raise ModelError(f'crop model {self.path}: invalid fer.input_shape '
                             f'{declared!r}: {error}') from error

    def _check_output(self):
        """Raise ModelError unless a crop gives a distribution over ``labels``."""
        try:
            output = self.predict(np.full((1, self.size, self.size), 128, np.uint8))
            if output.shape != (1, len(self.labels)):
                raise FusionError(f'{output.shape} outputs for the {len(self.labels)} labels of '
                                  'fer.labels')
            check_distribution(output[0])
        except Exception as error:  # onnxruntime raises several unrelated types
            raise ModelError(f'crop model {self.path}: {error}') from error

    def face_crop(self, image, bbox, points=None):
        """
        Return the model's crop of one face in an RGB (or grayscale) image.

        bbox: (x, y, w, h) pixels; points: normalised Face Mesh points, which
        an aligned model needs (ModelError without them).
        """
        if self.crop == BOX_CROP:
            return square_crop(image, bbox, size=self.size)
        if points is None or len(points) < 468:
            raise ModelError(f'crop model {self.path} needs the face-mesh points '
                             f'({self.crop} crop)')
        return aligned_crop(image, points, self.size)

    def predict(self, crops):
        """
        Return (N, C) probabilities.

        crops: (N, 1, S, S) float32 in [0, 1], or (N, S, S) / (S, S) uint8.
        """
        batch = np.asarray(crops)
        if batch.dtype == np.uint8:
            batch = batch.astype(np.float32) / 255.0
        while batch.ndim < 4:
            batch = batch[None] if batch.ndim < 3 else batch[:, None]
        return self._session.run(None, {self._input_name: batch.astype(np.float32)})[0]

    def classify_face(self, image, bbox, points=None):
        """Return (label, probabilities) of one face in an RGB image (see face_crop)."""
        probabilities = self.predict(self.face_crop(image, bbox, points))[0]
        return self.labels[int(np.argmax(probabilities))], probabilities
