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


def draw_faces(rgb, faces):
    """Return a copy of an RGB image with each FaceAnnotation drawn on it."""
    import cv2

    out = np.ascontiguousarray(rgb).copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(width, height) / 640)
    for face in faces:
        x, y, w, h = (int(round(v)) for v in face.bbox)
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOUR, max(1, int(2 * scale)))
        for px, py in face.points[DLIB68_FROM_MESH, :2] * (width, height):
            cv2.circle(out, (int(px), int(py)), max(1, int(2 * scale)), POINT_COLOUR, -1)
        for index, line in enumerate(reversed(caption(face))):
            origin = (x, max(12, y - 6 - int(index * 18 * scale)))
            cv2.putText(out, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0),
                        max(2, int(3 * scale)), cv2.LINE_AA)
            cv2.putText(out, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, TEXT_COLOUR,
                        max(1, int(scale)), cv2.LINE_AA)
    return out
