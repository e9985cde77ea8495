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

"""Head pose on real faces: frontal, rotated in the image plane, turned, mirrored."""

import math
import os

import cv2
from fer_models.core.head_pose import head_pose, head_rotation, pose_rotation
from fer_models.core.landmarks import detect_single_face
from fer_models.research.datasets import data_root
from fer_models.research.evaluate import load_rgb
from fer_models.research.fer2013 import fer2013_path
import numpy as np
import pytest
from skimage import data

TFEID = os.path.join(data_root(), 'taiwanese')
needs_tfeid = pytest.mark.skipif(not os.path.isdir(TFEID), reason=f'TFEID not found in {TFEID}')
# FER2013 test faces turned about 55 degrees (their mirror images turn the other way).
TURNED_FER2013_TEST_FACES = (961, 1594)


def pose_of(image):
    face = detect_single_face(image)
    return head_pose(face.points, image.shape[1], image.shape[0])


@needs_tfeid
def test_a_frontal_face_is_near_zero_and_in_plane_rotation_is_roll():
    image = load_rgb(os.path.join(TFEID, '0101a02.jpg'))  # neutral, frontal
    yaw, pitch, roll = pose_of(image)
    assert max(abs(yaw), abs(pitch), abs(roll)) < 5.0, (yaw, pitch, roll)
    height, width = image.shape[:2]
    for angle in (15.0, -15.0):
        # OpenCV turns positive angles counter-clockwise: roll (clockwise) falls by them.
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        rotated = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        assert pose_of(rotated)[2] == pytest.approx(roll - angle, abs=3.0)


@pytest.mark.skipif(not os.path.isfile(fer2013_path()), reason='FER2013 not found')
@pytest.mark.parametrize('index', TURNED_FER2013_TEST_FACES)
def test_a_mirrored_face_has_the_opposite_yaw(index):
    with np.load(fer2013_path()) as arrays:
        image = np.repeat(arrays['test_x'][index][:, :, None], 3, axis=2)
    yaw = pose_of(image)[0]
    mirrored_yaw = pose_of(np.ascontiguousarray(image[:, ::-1]))[0]
    assert abs(yaw) > 30.0
    assert mirrored_yaw == pytest.approx(-yaw, abs=8.0)


def test_a_known_3d_turn_of_a_real_mesh_is_measured():
    image = data.astronaut()
    face = detect_single_face(image)
    height, width = image.shape[:2]
    scale = np.array([width, height, width])
    pixels = face.points[:468] * scale
    centre = pixels.mean(axis=0)
    base = np.array(head_pose(face.points, width, height))
    for axis, angle in (('yaw', 20.0), ('pitch', -15.0), ('roll', 10.0)):
        expected = np.array([angle if name == axis else 0.0 for name in ('yaw', 'pitch', 'roll')])
        turned = ((pixels - centre) @ pose_rotation(*expected).T + centre) / scale
        measured = np.array(head_pose(turned, width, height)) - base
        np.testing.assert_allclose(measured, expected, atol=2.5, err_msg=axis)


def test_pose_rotation_rebuilds_the_fitted_rotation_from_its_angles():
    image = data.astronaut()
    face = detect_single_face(image)
    height, width = image.shape[:2]
    np.testing.assert_allclose(pose_rotation(*head_pose(face.points, width, height)),
                               head_rotation(face.points, width, height), atol=1e-9)
    assert pose_rotation(30.0, 0.0, 0.0) @ np.array([0.0, 0.0, -1.0]) == pytest.approx(
        [-0.5, 0.0, -math.cos(math.radians(30.0))])  # yaw > 0: the nose to the image's left
