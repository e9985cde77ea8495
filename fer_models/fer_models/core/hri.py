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
REP-155 (ROS4HRI) face output, without ROS: ids, regions, landmarks, expressions, frames.

``hri_bridge_node`` turns fer_ros's faces and expressions into the topics
REP-155 names (``/humans/faces/tracked``, ``/humans/faces/<id>/roi``,
``landmarks``, ``expression``) and the head-pose frames ``face_<id>`` and
``gaze_<id>``; everything it decides lives here, so that it is unit-tested
without ROS or hri_msgs.
"""

import math
import random
import string

from fer_models.core.features import DLIB68_FROM_MESH, MESH_POINTS
from fer_models.core.head_pose import pose_rotation
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
    xy[[RIGHT_PUPIL, LEFT_PUPIL]] = pupils(points)[:, :2]
    inside = np.all((xy >= 0.0) & (xy <= 1.0), axis=1)
    return np.column_stack([np.clip(xy, 0.0, 1.0), inside.astype(np.float32)])


def pupils(points):
    """
    Return the subject's right and left pupil, rows of ``points``' columns.

    The iris centres with refined landmarks (478 points), else the centre of
    each eye's six contour points.
    """
    if points.shape[0] > max(_IRIS_CENTRES):
        return points[list(_IRIS_CENTRES)]
    return np.stack([points[contour].mean(axis=0) for contour in _EYE_CONTOURS])


# REP-155's face frame (x out of the face, y to the subject's left, z up) of
# a face looking into the camera, as columns in the camera's optical frame
# (x right, y down, z forward): the subject's left is the image's right.
_FRONTAL_FACE_AXES = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
# gaze_<id> (optical convention: z along the gaze, x to the subject's right,
# y down) in face_<id>: without a gaze estimate, z is the face's x axis.
GAZE_IN_FACE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# Mean adult interpupillary distance (about 54-74 mm across adults).
PUPIL_DISTANCE_M = 0.063


def focal_length_px(image_width, horizontal_fov_deg):
    """Return a pinhole camera's focal length in pixels from its horizontal field of view."""
    return 0.5 * image_width / math.tan(math.radians(horizontal_fov_deg) / 2.0)


def face_frame(points, image_width, image_height, head_pose_deg, horizontal_fov_deg,
               pupil_distance_m=PUPIL_DISTANCE_M):
    """
    Return REP-155's ``face_<id>`` in the camera's optical frame, or None when unknown.

    ``points``: (N >= 468, 3) Face Mesh points (x, y normalised to the image,
    z MediaPipe's relative depth in the scale of x); ``head_pose_deg``: (yaw,
    pitch, roll) as ``fer_models.core.head_pose`` gives them (None or NaN
    when unknown). Returns (translation in metres, 3x3 rotation whose columns
    are the face frame's axes). The origin is the midpoint of the pupils,
    REP-155's stand-in for the sellion. Its distance follows from the pupils'
    3-D distance (image position through a pinhole camera of
    ``horizontal_fov_deg`` centred in the image, and the mesh's relative
    depth, so turning the head does not move the face away) against a
    typical ``pupil_distance_m``: an estimate within about 15 % from pupil
    distances alone, plus the field of view's own error.
    """
    if head_pose_deg is None or not np.all(np.isfinite(head_pose_deg)):
        return None
    focal = focal_length_px(image_width, horizontal_fov_deg)
    pupil_points = pupils(np.asarray(points)[:, :3]).astype(np.float64)
    # Each pupil on its ray through the camera, at the reference depth scaled
    # by its relative depth (z * width pixels at the face's scale f / depth).
    rays = np.column_stack([
        (pupil_points[:, 0] * image_width - 0.5 * image_width) / focal,
        (pupil_points[:, 1] * image_height - 0.5 * image_height) / focal,
        np.ones(2)]) * (1.0 + pupil_points[:, 2:3] * image_width / focal)
    apart = float(np.linalg.norm(rays[0] - rays[1]))
    if apart < 1e-9:
        return None
    translation = rays.mean(axis=0) * pupil_distance_m / apart
    return translation, pose_rotation(*head_pose_deg) @ _FRONTAL_FACE_AXES


def quaternion(rotation):
    """Return the unit quaternion, as x, y, z, w, of a 3x3 rotation matrix."""
    m = np.asarray(rotation, np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i], q[j], q[k] = s / 4, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return tuple(float(v) for v in q / np.linalg.norm(q))


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
