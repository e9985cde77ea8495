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

"""The per-face neutral baseline estimator, on a real face's features."""

from fer_models.core.baseline import (
    AUTO, COLLECTING, collecting_reason, DEFAULT_MODELS, FaceBaselines, frame_motion,
    mode_mismatch, mode_of_feature_type, NeutralBaseline, OFF, READY)
from fer_models.core.features import FeatureExtractor
from fer_models.core.landmarks import detect_single_face
from fer_models.core.onnx_model import EmotionModel
from fer_models.core.resources import shipped_model
from fer_models.core.window import FaceWindows
import numpy as np
import pytest
from skimage import data

JITTER = 0.002  # tracking noise of a face at rest, in inter-ocular distances


@pytest.fixture(scope='module')
def rest():
    """Return the astronaut portrait's real dlib68:coords+geometric features."""
    image = data.astronaut()
    face = detect_single_face(image)
    return FeatureExtractor('dlib68:coords+geometric').frame(
        face.points, image.shape[1], image.shape[0])


def still_frames(features, count, seed):
    """Return ``count`` frames of ``features`` with tracking jitter."""
    noise = np.random.default_rng(seed).normal(0.0, JITTER, (count, features.size))
    return (features + noise).astype(np.float32)


def test_collects_still_frames_until_ready(rest):
    baseline = NeutralBaseline(frames_needed=10, max_motion=0.02)
    frames = still_frames(rest, 11, seed=0)
    states = [baseline.update(frame) for frame in frames]
    # The first frame has no predecessor to measure motion against.
    assert states == [COLLECTING] * 10 + [READY]
    assert baseline.collected == 10
    np.testing.assert_allclose(baseline.estimate, np.median(frames[1:], axis=0))
    assert np.abs(baseline.reference() - rest).max() < 4 * JITTER


def test_moving_frames_are_not_collected(rest):
    baseline = NeutralBaseline(frames_needed=5, max_motion=0.02)
    expression = rest + 0.1  # far beyond the threshold from the resting face
    moving = [rest if index % 2 else expression for index in range(20)]
    assert frame_motion(rest, expression) > 0.02
    assert all(baseline.update(frame) == COLLECTING for frame in moving)
    assert baseline.collected == 0
    for frame in still_frames(rest, 6, seed=1):
        baseline.update(frame)
    assert baseline.state == READY
    assert np.abs(baseline.estimate - rest).max() < 4 * JITTER


def test_median_ignores_an_outlier_frame(rest):
    # A threshold loose enough to let a glitch through: the median must absorb it.
    baseline = NeutralBaseline(frames_needed=9, max_motion=10.0)
    frames = still_frames(rest, 10, seed=2)
    frames[5] = rest + 3.0
    for frame in frames:
        baseline.update(frame)
    assert baseline.state == READY
    assert np.abs(baseline.estimate - rest).max() < 4 * JITTER
    assert np.abs(frames[1:].mean(axis=0) - rest).min() > 0.2  # a mean would not


def test_ready_estimate_is_kept(rest):
    baseline = NeutralBaseline(frames_needed=3, max_motion=0.02)
    for frame in still_frames(rest, 4, seed=3):
        baseline.update(frame)
    estimate = baseline.estimate.copy()
    for frame in still_frames(rest + 0.05, 20, seed=4):  # a held expression later on
        assert baseline.update(frame) == READY
    np.testing.assert_array_equal(baseline.estimate, estimate)


def test_reference_while_collecting_is_provisional(rest):
    baseline = NeutralBaseline(frames_needed=10, max_motion=0.02)
    frames = still_frames(rest, 4, seed=5)
    baseline.update(frames[0])
    np.testing.assert_array_equal(baseline.reference(), frames[0])
    for frame in frames[1:]:
        baseline.update(frame)
    np.testing.assert_allclose(baseline.reference(), np.median(frames[1:], axis=0))
    assert baseline.state == COLLECTING and baseline.collected == 3


def test_other_features_restart_the_collection(rest):
    baseline = NeutralBaseline(frames_needed=10, max_motion=0.02)
    for frame in still_frames(rest, 5, seed=6):
        baseline.update(frame)
    assert baseline.collected == 4
    baseline.update(rest[:136])
    assert baseline.collected == 0


def test_baseline_resets_when_the_face_expires(rest):
    windows = FaceWindows(window_length=4, face_timeout_s=1.0)
    baselines = FaceBaselines(frames_needed=3, max_motion=0.02)
    for index, frame in enumerate(still_frames(rest, 4, seed=7)):
        windows.push(7, frame, now=0.1 * index)
        assert baselines.update(7, frame).state == (READY if index == 3 else COLLECTING)
    baselines.update(8, rest)
    assert (baselines.count(READY), baselines.count(COLLECTING)) == (1, 1)
    baselines.forget(windows.forget_stale(now=2.0))  # face 7 last seen at 0.3 s
    assert baselines.face_ids == [8] and baselines.count(READY) == 0
    again = baselines.update(7, rest)
    assert (again.state, again.collected) == (COLLECTING, 0)


@pytest.mark.parametrize('frames_needed, max_motion', [(0, 0.02), (5, -0.1)])
def test_bad_settings_are_refused(frames_needed, max_motion):
    with pytest.raises(ValueError, match='frames_needed'):
        FaceBaselines(frames_needed, max_motion)


def test_collecting_reason():
    assert collecting_reason(12, 30) == 'collecting neutral baseline 12/30 frames'


def test_each_mode_defaults_to_the_shipped_model_that_reads_its_features():
    for mode, name in DEFAULT_MODELS.items():
        model = EmotionModel(shipped_model(name))
        assert mode_of_feature_type(model.feature_type) == mode, name
        assert mode_mismatch(mode, model.model_name, model.feature_type) is None


@pytest.mark.parametrize('mode, model, fix', [
    (OFF, 'landmark_neutral.onnx', "set neutral_baseline to 'auto'"),
    (AUTO, 'landmark_default.onnx', "set neutral_baseline to 'off'"),
])
def test_a_model_for_the_other_mode_is_a_mismatch_that_says_the_fix(mode, model, fix):
    loaded = EmotionModel(shipped_model(model))
    problem = mode_mismatch(mode, loaded.model_name, loaded.feature_type)
    assert problem and fix in problem and loaded.model_name in problem, problem
    assert DEFAULT_MODELS[mode] in problem
