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
Landmark features for expression recognition, shared by training and nodes.

A feature specification is a string such as ``"dlib68:coords+geometric+velocity"``:

* an optional landmark layout before ``:`` -- ``mesh468`` (every Face Mesh
  point) or ``dlib68`` (the 68-point dlib/iBUG layout mapped from the mesh);
  default ``dlib68``; ``@3d`` after it (``dlib68@3d``) frontalises the face
  first (see below);
* per-frame kinds, computed once for each face in each frame:
  ``coords`` (normalised x, y of the layout's points), ``distances``
  (pairwise distances over a curated subset of points) and ``geometric``
  (eye/mouth aspect ratios, brow raise, mouth corners ...);
* window kinds, computed over a window of frames and appended to the
  per-frame features: ``displacement`` (relative to the first frame of the
  window) and ``velocity`` (difference to the previous frame);
* an optional reference after ``/``: ``/neutral`` marks per-frame features
  taken relative to the face's own resting (neutral) features, i.e. frame
  minus the face's neutral baseline (``fer_models.core.baseline``). It
  changes what the numbers mean, not their count, so a model trained on
  relative features has a feature type of its own and refuses absolute
  windows (and the other way round).

Normalisation: points are taken to pixel units (so the image aspect ratio does
not distort the face), translated to the centroid of the layout's points,
rotated so that the eyes are level, and scaled by the inter-ocular distance.
With ``@3d`` the face's 3-D mesh is first rotated onto a mean frontal face
(a rigid Procrustes fit on points that expressions hardly move), which
removes yaw and pitch as well as roll; ``mean_face.npy`` holds that mean face,
computed from the training sets' detected faces (``./fer train generalisation
mean-face``).
The input is always the MediaPipe Face Mesh topology (468 points, or 478 with
refined irises; the extra iris points are ignored).
"""

from dataclasses import dataclass, replace
import functools
import os

import numpy as np

MESH_POINTS = 468

# dlib/iBUG 68-point layout in dlib order (jaw, brows, nose, eyes, mouth), each
# point taken from the Face Mesh vertex at the same anatomical position.
DLIB68_FROM_MESH = np.array([
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107,
    336, 296, 334, 293, 300,
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
], dtype=np.intp)

LAYOUTS = {
    'mesh468': np.arange(MESH_POINTS, dtype=np.intp),
    'dlib68': DLIB68_FROM_MESH,
}

# Points whose pairwise distances carry most expression information: brows,
# eye lids and corners, lips and mouth corners, nose tip and base.
DISTANCE_POINTS = np.array([
    70, 105, 107, 336, 334, 300,
    33, 159, 133, 145, 362, 386, 263, 374,
    61, 0, 291, 17, 13, 14, 78, 308,
    1, 2,
], dtype=np.intp)

# Mesh vertices used by the geometric descriptors.
_RIGHT_EYE_CORNERS = (33, 133)
_LEFT_EYE_CORNERS = (362, 263)
_RIGHT_EYE_LIDS = ((160, 144), (158, 153))
_LEFT_EYE_LIDS = ((385, 380), (387, 373))
_RIGHT_BROW = np.array([70, 63, 105, 66, 107])
_LEFT_BROW = np.array([336, 296, 334, 293, 300])
_RIGHT_UPPER_LID, _LEFT_UPPER_LID = 159, 386
_MOUTH_LEFT_CORNER, _MOUTH_RIGHT_CORNER = 61, 291
_UPPER_LIP_TOP, _LOWER_LIP_BOTTOM = 0, 17
_UPPER_LIP_INNER, _LOWER_LIP_INNER = 13, 14
_MOUTH_INNER_CORNERS = (78, 308)
_NOSE_TIP, _NOSE_BASE, _CHIN = 1, 2, 152

GEOMETRIC_NAMES = (
    'right_eye_aspect', 'left_eye_aspect', 'mouth_aspect', 'mouth_width',
    'mouth_open_outer', 'right_brow_raise', 'left_brow_raise', 'inner_brow_gap',
    'right_mouth_corner_drop', 'left_mouth_corner_drop', 'nose_to_upper_lip',
    'nose_to_chin', 'upper_lip_lift', 'lower_lip_drop', 'inner_brow_raise',
)

# Mesh vertices that expressions hardly move: eye corners, nose bridge and
# tip, forehead, temples, cheekbones. The 3-D alignment fits these only, so
# that an open mouth or raised brows do not tilt the estimated head pose.
RIGID_POINTS = np.array([
    33, 133, 362, 263,
    168, 6, 197, 195, 5, 4, 1,
    10, 151, 9,
    21, 251, 54, 284,
    234, 454, 127, 356, 93, 323,
], dtype=np.intp)
# Left/right counterpart of every Face Mesh vertex (an involution: the map of
# the map is the identity). Found by optimally matching the mean frontal TFEID
# face to its mirror image; it pairs e.g. the eye corners 33/263 and 133/362,
# the mouth corners 61/291 and keeps the midline (1, 2, 4, ...) in place.
MESH_MIRROR = np.array([
    0, 1, 2, 248, 4, 5, 6, 249, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 250, 251,
    252, 253, 254, 255, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268,
    269, 270, 271, 272, 273, 274, 275, 276, 277, 278, 279, 280, 281, 282, 283, 284, 285,
    286, 287, 288, 289, 290, 291, 292, 293, 294, 295, 296, 297, 298, 299, 300, 301, 302,
    303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 319,
    320, 321, 322, 323, 94, 324, 325, 326, 327, 328, 329, 330, 331, 332, 333, 334, 335,
    336, 337, 338, 339, 340, 341, 342, 343, 344, 345, 346, 347, 348, 349, 350, 351, 352,
    353, 354, 355, 356, 357, 358, 359, 360, 361, 362, 363, 364, 365, 366, 367, 368, 369,
    370, 371, 372, 373, 374, 375, 376, 377, 378, 379, 151, 152, 380, 381, 382, 383, 384,
    385, 386, 387, 388, 389, 390, 164, 391, 392, 393, 168, 394, 395, 396, 397, 398, 399,
    175, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
    416, 417, 418, 195, 419, 197, 420, 199, 200, 421, 422, 423, 424, 425, 426, 427, 428,
    429, 430, 431, 432, 433, 434, 435, 436, 437, 438, 439, 440, 441, 442, 443, 444, 445,
    446, 447, 448, 449, 450, 451, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462,
    463, 464, 465, 466, 467, 3, 7, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77,
    78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 95, 96, 97, 98, 99,
    100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116,
    117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133,
    134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150,
    153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 165, 166, 167, 169, 170, 171,
    172, 173, 174, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
    190, 191, 192, 193, 194, 196, 198, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210,
    211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 227,
    228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244,
    245, 246, 247
], dtype=np.intp)
MEAN_FACE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mean_face.npy')
ALIGNMENTS = ('roll', '3d')

FRAME_KINDS = ('coords', 'distances', 'geometric')
WINDOW_KINDS = ('displacement', 'velocity')
DEFAULT_LAYOUT = 'dlib68'
# Feature references after '/': '' = absolute features, 'neutral' = relative
# to the face's neutral baseline.
NEUTRAL_REFERENCE = 'neutral'
REFERENCES = ('', NEUTRAL_REFERENCE)


class FeatureError(ValueError):
    """Raised for an invalid feature specification or unusable landmarks."""


@functools.lru_cache(maxsize=1)
def mean_face():
    """Return the (468, 3) mean frontal face (IOD = 1, eyes level, centred)."""
    return np.load(MEAN_FACE_FILE).astype(np.float64)


def frontal_rotation(points, reference):
    """
    Return the 3x3 rotation that best maps centred ``points`` onto ``reference``.

    Kabsch's least-squares solution, restricted to proper rotations (no
    mirroring); both arrays are (K, 3) and centred.
    """
    u, _, vt = np.linalg.svd(points.T @ reference)
    flip = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, flip]) @ u.T


def frontalise(pts):
    """Return pixel-unit mesh points rotated so the head faces the camera (rigid fit)."""
    rigid = pts[RIGID_POINTS]
    centre = rigid.mean(axis=0)
    reference = mean_face()[RIGID_POINTS]
    rotation = frontal_rotation(rigid - centre, reference - reference.mean(axis=0))
    return (pts - centre) @ rotation.T


def checked_mesh(points, used=slice(0, MESH_POINTS)):
    """
    Return Face Mesh points as a float64 array; raise FeatureError if unusable.

    points: (N >= 468, 3); the ``used`` rows must be finite.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < MESH_POINTS:
        raise FeatureError(
            f'expected at least {MESH_POINTS} landmarks of x, y, z, got shape {pts.shape}')
    if not np.all(np.isfinite(pts[used])):
        raise FeatureError('landmarks contain NaN or infinite values')
    return pts


def normalise_points(points, image_width, image_height, alignment='roll'):
    """
    Return mesh points in a face frame: centred, eyes level, IOD = 1.

    points: (N >= 468, 3) array normalised to the image size, as published in
    fer_msgs/FaceLandmarks. ``alignment='3d'`` also removes yaw and pitch
    (``frontalise``). Returns a (468, 3) float64 array.
    """
    pts = checked_mesh(points)
    if image_width <= 0 or image_height <= 0:
        raise FeatureError(f'invalid image size {image_width}x{image_height}')
    pts = pts[:MESH_POINTS] * np.array([image_width, image_height, image_width], dtype=np.float64)
    if alignment == '3d':
        pts = frontalise(pts)
    return align_to_eyes(pts, _RIGHT_EYE_CORNERS, _LEFT_EYE_CORNERS, DLIB68_FROM_MESH)


def align_to_eyes(points, right_eye_corners, left_eye_corners, centre_points):
    """
    Return one face's points in a face frame: centred, eyes level, IOD = 1.

    points: (N, 2 or 3) in pixel units of any landmark layout; the eye
    centres are the means of the given corner points and the origin is the
    mean of ``centre_points``. A z column is centred and scaled, not rotated.
    """
    right_eye = points[list(right_eye_corners), :2].mean(axis=0)
    left_eye = points[list(left_eye_corners), :2].mean(axis=0)
    eye_vector = left_eye - right_eye
    inter_ocular = float(np.hypot(*eye_vector))
    if inter_ocular < 1e-6:
        raise FeatureError('degenerate landmarks: the eyes coincide')
    cos_a, sin_a = eye_vector / inter_ocular
    # Rotate by -roll so that the eye line is horizontal.
    rotation = np.array([[cos_a, sin_a], [-sin_a, cos_a]])
    centred = points - points[centre_points].mean(axis=0)
    out = np.empty_like(centred)
    out[:, :2] = centred[:, :2] @ rotation.T
    out[:, 2:] = centred[:, 2:]
    return out / inter_ocular


def pairwise_distances(points):
    """Return the distances between every pair (i < j) of (K, >= 2) points, in x, y."""
    first, second = np.triu_indices(len(points), k=1)
    return np.linalg.norm(points[first, :2] - points[second, :2], axis=1)


def frame_kind(face, kind, layout_index):
    """Return one per-frame kind (``FRAME_KINDS``) of normalised mesh points."""
    if kind == 'coords':
        return face[layout_index, :2].ravel()
    if kind == 'distances':
        return pairwise_distances(face[DISTANCE_POINTS])
    return geometric_descriptors(face)


def window_features(frames, window_kinds):
    """
    Return per-frame features with the window kinds appended, along the last axis.

    frames: (..., T, D), one window or a batch of them; ``displacement`` is
    relative to the window's first frame, ``velocity`` the difference to the
    previous frame (zero for the first).
    """
    parts = [frames]
    for kind in window_kinds:
        if kind == 'displacement':
            parts.append(frames - frames[..., :1, :])
        else:
            parts.append(np.diff(frames, axis=-2, prepend=frames[..., :1, :]))
    return np.concatenate(parts, axis=-1)


def _dist(pts, a, b):
    return float(np.linalg.norm(pts[a, :2] - pts[b, :2]))


def geometric_descriptors(face):
    """Return the GEOMETRIC_NAMES descriptors of normalised points (IOD = 1)."""
    def eye_aspect(corners, lids):
        width = _dist(face, *corners)
        height = sum(_dist(face, a, b) for a, b in lids) / len(lids)
        return height / max(width, 1e-6)

    y = face[:, 1]
    mouth_centre_y = 0.5 * (y[_UPPER_LIP_INNER] + y[_LOWER_LIP_INNER])
    corners_y = 0.5 * (y[_MOUTH_LEFT_CORNER] + y[_MOUTH_RIGHT_CORNER])
    eye_line_y = 0.5 * (y[_RIGHT_UPPER_LID] + y[_LEFT_UPPER_LID])
    mouth_width = _dist(face, _MOUTH_LEFT_CORNER, _MOUTH_RIGHT_CORNER)
    # Image y grows downwards: "raise" and "lift" are positive upwards.
    return np.array([
        eye_aspect(_RIGHT_EYE_CORNERS, _RIGHT_EYE_LIDS),
        eye_aspect(_LEFT_EYE_CORNERS, _LEFT_EYE_LIDS),
        (_dist(face, _UPPER_LIP_INNER, _LOWER_LIP_INNER)
         / max(_dist(face, *_MOUTH_INNER_CORNERS), 1e-6)),
        mouth_width,
        _dist(face, _UPPER_LIP_TOP, _LOWER_LIP_BOTTOM),
        y[_RIGHT_UPPER_LID] - y[_RIGHT_BROW].mean(),
        y[_LEFT_UPPER_LID] - y[_LEFT_BROW].mean(),
        _dist(face, _RIGHT_BROW[-1], _LEFT_BROW[0]),
        y[_MOUTH_LEFT_CORNER] - mouth_centre_y,
        y[_MOUTH_RIGHT_CORNER] - mouth_centre_y,
        _dist(face, _NOSE_BASE, _UPPER_LIP_TOP),
        _dist(face, _NOSE_TIP, _CHIN),
        corners_y - y[_UPPER_LIP_TOP],
        y[_LOWER_LIP_BOTTOM] - corners_y,
        eye_line_y - 0.5 * (y[_RIGHT_BROW[-1]] + y[_LEFT_BROW[0]]),
    ])


@dataclass(frozen=True)
class FeatureSpec:
    """A parsed feature specification (see the module docstring)."""

    layout: str
    frame_kinds: tuple
    window_kinds: tuple
    alignment: str = 'roll'
    reference: str = ''

    @classmethod
    def parse(cls, text):
        """Parse ``"[layout:]kind+kind...[/neutral]"``; raise FeatureError when invalid."""
        if not isinstance(text, str) or not text.strip():
            raise FeatureError('empty feature specification')
        text, slash, reference = text.strip().partition('/')
        if slash and reference not in REFERENCES[1:]:
            raise FeatureError(f"unknown feature reference '/{reference}'; known: "
                               f'/{NEUTRAL_REFERENCE}')
        layout, _, kinds_text = text.rpartition(':')
        layout, _, alignment = layout.partition('@')
        layout = layout or DEFAULT_LAYOUT
        alignment = alignment or ALIGNMENTS[0]
        if layout not in LAYOUTS:
            raise FeatureError(f"unknown landmark layout '{layout}'; known: {', '.join(LAYOUTS)}")
        if alignment not in ALIGNMENTS:
            raise FeatureError(f"unknown alignment '@{alignment}'; known: "
                               f"{', '.join('@' + a for a in ALIGNMENTS)}")
        kinds = [k.strip() for k in kinds_text.split('+') if k.strip()]
        unknown = [k for k in kinds if k not in FRAME_KINDS + WINDOW_KINDS]
        if unknown:
            raise FeatureError(
                f"unknown feature kind(s) {', '.join(unknown)}; "
                f"known: {', '.join(FRAME_KINDS + WINDOW_KINDS)}")
        if len(set(kinds)) != len(kinds):
            raise FeatureError(f"feature kinds repeated in '{text}'")
        frame_kinds = tuple(k for k in FRAME_KINDS if k in kinds)
        window_kinds = tuple(k for k in WINDOW_KINDS if k in kinds)
        if not frame_kinds:
            raise FeatureError(
                f"'{text}' has no per-frame kind; add one of {', '.join(FRAME_KINDS)}")
        return cls(layout, frame_kinds, window_kinds, alignment, reference)

    @property
    def name(self):
        """Return the canonical spelling, e.g. ``dlib68:coords+geometric``."""
        aligned = '' if self.alignment == ALIGNMENTS[0] else f'@{self.alignment}'
        referenced = f'/{self.reference}' if self.reference else ''
        return (f"{self.layout}{aligned}:{'+'.join(self.frame_kinds + self.window_kinds)}"
                f'{referenced}')

    def with_reference(self, reference):
        """Return this specification with another reference ('' or NEUTRAL_REFERENCE)."""
        return replace(self, reference=reference)

    @property
    def frame_dim(self):
        """Return the number of per-frame feature values."""
        sizes = {
            'coords': 2 * len(LAYOUTS[self.layout]),
            'distances': len(DISTANCE_POINTS) * (len(DISTANCE_POINTS) - 1) // 2,
            'geometric': len(GEOMETRIC_NAMES),
        }
        return sum(sizes[k] for k in self.frame_kinds)

    @property
    def dim(self):
        """Return the number of feature values per frame of a window."""
        return self.frame_dim * (1 + len(self.window_kinds))


class FeatureExtractor:
    """Computes per-frame features and assembles windows for one FeatureSpec."""

    def __init__(self, spec):
        """Create an extractor for a FeatureSpec or its string form."""
        self.spec = spec if isinstance(spec, FeatureSpec) else FeatureSpec.parse(spec)
        self._layout_index = LAYOUTS[self.spec.layout]

    @property
    def name(self):
        """Return the canonical feature specification."""
        return self.spec.name

    @property
    def dim(self):
        """Return the per-frame dimension of assembled windows."""
        return self.spec.dim

    def frame(self, points, image_width, image_height):
        """Return the per-frame features (frame_dim,) float32 of one face."""
        face = normalise_points(points, image_width, image_height, self.spec.alignment)
        return np.concatenate([frame_kind(face, kind, self._layout_index)
                               for kind in self.spec.frame_kinds]).astype(np.float32)

    def window(self, frames):
        """Assemble a (T, dim) window from (T, frame_dim) per-frame features."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != self.spec.frame_dim:
            raise FeatureError(
                f'expected (T, {self.spec.frame_dim}) per-frame features, got {frames.shape}')
        return window_features(frames, self.spec.window_kinds)
