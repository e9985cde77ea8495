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

import json
import os

from fer_models.core.baseline import (
    AUTO, COLLECTING, DEFAULT_MODELS, FaceBaselines, frame_motion, load_resting_corrections,
    log_probabilities, mode_mismatch, mode_of_feature_type, neutral_probability,
    NeutralBaseline, OFF, READY, RESTING_FILE, RestingCorrection)
from fer_models.core.features import FeatureExtractor
from fer_models.core.labels import BASIC_LABELS
from fer_models.core.landmarks import detect_single_face
from fer_models.core.onnx_model import EmotionModel
from fer_models.core.resources import shipped_model
from fer_models.core.window import FaceWindows
from fer_models.research.fer2013 import fer2013_path
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
    assert np.abs(baseline.estimate - rest).max() < 4 * JITTER


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


def test_without_neutral_scores_the_first_still_frames_are_kept(rest):
    baseline = NeutralBaseline(frames_needed=3, max_motion=0.02)
    frames = still_frames(rest, 4, seed=5)
    for frame in frames:
        baseline.update(frame)
    later = still_frames(rest + 0.01, 10, seed=6)
    for frame in later:
        baseline.update(frame)
    np.testing.assert_allclose(baseline.estimate, np.median(frames[1:], axis=0))
    assert baseline.updates == 1


def test_frames_the_appearance_path_does_not_read_as_neutral_are_not_resting(rest):
    baseline = NeutralBaseline(frames_needed=3, max_motion=0.02, min_neutral=0.3)
    for frame in still_frames(rest, 10, seed=8):
        assert baseline.update(frame, neutral_score=0.1) == COLLECTING
    assert baseline.collected == 0
    for frame in still_frames(rest, 3, seed=9):
        baseline.update(frame, neutral_score=0.5)
    assert baseline.state == READY and baseline.collected == 3


def test_a_track_that_starts_smiling_gets_its_resting_face_when_it_relaxes(rest):
    smile = rest + 0.05
    baseline = NeutralBaseline(frames_needed=4, max_motion=0.02, min_neutral=0.0)
    for frame in still_frames(smile, 6, seed=10):
        baseline.update(frame, neutral_score=0.1)
    assert baseline.state == READY
    assert np.abs(baseline.estimate - smile).max() < 4 * JITTER
    # The relaxed face reads more neutral: it replaces the smile, frame by frame.
    relaxed = still_frames(rest, 6, seed=11)
    for frame in relaxed:
        baseline.update(frame, neutral_score=0.7)
    assert baseline.collected == 4 and baseline.updates == 5  # ready, then 4 replacements
    assert np.abs(baseline.estimate - rest).max() < 4 * JITTER
    # Less neutral-looking frames later change nothing; memory stays bounded.
    for frame in still_frames(smile, 20, seed=12):
        baseline.update(frame, neutral_score=0.6)
    assert baseline.collected == 4 and np.abs(baseline.estimate - rest).max() < 4 * JITTER


def test_a_frame_only_a_little_more_neutral_does_not_displace_a_kept_one(rest):
    baseline = NeutralBaseline(frames_needed=3, max_motion=0.02, min_neutral=0.0,
                               replace_margin=0.1)
    for frame in still_frames(rest, 4, seed=15):
        baseline.update(frame, neutral_score=0.5)
    estimate = baseline.estimate.copy()
    for frame in still_frames(rest + 0.05, 10, seed=16):
        baseline.update(frame, neutral_score=0.55)
    np.testing.assert_array_equal(baseline.estimate, estimate)
    assert baseline.updates == 1


def test_resting_appearance_is_the_mean_log_probability_of_the_kept_frames(rest):
    baseline = NeutralBaseline(frames_needed=2, max_motion=0.02, min_neutral=0.0)
    outputs = [np.array([0.5, 0.3, 0.2]), np.array([0.6, 0.2, 0.2]), np.array([0.1, 0.1, 0.8])]
    frames = still_frames(rest, 4, seed=13)
    baseline.update(frames[0])
    for frame, output in zip(frames[1:], outputs):
        baseline.update(frame, output[0], log_probabilities(output))
    # The third output reads least neutral: it does not displace the others.
    np.testing.assert_allclose(baseline.resting_log_probabilities,
                               np.log(outputs[:2]).mean(axis=0))


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


@pytest.mark.parametrize('frames_needed, max_motion, min_neutral',
                         [(0, 0.02, 0.2), (5, -0.1, 0.2), (5, 0.02, 1.5)])
def test_bad_settings_are_refused(frames_needed, max_motion, min_neutral):
    with pytest.raises(ValueError, match='frames_needed'):
        FaceBaselines(frames_needed, max_motion, min_neutral)


def test_summary_says_how_many_resting_frames_each_face_has(rest):
    baselines = FaceBaselines(frames_needed=3, max_motion=0.02)
    for frame in still_frames(rest, 3, seed=14):
        baselines.update(4, frame)
    baselines.update(2, rest)
    assert baselines.summary() == 'face 2: 0/3, face 4: 2/3'
    assert FaceBaselines().summary() == 'no face'


LABELS = BASIC_LABELS  # neutral, happy, sad, surprise, fear, disgust, angry
TYPICAL = np.log([0.55, 0.05, 0.15, 0.05, 0.08, 0.04, 0.08])


def test_neutral_probability_of_an_appearance_output():
    assert neutral_probability(LABELS, np.exp(TYPICAL)) == pytest.approx(0.55)
    assert neutral_probability(('happy', 'sad'), [0.5, 0.5]) is None


def test_correction_leaves_a_typical_resting_face_alone():
    correction = RestingCorrection('m', LABELS, tuple(TYPICAL), 0.8)
    output = np.array([0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05])
    np.testing.assert_allclose(correction.correct(output, TYPICAL), output, atol=1e-9)


def test_correction_stops_reading_a_sad_resting_face_as_sad():
    correction = RestingCorrection('m', LABELS, tuple(TYPICAL), 1.0)
    sad_at_rest = np.array([0.3, 0.02, 0.55, 0.02, 0.05, 0.02, 0.04])
    corrected = correction.correct(sad_at_rest, np.log(sad_at_rest))
    assert LABELS[int(np.argmax(sad_at_rest))] == 'sad'
    assert LABELS[int(np.argmax(corrected))] == 'neutral'
    np.testing.assert_allclose(corrected, np.exp(TYPICAL), atol=1e-9)  # strength 1: typical
    assert corrected.sum() == pytest.approx(1.0)
    # Strength 0 changes nothing.
    unchanged = RestingCorrection('m', LABELS, tuple(TYPICAL), 0.0).correct(
        sad_at_rest, np.log(sad_at_rest))
    np.testing.assert_allclose(unchanged, sad_at_rest, atol=1e-9)


@pytest.mark.parametrize('typical, strength, match', [
    (TYPICAL[:3], 0.5, 'finite typical values'), (TYPICAL, 3.0, 'strength')])
def test_bad_corrections_are_refused(typical, strength, match):
    with pytest.raises(ValueError, match=match):
        RestingCorrection('m', LABELS, tuple(typical), strength)


def test_corrections_file_errors_name_the_file(tmp_path):
    path = tmp_path / 'resting.json'
    with pytest.raises(ValueError, match=str(path)):
        load_resting_corrections(str(path))
    path.write_text(json.dumps({'models': {'m': {'labels': list(LABELS)}}}))
    with pytest.raises(ValueError, match='typical'):
        load_resting_corrections(str(path))


def test_shipped_correction_was_fitted_for_the_shipped_appearance_model():
    import hashlib

    from fer_models.core.crops import CropClassifier
    from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL

    path = shipped_model(DEFAULT_APPEARANCE_MODEL)
    model = CropClassifier(path)
    corrections = load_resting_corrections(shipped_model(RESTING_FILE))
    assert model.model_name in corrections
    assert corrections[model.model_name].labels == tuple(model.labels)
    with open(shipped_model(RESTING_FILE)) as handle:
        recorded = json.load(handle)['models'][model.model_name]['model_sha256']
    with open(path, 'rb') as handle:
        # Its typical resting output is this model's: a new model needs a new one.
        assert hashlib.sha256(handle.read()).hexdigest() == recorded, \
            f'{DEFAULT_APPEARANCE_MODEL} changed: run ./fer train neutral ship-resting'


@pytest.mark.skipif(not os.path.isfile(fer2013_path()),
                    reason='the correction is computed on FER2013 test neutrals: '
                    f'{fer2013_path()} not found')
def test_the_shipped_correction_is_what_resting_correction_computes_for_the_shipped_model():
    from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL
    from fer_models.research.neutral_baseline import resting_correction

    with open(shipped_model(RESTING_FILE)) as handle:
        (name, recorded), = json.load(handle)['models'].items()
    computed = resting_correction(shipped_model(DEFAULT_APPEARANCE_MODEL), recorded['strength'],
                                  recorded['strength_from'])
    assert computed == {name: recorded}


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
