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

"""REP-155 mapping and derived valence/arousal, without ROS, on a real face."""

import os

from fer_models.core.affect import VALENCE_AROUSAL, valence_arousal
from fer_models.core.features import DLIB68_FROM_MESH
from fer_models.core.hri import (
    expression_of, FaceRegistry, landmarks70, LEFT_PUPIL, normalised_roi, RIGHT_PUPIL)
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
