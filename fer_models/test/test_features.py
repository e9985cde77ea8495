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

"""Landmark features on real Face Mesh landmarks of a real face."""

from fer_models.core.features import (
    DLIB68_FROM_MESH, FeatureError, FeatureExtractor, FeatureSpec, GEOMETRIC_NAMES,
    NEUTRAL_REFERENCE, normalise_points)
from fer_models.core.head_pose import pose_rotation
from fer_models.core.landmarks import detect_single_face, landmarks_to_array
from mediapipe.framework.formats import landmark_pb2
import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope='module')
def face():
    """Return (points, width, height) of the astronaut portrait's face."""
    image = data.astronaut()
    return detect_single_face(image).points, image.shape[1], image.shape[0]


def transform(points, width, height, angle, scale, shift):
    """Rotate/scale/shift normalised points in pixel space; return normalised."""
    pixels = points[:, :2] * [width, height]
    centre = pixels.mean(axis=0)
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    rotated = (pixels - centre) @ np.array([[cos_a, -sin_a], [sin_a, cos_a]]).T
    moved = rotated * scale + centre + shift
    out = points.copy()
    out[:, :2] = moved / [width, height]
    out[:, 2] *= scale
    return out


@pytest.mark.parametrize('text, name, frame_dim, dim', [
    ('coords', 'dlib68:coords', 136, 136),
    ('mesh468:coords', 'mesh468:coords', 936, 936),
    ('geometric+coords', 'dlib68:coords+geometric', 151, 151),
    ('dlib68:distances', 'dlib68:distances', 276, 276),
    ('coords+velocity+displacement', 'dlib68:coords+displacement+velocity', 136, 408),
    ('geometric+coords/neutral', 'dlib68:coords+geometric/neutral', 151, 151),
    ('dlib68@3d:coords+velocity/neutral', 'dlib68@3d:coords+velocity/neutral', 136, 272),
])
def test_spec_parsing(text, name, frame_dim, dim):
    spec = FeatureSpec.parse(text)
    assert (spec.name, spec.frame_dim, spec.dim) == (name, frame_dim, dim)


@pytest.mark.parametrize('text, reason', [
    ('', 'empty'), ('dlib5:coords', 'layout'), ('coords+smiles', 'unknown feature kind'),
    ('velocity', 'no per-frame kind'), ('coords+coords', 'repeated'),
    ('coords/resting', "unknown feature reference '/resting'"),
    ('coords/', "unknown feature reference '/'"),
])
def test_invalid_specs(text, reason):
    with pytest.raises(FeatureError, match=reason):
        FeatureSpec.parse(text)


def test_relative_features_are_a_feature_type_of_their_own():
    absolute = FeatureSpec.parse('dlib68:coords+geometric')
    relative = absolute.with_reference(NEUTRAL_REFERENCE)
    assert relative.name == 'dlib68:coords+geometric/neutral'
    assert relative != absolute and relative.dim == absolute.dim
    assert relative.with_reference('') == absolute


def test_dlib_layout_is_68_distinct_mesh_points():
    assert len(DLIB68_FROM_MESH) == 68 == len(set(DLIB68_FROM_MESH.tolist()))
    assert DLIB68_FROM_MESH.max() < 468


def test_features_ignore_position_size_and_roll(face):
    points, width, height = face
    extractor = FeatureExtractor('dlib68:coords+distances+geometric')
    reference = extractor.frame(points, width, height)
    moved = transform(points, width, height, angle=0.3, scale=0.6, shift=(40.0, -25.0))
    np.testing.assert_allclose(extractor.frame(moved, width, height), reference, atol=1e-4)
    assert reference.shape == (extractor.spec.frame_dim,)


def test_normalised_face_has_level_eyes_and_unit_iod(face):
    normalised = normalise_points(*face)
    right_eye = normalised[[33, 133], :2].mean(axis=0)
    left_eye = normalised[[362, 263], :2].mean(axis=0)
    assert abs(right_eye[1] - left_eye[1]) < 1e-6
    assert abs(np.linalg.norm(left_eye - right_eye) - 1.0) < 1e-6


def test_geometric_descriptors_see_the_smile(face):
    features = FeatureExtractor('geometric').frame(*face)
    named = dict(zip(GEOMETRIC_NAMES, features))
    # A smile lifts the mouth corners above the lip centre (image y is down).
    assert named['right_mouth_corner_drop'] < 0 and named['left_mouth_corner_drop'] < 0
    assert 0.1 < named['right_eye_aspect'] < 0.6 and 0.1 < named['left_eye_aspect'] < 0.6


def test_window_kinds(face):
    extractor = FeatureExtractor('coords+displacement+velocity')
    frame = extractor.frame(*face)
    still = extractor.window(np.tile(frame, (5, 1)))
    size = len(frame)
    assert still.shape == (5, 3 * size)
    assert not np.any(still[:, size:])  # a still face neither moves nor changes
    ramp = np.stack([frame + step for step in range(5)])
    window = extractor.window(ramp)
    np.testing.assert_allclose(window[:, size:2 * size], np.arange(5)[:, None] * np.ones(size),
                               atol=1e-5)
    np.testing.assert_allclose(window[1:, 2 * size:], 1.0, atol=1e-5)
    np.testing.assert_allclose(window[0, 2 * size:], 0.0, atol=1e-5)


@pytest.mark.parametrize('points, reason', [
    (np.zeros((100, 3)), 'at least 468'),
    (np.full((468, 3), np.nan), 'NaN'),
    (np.zeros((468, 3)), 'degenerate'),
])
def test_unusable_landmarks(points, reason):
    with pytest.raises(FeatureError, match=reason):
        FeatureExtractor('coords').frame(points, 640, 480)


def test_3d_alignment_undoes_a_head_turn_that_roll_alignment_keeps(face):
    points, width, height = face
    pixels = points[:468] * np.array([width, height, width])
    centre = pixels.mean(axis=0)
    turned = (pixels - centre) @ pose_rotation(25.0, 0.0, 0.0).T + centre  # yaw 25
    turned_points = turned / np.array([width, height, width])
    frontal = FeatureExtractor('dlib68@3d:coords+geometric')
    roll_only = FeatureExtractor('dlib68:coords+geometric')
    frontal_change = np.abs(frontal.frame(turned_points, width, height)
                            - frontal.frame(points, width, height)).max()
    roll_change = np.abs(roll_only.frame(turned_points, width, height)
                         - roll_only.frame(points, width, height)).max()
    assert frontal_change < 0.02 < roll_change
    assert frontal.name == 'dlib68@3d:coords+geometric' and frontal.dim == roll_only.dim


def test_unknown_alignment_is_named():
    with pytest.raises(FeatureError, match='@sideways'):
        FeatureSpec.parse('dlib68@sideways:coords')


def test_landmarks_are_read_from_bytes_exactly_as_from_attributes(face):
    points = face[0]
    landmarks = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in points:
        landmarks.landmark.add(x=x, y=y, z=z)
    by_attribute = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float32)
    assert np.array_equal(landmarks_to_array(landmarks), by_attribute)
    # Protobuf omits a coordinate of exactly 0 and adds optional fields: the
    # bytes no longer have one layout, and the attribute path takes over.
    landmarks.landmark[3].z = 0.0
    landmarks.landmark[9].visibility = 0.7
    by_attribute[3, 2] = 0.0
    assert np.array_equal(landmarks_to_array(landmarks), by_attribute)
