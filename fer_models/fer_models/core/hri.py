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
REP-155 (ROS4HRI) face output, without ROS: ids, regions, landmarks, expressions.

``hri_bridge_node`` turns fer_ros's faces and expressions into the topics
REP-155 names (``/humans/faces/tracked``, ``/humans/faces/<id>/roi``,
``landmarks``, ``expression``); everything it decides lives here, so that it
is unit-tested without ROS or hri_msgs.
"""

import random
import string

from fer_models.core.features import DLIB68_FROM_MESH, MESH_POINTS
from fer_models.core.labels import ANGRY, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE
import numpy as np

# fer label -> the value of hri_msgs/Expression's constant (NEUTRAL, HAPPY,
# SAD, ANGRY, SURPRISED, SCARED, DISGUSTED). Labels not listed (contempt,
# which hri_msgs has no constant for, and unknown) publish no expression.
EXPRESSION_OF_LABEL = {
    NEUTRAL: 'neutral',
    HAPPY: 'happy',
    SAD: 'sad',
    ANGRY: 'angry',
    SURPRISE: 'surprised',
    FEAR: 'scared',
    DISGUST: 'disgusted',
}

# hri_msgs/FacialLandmarks: 70 points, the dlib/OpenPose order its constants
# name (0-67 the 68-point dlib layout, 68 RIGHT_PUPIL, 69 LEFT_PUPIL).
NUM_LANDMARKS = 70
RIGHT_PUPIL, LEFT_PUPIL = 68, 69
# Face Mesh iris centres (refine_landmarks: 478 points): 468 in the
# subject's right eye (around mesh 33/133, dlib 36-41), 473 in the left.
_IRIS_CENTRES = (468, 473)
_EYE_CONTOURS = (DLIB68_FROM_MESH[36:42], DLIB68_FROM_MESH[42:48])


def expression_of(label):
    """Return the hri_msgs/Expression value of a fer label, or None when it has none."""
    return EXPRESSION_OF_LABEL.get(label)


def landmarks70(points):
    """
    Return (70, 3) float32 x, y, c of REP-155's facial landmarks from Face Mesh points.

    ``points``: (N >= 468, 3) Face Mesh points, x and y normalised to the
    image size. Points 0-67 are the mesh vertices of the dlib 68-point
    layout (``features.DLIB68_FROM_MESH``, the layout the landmark model
    reads); the pupils are the iris centres with refined landmarks (478
    points), else the centre of each eye's six contour points. Coordinates
    are clipped to [0, 1] as the message requires; ``c`` is 1 for a point
    inside the image and 0 for one that lay outside and was clipped.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[0] < MESH_POINTS or points.shape[1] < 2:
        raise ValueError(f'expected (>= {MESH_POINTS}, 2+) Face Mesh points, got {points.shape}')
    xy = np.empty((NUM_LANDMARKS, 2), np.float32)
    xy[:68] = points[DLIB68_FROM_MESH, :2]
    for row, iris, contour in zip((RIGHT_PUPIL, LEFT_PUPIL), _IRIS_CENTRES, _EYE_CONTOURS):
        xy[row] = points[iris, :2] if points.shape[0] > max(_IRIS_CENTRES) else \
            points[contour, :2].mean(axis=0)
    inside = np.all((xy >= 0.0) & (xy <= 1.0), axis=1)
    return np.column_stack([np.clip(xy, 0.0, 1.0), inside.astype(np.float32)])


def normalised_roi(bbox, image_width, image_height):
    """Return (xmin, ymin, xmax, ymax) in [0, 1] of a pixel (x, y, w, h) box."""
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f'image size {image_width}x{image_height}')
    x, y, width, height = bbox
    corners = (x / image_width, y / image_height,
               (x + width) / image_width, (y + height) / image_height)
    return tuple(min(max(float(v), 0.0), 1.0) for v in corners)


def _random_token(length=4):
    return ''.join(random.choices(string.ascii_lowercase, k=length))


class FaceRegistry:
    """
    REP-155 face ids of the faces fer_ros tracks, with their appearance and loss.

    An id is a session token of lowercase letters followed by the tracker's
    face_id (``kqzb3`` is /emotion's face 3): readable, a valid ROS name
    token, and stable while the face is tracked. A face is tracked until it
    has been missing for longer than ``timeout_s`` (frame time). REP-155
    forbids giving a lost id to another face, but landmark_node's face_ids
    start again at 1 when it restarts: the ids of one tracker only grow, so
    a face_id that is not tracked and not above the highest seen means a
    restarted tracker (or a face lost here that the tracker kept), and a
    new token is drawn for the ids given from then on. A new bridge draws a
    new token too.
    """

    def __init__(self, timeout_s, new_token=_random_token):
        """Create an empty registry; ``new_token()`` returns a fresh session token."""
        self.timeout_s = timeout_s
        self._new_token = new_token
        self._token = new_token()
        self._highest = 0
        self._faces = {}  # face_id -> [id string, last seen (s)]

    @property
    def tracked(self):
        """Return the ids tracked now, oldest first."""
        return [face_id for face_id, _ in self._faces.values()]

    def id_of(self, face_id):
        """Return the id of a tracked face_id, or None."""
        entry = self._faces.get(face_id)
        return None if entry is None else entry[0]

    def update(self, face_ids, now):
        """
        Record the faces of one frame at time ``now`` (s).

        Returns (ids that appeared, ids that were lost), the lost ones being
        the faces missing for longer than the timeout.
        """
        appeared = []
        for face_id in face_ids:
            entry = self._faces.get(face_id)
            if entry is not None:
                entry[1] = now
                continue
            if face_id <= self._highest:
                self._token = self._new_token()
            self._highest = max(self._highest, face_id)
            hri_id = f'{self._token}{face_id}'
            self._faces[face_id] = [hri_id, now]
            appeared.append(hri_id)
        return appeared, self.expire(now)

    def expire(self, now):
        """Forget the faces missing for longer than the timeout at ``now``; return their ids."""
        lost = [face_id for face_id, (_, seen) in self._faces.items()
                if now - seen > self.timeout_s]
        return [self._faces.pop(face_id)[0] for face_id in lost]

    def clear(self):
        """Forget every face; return their ids."""
        lost = self.tracked
        self._faces = {}
        return lost
