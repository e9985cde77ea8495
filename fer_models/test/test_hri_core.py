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

"""REP-155 mapping, head-pose frames and derived valence/arousal, without ROS, on a real face."""

import math
import os

from fer_models.core.affect import VALENCE_AROUSAL, valence_arousal
from fer_models.core.features import DLIB68_FROM_MESH, mean_face
from fer_models.core.head_pose import head_pose, pose_rotation
from fer_models.core.hri import (
    expression_of, face_frame, FaceRegistry, focal_length_px, GAZE_IN_FACE, landmarks70,
    LEFT_PUPIL, normalised_roi, PUPIL_DISTANCE_M, pupils, quaternion, RIGHT_PUPIL)
from fer_models.core.labels import BASIC_LABELS, CONTEMPT, UNKNOWN
from fer_models.core.landmarks import FaceMeshDetector
import numpy as np
import pytest
from skimage import data

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_DIR = os.environ.get('FER_DATA_DIR', os.path.join(os.path.dirname(REPO), 'shared', 'data'))


@pytest.fixture(scope='module')
def astronaut_points():
    """Return the astronaut portrait's Face Mesh points: 468 and 478 (refined irises)."""
    image = data.astronaut()
    found = []
    for refine in (False, True):
        detector = FaceMeshDetector(refine_landmarks=refine, static_image_mode=True)
        try:
            (face,) = detector.detect(image)
        finally:
            detector.close()
        found.append(face.points)
    return found


@pytest.mark.pure
def test_label_mapping_names_hri_msgs_constants():
    assert {label: expression_of(label) for label in BASIC_LABELS} == {
        'neutral': 'neutral', 'happy': 'happy', 'sad': 'sad', 'surprise': 'surprised',
        'fear': 'scared', 'disgust': 'disgusted', 'angry': 'angry'}
    assert expression_of(UNKNOWN) is None and expression_of(CONTEMPT) is None


@pytest.mark.parametrize('which', [0, 1], ids=['468 points', '478 points'])
def test_landmarks70_follow_the_dlib_order_on_a_real_face(astronaut_points, which):
    points = astronaut_points[which]
    marks = landmarks70(points)
    assert marks.shape == (70, 3) and marks.dtype == np.float32
    assert np.all(marks[:, 2] == 1.0)  # the whole face is inside the image
    np.testing.assert_array_equal(marks[:68, :2], points[DLIB68_FROM_MESH, :2])
    x, y = marks[:, 0], marks[:, 1]
    # The subject's right is the image's left (an unmirrored camera).
    assert x[0] < x[8] < x[16]                       # RIGHT_EAR, MENTON, LEFT_EAR
    assert y[8] == y[:68].max()                      # the menton is the lowest point
    assert x[36] < x[39] < x[42] < x[45]             # eye corners: right out/in, left in/out
    assert x[48] < x[51] < x[54]                     # mouth corners around the top lip
    assert y[27] < y[30] < y[51] < y[57]             # sellion, nose tip, lips
    for pupil, eye in ((RIGHT_PUPIL, slice(36, 42)), (LEFT_PUPIL, slice(42, 48))):
        assert x[eye].min() < x[pupil] < x[eye].max()
        assert y[eye].min() - 0.01 < y[pupil] < y[eye].max() + 0.01


def test_landmarks_outside_the_image_are_clipped_and_flagged(astronaut_points):
    points = astronaut_points[0].copy()
    points[DLIB68_FROM_MESH[0], 0] = -0.2
    marks = landmarks70(points)
    assert marks[0, 0] == 0.0 and marks[0, 2] == 0.0 and marks[1:, 2].min() == 1.0
    with pytest.raises(ValueError, match='468'):
        landmarks70(points[:68])


@pytest.mark.pure
def test_normalised_roi_is_clipped():
    assert normalised_roi((64, 48, 320, 240), 640, 480) == pytest.approx((0.1, 0.1, 0.6, 0.6))
    assert normalised_roi((-10, 400, 100, 200), 640, 480) == pytest.approx(
        (0.0, 400 / 480, 90 / 640, 1.0))
    with pytest.raises(ValueError):
        normalised_roi((0, 0, 1, 1), 0, 480)


def tokens():
    names = iter(['aaaa', 'bbbb', 'cccc', 'dddd'])
    return lambda: next(names)


@pytest.mark.pure
def test_ids_are_stable_while_tracked_and_lost_after_the_timeout():
    registry = FaceRegistry(0.5, new_token=tokens())
    assert registry.update([1], 0.0) == (['aaaa1'], [])
    assert registry.update([1, 2], 0.1) == (['aaaa2'], [])
    assert registry.update([2], 0.5) == ([], [])          # face 1 missing 0.4 s: still tracked
    assert registry.tracked == ['aaaa1', 'aaaa2']
    assert registry.update([2], 0.61) == ([], ['aaaa1'])  # missing 0.51 s: lost
    assert registry.id_of(1) is None and registry.id_of(2) == 'aaaa2'
    assert registry.expire(1.2) == ['aaaa2'] and registry.tracked == []


@pytest.mark.pure
def test_a_restarted_tracker_never_reuses_a_lost_id():
    registry = FaceRegistry(0.5, new_token=tokens())
    registry.update([1], 0.0)
    registry.update([], 1.0)                               # face 1 lost
    assert registry.update([1], 2.0) == (['bbbb1'], [])    # tracker restarted: new token
    assert registry.update([1, 2], 2.1) == (['bbbb2'], [])


@pytest.mark.pure
def test_thousands_of_faces_leave_nothing_behind():
    registry = FaceRegistry(0.5)
    seen = set()
    for face_id in range(1, 5001):
        appeared, _ = registry.update([face_id], face_id * 0.2)
        seen.update(appeared)
        assert len(registry.tracked) <= 3
    assert len(seen) == 5000
    assert len(registry._faces) <= 3


@pytest.mark.pure
def test_valence_arousal_points_and_expectation():
    labels = BASIC_LABELS
    for index, label in enumerate(labels):
        one_hot = np.eye(len(labels))[index]
        assert valence_arousal(labels, one_hot) == pytest.approx(VALENCE_AROUSAL[label])
    assert valence_arousal(labels, np.eye(7)[0]) == (0.0, 0.0)  # neutral: the origin
    flat = valence_arousal(labels, np.full(7, 1 / 7))
    assert flat == pytest.approx((-0.167, 0.35), abs=1e-3)     # uncertain: the points' mean
    assert all(-1 <= v <= 1 for v in flat)
    # Labels without a point are left out; nothing left: NaN.
    assert valence_arousal(('happy', 'contempt'), (0.5, 0.5)) == pytest.approx((0.81, 0.51))
    assert np.isnan(valence_arousal(('contempt',), (1.0,))).all()


@pytest.mark.parametrize('label, sign', [('happy', 1), ('sad', -1)])
def test_valence_on_real_posed_faces(label, sign):
    """Happy TFEID faces through the pipeline's code get positive valence, sad ones negative."""
    from fer_models.research.studies.affect import affect_by_class
    from fer_models.research.evaluate import read_labels
    from fer_models.research.pipeline_params import load

    folder = os.path.join(DATA_DIR, 'taiwanese')
    if not os.path.isdir(folder):
        pytest.skip(f'TFEID images not found in {folder}')
    rows = [row for row in read_labels(os.path.join(folder, 'labels.csv')) if row[1] == label]
    points, _, _ = affect_by_class(folder, rows[::len(rows) // 6][:6], load(None))
    valences = np.array(points[label])[:, 0]
    assert len(valences) >= 5
    assert sign * np.mean(valences) > 0.2
    assert np.mean(sign * valences > 0) >= 0.8


def rotation_angle_deg(a, b):
    """Return the angle in degrees of the rotation between two rotation matrices."""
    return math.degrees(math.acos(np.clip((np.trace(a.T @ b) - 1.0) / 2.0, -1.0, 1.0)))


def projected_mesh(translation, pose_deg, width=640, height=480, fov_deg=60.0):
    """
    SYNTHETIC: the mean face, pupils PUPIL_DISTANCE_M apart, posed and seen by a pinhole camera.

    Returns Face Mesh style points: x, y normalised to the image, z the depth
    relative to the pupils' midpoint in the scale of x, as MediaPipe gives it.
    """
    face = mean_face().astype(np.float64)
    right, left = pupils(face)
    face = (face - 0.5 * (right + left)) * PUPIL_DISTANCE_M / np.linalg.norm(right - left)
    # mean_face is in the image's axes (x right, y down, z away): frontal is no rotation.
    camera = face @ pose_rotation(*pose_deg).T + np.asarray(translation)
    focal = focal_length_px(width, fov_deg)
    depth = translation[2]
    return np.column_stack([(focal * camera[:, 0] / camera[:, 2] + width / 2) / width,
                            (focal * camera[:, 1] / camera[:, 2] + height / 2) / height,
                            focal * (camera[:, 2] - depth) / depth / width])


@pytest.mark.pure
@pytest.mark.parametrize('translation, pose_deg', [
    ((0.0, 0.0, 1.0), (0.0, 0.0, 0.0)),
    ((0.25, -0.1, 0.8), (30.0, -10.0, 5.0)),
    ((-0.4, 0.2, 2.5), (-40.0, 15.0, -20.0)),
])
def test_face_frame_recovers_a_synthetic_face_placed_in_front_of_a_camera(translation, pose_deg):
    points = projected_mesh(translation, pose_deg)
    found, rotation = face_frame(points, 640, 480, pose_deg, horizontal_fov_deg=60.0)
    np.testing.assert_allclose(found, translation, rtol=0.03, atol=0.01)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    # x out of the face: for a frontal face, towards the camera; z up: against the image's y.
    turned = pose_rotation(*pose_deg)
    np.testing.assert_allclose(rotation[:, 0], turned @ [0.0, 0.0, -1.0], atol=1e-9)
    np.testing.assert_allclose(rotation[:, 2], turned @ [0.0, -1.0, 0.0], atol=1e-9)


@pytest.mark.parametrize('which', [0, 1], ids=['468 points', '478 points'])
def test_the_astronaut_faces_the_camera_an_arm_s_length_away(astronaut_points, which):
    points = astronaut_points[which]
    pose = head_pose(points, 512, 512)
    translation, rotation = face_frame(points, 512, 512, pose, horizontal_fov_deg=60.0)
    # A 512-pixel portrait with a face about 100 pixels wide, seen at 60 degrees: 0.5-1 m.
    assert 0.4 < translation[2] < 1.2, translation
    # The origin projects back onto the midpoint of the pupils.
    focal = focal_length_px(512, 60.0)
    midpoint = landmarks70(points)[[RIGHT_PUPIL, LEFT_PUPIL], :2].mean(axis=0) * 512
    np.testing.assert_allclose(focal * translation[:2] / translation[2] + 256, midpoint,
                               atol=1.0)
    towards_camera = -rotation[2, 0]
    assert towards_camera > math.cos(math.radians(30.0)), rotation
    # gaze_<id>: z along the face's x, x to the subject's right, y down (optical).
    gaze = rotation @ GAZE_IN_FACE
    np.testing.assert_allclose(gaze[:, 2], rotation[:, 0], atol=1e-9)
    assert gaze[0, 0] < -0.8 and gaze[1, 1] > 0.8  # the subject's right is the image's left


@pytest.mark.pure
def test_an_unknown_head_pose_or_a_degenerate_mesh_gives_no_frame():
    points = projected_mesh((0.0, 0.0, 1.0), (0.0, 0.0, 0.0))
    assert face_frame(points, 640, 480, (math.nan, 0.0, 0.0), 60.0) is None
    assert face_frame(points, 640, 480, None, 60.0) is None
    assert face_frame(np.zeros((468, 3)), 640, 480, (0.0, 0.0, 0.0), 60.0) is None


def matrix_of(q):
    """Return the rotation matrix of a unit quaternion (x, y, z, w), the textbook formula."""
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@pytest.mark.pure
def test_quaternion_round_trips_every_branch():
    assert quaternion(np.eye(3)) == pytest.approx((0.0, 0.0, 0.0, 1.0))
    half_turns = [np.diag(d) for d in ((1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0))]
    rng = np.random.default_rng(0)
    poses = [pose_rotation(*rng.uniform(-180.0, 180.0, 3)) for _ in range(50)]
    for rotation in half_turns + poses + [GAZE_IN_FACE]:
        q = quaternion(rotation)
        assert np.linalg.norm(q) == pytest.approx(1.0)
        assert rotation_angle_deg(matrix_of(q), rotation) < 1e-5
