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
Head pose from the Face Mesh's 3-D points: a rigid fit to the mean frontal face.

Frame and signs: the camera's optical frame (REP 103: x to the image's
right, y down, z away from the camera); the pose is the rotation
R = R_y(yaw) R_x(pitch) R_z(roll) that turns a frontal face into this one,
in degrees:

* **yaw**, about the image's vertical axis: positive when the nose turns
  towards the image's left (the person turns to their own right);
* **pitch**, about the image's horizontal axis: positive when the nose turns
  down (the person looks down);
* **roll**, about the optical axis: positive when the face turns clockwise
  in the image.

The fit (``fer_models.core.features.frontal_rotation``) uses only points
that expressions hardly move, so a smile does not tilt the estimate, and a
left-right symmetric version of the mean face, so a mirrored face gets the
opposite yaw and roll. MediaPipe's depth is an estimate: beyond about 45
degrees of yaw or pitch the angles are rough.
"""

import functools
import math

from fer_models.core.features import (
    checked_mesh, frontal_rotation, mean_face, MESH_MIRROR, RIGID_POINTS)
import numpy as np


@functools.lru_cache(maxsize=1)
def symmetric_reference():
    """Return the centred rigid points of the mean face averaged with its mirror image."""
    face = mean_face()
    mirrored = face[MESH_MIRROR] * np.array([-1.0, 1.0, 1.0])
    rigid = (0.5 * (face + mirrored))[RIGID_POINTS]
    return rigid - rigid.mean(axis=0)


def head_rotation(points, image_width, image_height):
    """Return the 3x3 rotation taking the mean frontal face to this face (camera frame)."""
    pts = checked_mesh(points, used=RIGID_POINTS)
    rigid = pts[RIGID_POINTS] * np.array([image_width, image_height, image_width])
    return frontal_rotation(rigid - rigid.mean(axis=0), symmetric_reference()).T


def head_pose(points, image_width, image_height):
    """Return (yaw, pitch, roll) in degrees of one face's normalised mesh points."""
    rotation = head_rotation(points, image_width, image_height)
    # rotation = R_y(yaw) @ R_x(pitch) @ R_z(roll); see the module docstring for signs.
    pitch = math.asin(float(np.clip(-rotation[1, 2], -1.0, 1.0)))
    yaw = math.atan2(rotation[0, 2], rotation[2, 2])
    roll = math.atan2(rotation[1, 0], rotation[1, 1])
    return tuple(math.degrees(angle) for angle in (yaw, pitch, roll))


def pose_rotation(yaw_deg, pitch_deg, roll_deg):
    """Return the rotation R_y(yaw) R_x(pitch) R_z(roll) of a head pose in degrees."""
    yaw, pitch, roll = (math.radians(angle) for angle in (yaw_deg, pitch_deg, roll_deg))
    about_y = np.array([[math.cos(yaw), 0.0, math.sin(yaw)], [0.0, 1.0, 0.0],
                        [-math.sin(yaw), 0.0, math.cos(yaw)]])
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(pitch), -math.sin(pitch)],
                        [0.0, math.sin(pitch), math.cos(pitch)]])
    about_z = np.array([[math.cos(roll), -math.sin(roll), 0.0],
                        [math.sin(roll), math.cos(roll), 0.0], [0.0, 0.0, 1.0]])
    return about_y @ about_x @ about_z
