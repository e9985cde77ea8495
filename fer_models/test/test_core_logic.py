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

"""Tracking, windows, smoothing and metrics: the pure logic behind the nodes."""

import math
import os
import subprocess
import sys

from fer_models.core.smoothing import decide, pose_gate, ProbabilitySmoother
from fer_models.core.tracking import EveryNthPerFace, FaceTracker, iou
from fer_models.core.window import FaceWindows
from fer_models.research.metrics import classification_report, format_report
import numpy as np
import pytest

pytestmark = pytest.mark.pure


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_tracker_keeps_ids_under_motion_and_separates_faces():
    tracker = FaceTracker(iou_threshold=0.3, timeout_s=0.5)
    assert tracker.update([(0, 0, 100, 100), (300, 0, 100, 100)], 0.0) == [1, 2]
    # Both faces move a little and are listed in the other order.
    assert tracker.update([(310, 5, 100, 100), (8, 4, 100, 100)], 0.033) == [2, 1]


def test_tracker_expires_after_frames_without_the_face():
    tracker = FaceTracker(timeout_s=0.5)
    assert tracker.update([(0, 0, 100, 100)], 0.0) == [1]
    assert tracker.update([], 0.1) == []
    assert tracker.update([(0, 0, 100, 100)], 0.5) == [1]  # missing 0.4 s: kept
    tracker.update([], 0.6)
    assert tracker.update([(0, 0, 100, 100)], 1.2) == [2]  # missing 0.6 s: new id


def test_tracker_survives_a_pause_in_processing():
    tracker = FaceTracker(timeout_s=0.5)
    tracker.update([(0, 0, 100, 100)], 0.0)
    assert tracker.update([(2, 0, 100, 100)], 3.0) == [1]  # no frame between: same face


def test_every_nth_per_face_refreshes_each_face_on_its_own_schedule():
    refresh = EveryNthPerFace(3)
    schedule = []
    for frame in range(7):
        faces = [1] if frame < 2 else [1, 2]  # face 2 arrives at frame 2
        due = refresh.due(faces)
        schedule.append(due)
        for face_id, stale in zip(faces, due):
            if stale:
                refresh.store(face_id, f'{face_id}@{frame}')
    assert schedule == [[True], [False], [False, True], [True, False], [False, False],
                        [False, True], [True, False]]
    assert refresh.value(1) == '1@6' and refresh.value(2) == '2@5'
    # A face missing from a frame loses its value and is due when it returns.
    assert refresh.due([2]) == [False] and refresh.value(1) is None
    assert refresh.due([1, 2]) == [True, True]
    assert EveryNthPerFace(1).due([4]) == [True]
    with pytest.raises(ValueError):
        EveryNthPerFace(0)


def test_windows_fill_then_emit_every_stride():
    windows = FaceWindows(window_length=3, stride=2, face_timeout_s=1.0)
    emitted = [windows.push(7, np.full(2, i, np.float32), i * 0.1) for i in range(7)]
    assert [e is not None for e in emitted] == [False, False, True, False, True, False, True]
    np.testing.assert_array_equal(emitted[4][:, 0], [2, 3, 4])


def test_windows_forget_stale_faces_and_reset_on_new_shapes():
    windows = FaceWindows(window_length=2, face_timeout_s=1.0)
    windows.push(1, np.zeros(3), 0.0)
    windows.push(2, np.zeros(3), 0.9)
    assert windows.forget_stale(1.5) == [1]
    assert windows.face_ids == [2]
    assert windows.push(2, np.zeros(4), 1.0) is None  # other feature size: new buffer


def test_ema_smoothing_and_threshold():
    smoother = ProbabilitySmoother('ema', alpha=0.5)
    smoother.update(1, [1.0, 0.0])
    probabilities, top = smoother.update(1, [0.0, 1.0])
    np.testing.assert_allclose(probabilities, [0.5, 0.5])
    assert decide(('a', 'b'), [0.2, 0.8], 1, threshold=0.5) == ('b', 0.8, '')
    assert decide(('a', 'b'), [0.45, 0.55], 1, threshold=0.6) == (
        'unknown', 0.55, 'confidence 0.55 below confidence_threshold 0.6')
    other, _ = smoother.update(2, [0.0, 1.0])  # faces are smoothed separately
    np.testing.assert_allclose(other, [0.0, 1.0])


def test_pose_gate_names_the_turn_and_ignores_roll_and_unknown_poses():
    assert pose_gate((62.4, 3.0, 0.0), 50.0) == (
        'head turned 62 deg, beyond max_head_angle_deg 50')
    assert pose_gate((-10.0, -55.0, 0.0), 50.0).startswith('head turned 55 deg')
    assert pose_gate((10.0, 5.0, 80.0), 50.0) == ''
    assert pose_gate((math.nan, math.nan, math.nan), 50.0) == ''
    assert pose_gate((62.4, 3.0, 0.0), 180.0) == ''


def test_majority_smoothing_votes_over_history():
    smoother = ProbabilitySmoother('majority', history=3)
    for probabilities in ([0.9, 0.1], [0.8, 0.2], [0.1, 0.9]):
        _, top = smoother.update(1, probabilities)
    assert top == 0
    smoother.update(1, [0.2, 0.8])
    _, top = smoother.update(1, [0.3, 0.7])
    assert top == 1


def test_smoother_forgets_faces():
    smoother = ProbabilitySmoother('ema', alpha=0.1)
    smoother.update(1, [1.0, 0.0])
    smoother.forget_all_except([2])
    probabilities, _ = smoother.update(1, [0.0, 1.0])
    np.testing.assert_allclose(probabilities, [0.0, 1.0])


@pytest.mark.parametrize('method, alpha, history',
                         [('mean', 0.5, 1), ('ema', 0.0, 1), ('majority', 0.5, 0)])
def test_smoother_rejects_bad_settings(method, alpha, history):
    with pytest.raises(ValueError):
        ProbabilitySmoother(method, alpha, history)


def test_classification_report_by_hand():
    truth = ['happy', 'happy', 'sad', 'sad', 'angry']
    predicted = ['happy', 'sad', 'sad', 'unknown', 'angry']
    report = classification_report(truth, predicted, ['happy', 'sad', 'angry'])
    assert report['accuracy'] == 0.6
    assert report['predicted_labels'] == ['happy', 'sad', 'angry', 'unknown']
    assert report['confusion'] == [[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert report['per_class']['sad'] == {'precision': 0.5, 'recall': 0.5, 'f1': 0.5,
                                          'support': 2}
    # F1: happy 2/3, sad 1/2, angry 1.
    assert report['macro_f1'] == pytest.approx((2 / 3 + 0.5 + 1) / 3, abs=1e-4)
    assert 'accuracy=0.6' in format_report(report)


def test_shipped_models_are_found_from_a_source_checkout_without_ament():
    code = ('from fer_models.core.resources import shipped_model; import os; '
            "print(os.path.isfile(shipped_model('landmark_default.onnx')))")
    environment = {k: v for k, v in os.environ.items()
                   if k not in ('AMENT_PREFIX_PATH', 'PYTHONPATH')}
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            env={**environment, 'PYTHONPATH': source}, timeout=60)
    assert result.stdout.strip() == 'True', result.stderr[-1000:]


def test_windows_keep_at_most_max_faces_whatever_the_time():
    windows = FaceWindows(window_length=2, face_timeout_s=1.0, max_faces=3)
    for face_id in range(10):  # stamps that never move: only the count can expire faces
        windows.push(face_id, np.zeros(4, np.float32), 0.0)
        windows.forget_stale(0.0)
    assert windows.face_ids == [7, 8, 9]
    windows.push(7, np.zeros(4, np.float32), 0.0)  # seen again: now the most recent
    windows.push(10, np.zeros(4, np.float32), 0.0)
    assert windows.forget_stale(0.0) == [8]
    assert sorted(windows.face_ids) == [7, 9, 10]


def test_tracker_keeps_at_most_max_tracks_whatever_the_time():
    tracker = FaceTracker(iou_threshold=0.3, timeout_s=0.5, max_tracks=3)
    for index in range(10):  # a new face in each frame, and a clock that never moves
        tracker.update([(100 * index, 0, 50, 50)], 0.0)
    assert len(tracker.active_ids) == 3
    assert tracker.active_ids[-1] == 10  # the face in view is never the one dropped
