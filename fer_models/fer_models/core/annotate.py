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
Draw what the pipeline sees on an image: for tuning, never on by default.

Used by landmark_node's optional debug image and by ``./fer annotate``; the
image stays where it was drawn unless the user asked for it to be published
or written.
"""

from dataclasses import dataclass
import math

from fer_models.core.features import DLIB68_FROM_MESH
import numpy as np

BOX_COLOUR = (0, 200, 0)
POINT_COLOUR = (255, 220, 0)
TEXT_COLOUR = (255, 255, 255)
FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX, without importing cv2 at module load
# Text height as a share of the image's shorter side, and the least height
# (pixels) that stays readable: on a 160 px face crop and on a 1280 px frame.
TEXT_HEIGHT_SHARE = 0.035
MIN_TEXT_HEIGHT_PX = 11
# Height in pixels of the font's tallest line at scale 1 (cv2.getTextSize).
_FONT_HEIGHT_AT_1 = 27
_MARGIN_PX = 2


@dataclass
class FaceAnnotation:
    """What is drawn for one face; label and pose may be unknown (None / NaN)."""

    bbox: tuple  # x, y, w, h in pixels
    points: np.ndarray  # (N, 3) normalised to the image size
    face_id: int
    label: str = None
    confidence: float = math.nan
    head_pose: tuple = (math.nan, math.nan, math.nan)


def caption(face):
    """Return the text lines drawn above a face."""
    lines = [f'face {face.face_id}']
    if face.label:
        lines[0] += f': {face.label} {face.confidence:.2f}'
    yaw, pitch, roll = face.head_pose
    if math.isfinite(yaw):
        lines.append(f'yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}')
    return lines


def text_scale(width, height):
    """Return the font scale of an image's captions: a fixed share of its size, never tiny."""
    return max(MIN_TEXT_HEIGHT_PX, TEXT_HEIGHT_SHARE * min(width, height)) / _FONT_HEIGHT_AT_1


def draw_text(out, text, x, y, scale):
    """
    Draw one line with its baseline at y on a darkened band, kept inside the image.

    A line wider than the image is drawn smaller to fit.
    """
    import cv2

    height, width = out.shape[:2]
    thickness = max(1, int(round(scale * 1.5)))
    (text_width, text_height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    if text_width > width - 2 * _MARGIN_PX:
        scale *= (width - 2 * _MARGIN_PX) / text_width
        thickness = max(1, int(round(scale * 1.5)))
        (text_width, text_height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    x = min(max(_MARGIN_PX, x), width - _MARGIN_PX - text_width)
    y = min(max(text_height + _MARGIN_PX, y), height - _MARGIN_PX - baseline)
    band = out[max(0, y - text_height - _MARGIN_PX):y + baseline + _MARGIN_PX,
               max(0, x - _MARGIN_PX):x + text_width + _MARGIN_PX]
    band[:] = band // 3
    cv2.putText(out, text, (x, y), FONT, scale, TEXT_COLOUR, thickness, cv2.LINE_AA)


def draw_faces(rgb, faces, footer=''):
    """
    Return a copy of an RGB image with each FaceAnnotation drawn on it.

    ``footer`` (optional) is written along the bottom, e.g. which pipeline ran.
    """
    import cv2

    out = np.ascontiguousarray(rgb).copy()
    height, width = out.shape[:2]
    scale = text_scale(width, height)
    line_step = int(round(1.4 * scale * _FONT_HEIGHT_AT_1))
    stroke = max(1, int(round(min(width, height) / 320)))
    for face in faces:
        x, y, w, h = (int(round(v)) for v in face.bbox)
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOUR, stroke)
        for px, py in face.points[DLIB68_FROM_MESH, :2] * (width, height):
            cv2.circle(out, (int(px), int(py)), stroke, POINT_COLOUR, -1)
        lines = caption(face)
        # Above the box; pushed down over the face when the box touches the top.
        first = max(y - _MARGIN_PX - (len(lines) - 1) * line_step, line_step)
        for index, line in enumerate(lines):
            draw_text(out, line, x, first + index * line_step, scale)
    if footer:
        draw_text(out, footer, _MARGIN_PX, height - _MARGIN_PX, scale)
    return out
