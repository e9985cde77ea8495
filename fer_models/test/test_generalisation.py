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

"""The generalisation study's pieces: balancing, scoring with missed faces, the shipped model."""

import json
import os

from fer_models.core.onnx_model import EmotionModel
from fer_models.core.resources import shipped_model
from fer_models.research.lodo import (
    balanced_rows, fusion_of, own_class_answers, own_classes_score, Samples, score)
from fer_models.research.protocol import LABELS
import numpy as np
import pytest


def test_smaller_datasets_are_repeated_up_to_a_cap():
    datasets = np.array(['fer2013'] * 1000 + ['taiwanese'] * 100 + ['ckplus48'] * 50)
    rows = balanced_rows(np.arange(len(datasets)), datasets, cap=8)
    counts = {d: int((datasets[rows] == d).sum()) for d in ('fer2013', 'taiwanese', 'ckplus48')}
    assert counts == {'fer2013': 1000, 'taiwanese': 800, 'ckplus48': 400}


def test_an_image_without_a_face_counts_as_an_error():
    count = 4
    samples = Samples(datasets=np.array(['taiwanese'] * count), parts=np.array([''] * count),
                      groups=np.array(['a', 'a', 'b', 'b']), targets=np.array([1, 1, 2, 3]),
                      found=np.array([True, False, True, True]),
                      points=np.zeros((count, 468, 3)), sizes=np.ones((count, 2)),
                      files=np.array(['w', 'x', 'y', 'z']))
    probabilities = np.eye(len(LABELS))[[1, 1, 2, 0]]
    report = score(samples, np.ones(count, bool), probabilities)
    assert report['accuracy'] == 0.5
    assert report['accuracy_on_detected'] == round(2 / 3, 4)
    assert 'no_face' in report['predicted_labels']


def samples_of(datasets, targets, found=None):
    count = len(targets)
    parts = ['test' if dataset == 'fer2013' else '' for dataset in datasets]
    return Samples(datasets=np.array(datasets), parts=np.array(parts),
                   groups=np.array([f'{d}:{i}' for i, d in enumerate(datasets)]),
                   targets=np.array(targets),
                   found=np.ones(count, bool) if found is None else np.array(found),
                   points=np.zeros((count, 468, 3)), sizes=np.ones((count, 2)),
                   files=np.array([str(i) for i in range(count)]))


def test_a_set_without_neutral_is_scored_over_its_own_six_classes():
    happy, sad, surprise, neutral = (LABELS.index(name) for name in
                                     ('happy', 'sad', 'surprise', 'neutral'))
    # CK+48-like: happy, sad, surprise faces (no neutral); the last one has no face.
    samples = samples_of(['ckplus48'] * 5, [happy, sad, surprise, happy, sad],
                         found=[True, True, True, True, False])
    probabilities = np.full((5, len(LABELS)), 0.01)
    probabilities[0, [neutral, happy]] = 0.6, 0.3  # neutral first, happy second: right
    probabilities[1, [neutral, happy]] = 0.6, 0.3  # neutral first, happy second: wrong
    probabilities[2, surprise] = 0.9               # right both ways
    probabilities[3, sad] = 0.9                    # a non-neutral mistake stays one
    probabilities[4, sad] = 0.9                    # no face: an error both ways
    strict = score(samples, np.ones(5, bool), probabilities)
    own = own_classes_score(samples, np.ones(5, bool), probabilities)
    assert strict['accuracy'] == 0.2
    assert own['accuracy'] == 0.4
    neutral_column = own['predicted_labels'].index('neutral')
    assert sum(row[neutral_column] for row in own['confusion']) == 0
    assert sum(row[neutral_column] for row in strict['confusion']) == 2
    # A set with every class scores the same both ways.
    every = samples_of(['taiwanese'] * len(LABELS), list(range(len(LABELS))))
    uniform = np.eye(len(LABELS))[[neutral] * len(LABELS)]
    assert own_classes_score(every, np.ones(len(LABELS), bool), uniform) == score(
        every, np.ones(len(LABELS), bool), uniform)
    answers = own_class_answers(samples_of(['ckplus48'] * 3 + ['taiwanese'] * 2,
                                           [happy, sad, surprise, neutral, happy]),
                                np.eye(len(LABELS))[[neutral, sad, surprise, neutral, neutral]]
                                + np.eye(len(LABELS))[[happy] * 5] * 0.5)
    assert answers.tolist() == [happy, sad, surprise, neutral, neutral]


def test_the_fixed_criterion_chooses_the_fusion_weight_without_rewarding_missing_classes():
    from fer_models.research.studies.generalisation import (
        fixed_criterion, fusion_own_classes_section)

    neutral, happy, sad = (LABELS.index(name) for name in ('neutral', 'happy', 'sad'))
    datasets = ['fer2013'] * 2 + ['taiwanese'] * 2 + ['ckplus48'] * 2
    samples = samples_of(datasets, [neutral, happy, neutral, sad, happy, sad])
    landmark = np.eye(len(LABELS))[[neutral, happy, neutral, sad, neutral, neutral]] * 0.6
    appearance = np.eye(len(LABELS))[[happy, happy, happy, sad, happy, sad]] * 0.6
    entry = fusion_of(samples, landmark + 0.05, appearance + 0.05)
    strict, fixed = entry['modes'], entry['fixed']['modes']
    # On CK+48 the landmark path answers neutral twice: 0 % strict; its second
    # choices (happy, sad tie at 0.05: the first, happy) give 50 % over six classes.
    assert strict['landmark']['lodo']['ckplus48']['accuracy'] == 0.0
    assert fixed['landmark']['lodo']['ckplus48']['accuracy'] == 0.5
    assert fixed['landmark']['lodo']['fer2013'] == strict['landmark']['lodo']['fer2013']
    assert set(entry['fixed']['appearance_weights_chosen_on_other_datasets']) == set(
        entry['appearance_weights_chosen_on_other_datasets'])
    assert 0.0 <= entry['fixed']['appearance_weight'] <= 1.0
    result = {'lodo': strict['landmark']['lodo'],
              'lodo_own_classes': {'ckplus48': fixed['landmark']['lodo']['ckplus48']}}
    assert fixed_criterion(result) == np.mean([strict['landmark']['lodo'][d]['accuracy']
                                               for d in ('fer2013', 'taiwanese')] + [0.5])
    # Once measured, the report gives the modes' fixed scores, not bounds.
    text = '\n'.join(fusion_own_classes_section(entry))
    assert 'Best by the fixed criterion' in text and 'bounds' not in text
    assert f"**{fixed['landmark']['lodo_mean'] * 100:.1f} %**" in text


def test_the_shipped_landmark_model_says_how_it_was_chosen_and_calibrated():
    model = EmotionModel(shipped_model('landmark_default.onnx'))
    metadata = model.metadata
    assert metadata['fer.selection'] == 'mean leave-one-dataset-out accuracy'
    assert float(metadata['fer.temperature']) > 0
    lodo = json.loads(metadata['fer.lodo_accuracy'])
    assert set(lodo) == {'fer2013', 'taiwanese', 'ckplus48'}
    assert tuple(model.labels) == LABELS


def test_a_neutral_baseline_never_uses_the_image_itself():
    from fer_models.research.neutral_baseline import baseline_relative

    features = np.array([[1.0], [3.0], [10.0], [5.0], [7.0]])
    labels = np.array(['neutral', 'neutral', 'happy', 'neutral', 'sad'])
    groups = np.array(['a', 'a', 'a', 'b', 'b'])
    relative, usable = baseline_relative(features, labels, groups)
    np.testing.assert_allclose(relative[:3, 0], [1.0 - 3.0, 3.0 - 1.0, 10.0 - 2.0])
    # b's only neutral image has no other neutral image to be compared with.
    assert usable.tolist() == [True, True, True, False, True]
    assert relative[4, 0] == 2.0


def test_the_shipped_defaults_are_what_the_committed_study_chose():
    from fer_models.core.fusion import DEFAULT_APPEARANCE_WEIGHT, DEFAULT_FUSION
    from fer_models.core.smoothing import DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_HEAD_ANGLE_DEG

    reports = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'reports')
    with open(os.path.join(reports, 'head_pose.json')) as handle:
        pose = json.load(handle)
    assert DEFAULT_MAX_HEAD_ANGLE_DEG == pose['max_head_angle_deg']
    assert pose['gated_path'] in (DEFAULT_FUSION, 'appearance')
    with open(os.path.join(reports, 'generalisation.json')) as handle:
        fusion = json.load(handle)['fusion']
    modes = fusion['modes']
    best = max(modes, key=lambda name: modes[name]['lodo_mean'])
    if DEFAULT_FUSION != best:
        # Only a tie on still images may keep another mode, and only if the
        # track criterion does not break it in the best mode's favour.
        from fer_models.research.protocol import selection_outcome
        from fer_models.research.track_protocol import track_criterion

        assert selection_outcome(modes[best]['lodo_mean'],
                                 modes[DEFAULT_FUSION]['lodo_mean']) == 'tie', best
        with open(os.path.join(reports, 'track_protocol.json')) as handle:
            track = json.load(handle)
        best_on_tracks = track_criterion(track, f'fusion-{best}')
        assert best_on_tracks is not None, f'replay the fusion-{best} arm on tfeid-lodo'
        assert selection_outcome(best_on_tracks, track_criterion(track)) != 'win'
    assert DEFAULT_APPEARANCE_WEIGHT == fusion['shipped_appearance_weight']
    assert DEFAULT_CONFIDENCE_THRESHOLD == fusion['calibration'][DEFAULT_FUSION][
        'confidence_threshold']


def test_top_confusions_name_the_largest_shares_of_each_true_class():
    from fer_models.research.studies.generalisation import top_confusions

    report = {'labels': ['happy', 'sad', 'fear'],
              'predicted_labels': ['happy', 'sad', 'fear', 'no_face'],
              'confusion': [[8, 2, 0, 0], [1, 1, 0, 2], [0, 0, 0, 0]]}
    # sad -> no_face is 2 of 4 sad faces (50 %), happy -> sad 2 of 10, sad -> happy 1 of 4.
    assert top_confusions(report) == ['sad -> no_face 50%', 'sad -> happy 25%',
                                      'happy -> sad 20%']
    assert top_confusions(report, count=1) == ['sad -> no_face 50%']


def test_held_out_temperatures_never_let_a_dataset_calibrate_itself():
    from types import SimpleNamespace

    from fer_models.research.lodo import held_out_temperatures

    rng = np.random.default_rng(0)
    datasets = np.repeat(['fer2013', 'fer2013', 'taiwanese', 'ckplus48'], 200)
    parts = np.repeat(['train', 'test', '', ''], 200)
    samples = SimpleNamespace(datasets=datasets, parts=parts,
                              targets=rng.integers(0, len(LABELS), len(datasets)))
    # Overconfident answers, right one time in three.
    answers = np.where(rng.random(len(datasets)) < 1 / 3, samples.targets,
                       rng.integers(0, len(LABELS), len(datasets)))
    probabilities = np.full((len(datasets), len(LABELS)), 0.02)
    probabilities[np.arange(len(datasets)), answers] = 0.88
    probabilities[datasets == 'fer2013'] = np.nan
    fer2013_test = (datasets == 'fer2013') & (parts == 'test')
    probabilities[fer2013_test] = probabilities[datasets == 'ckplus48']
    scaled, temperatures = held_out_temperatures(samples, probabilities)
    assert temperatures['taiwanese'] > 1 and temperatures['ckplus48'] > 1  # softened
    assert np.isnan(scaled[parts == 'train']).all()
    tfeid = datasets == 'taiwanese'
    assert scaled[tfeid].max() < probabilities[tfeid].max()
    # A dataset's own answers (and FER2013's) never move its temperature.
    changed = probabilities.copy()
    changed[tfeid] = 1.0 / len(LABELS)
    changed[fer2013_test] = 1.0 / len(LABELS)
    _, again = held_out_temperatures(samples, changed)
    assert again['taiwanese'] == temperatures['taiwanese']
    assert again['ckplus48'] != temperatures['ckplus48']


def test_a_balanced_decision_recipe_divides_out_its_training_mix():
    import torch

    from fer_models.research.lodo import (
        fit_landmark_model, LandmarkRecipe, predict_probabilities)

    rng = np.random.default_rng(0)
    targets = np.array([0] * 60 + [1] * 20 + [2] * 20)  # neutral 60 %, happy and sad 20 %
    features = (rng.normal(size=(100, 6)) + targets[:, None]).astype(np.float32)
    datasets = np.array(['taiwanese'] * 100)
    validation = np.zeros(100, bool)
    validation[::10] = True
    plain = LandmarkRecipe(max_epochs=5)
    balanced = LandmarkRecipe(max_epochs=5, balanced_decision=True)
    assert balanced.name == plain.name + ', balanced decision'
    probabilities = []
    for recipe in (plain, balanced):
        torch.manual_seed(0)
        model, _ = fit_landmark_model(recipe, features, targets, datasets, ~validation,
                                      validation, seed=0)
        probabilities.append(predict_probabilities(model, features))
    fit_counts = np.bincount(targets[~validation], minlength=7)
    prior = fit_counts / fit_counts.sum()
    floor = prior[prior > 0].min()
    expected = probabilities[0] / np.maximum(prior, floor)
    np.testing.assert_allclose(probabilities[1], expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_fusion_pairs_with_the_chosen_landmark_recipe_or_a_named_one():
    from fer_models.research.studies.generalisation import fusion_landmark_recipe

    reports = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           'reports')
    with open(os.path.join(reports, 'generalisation.json')) as handle:
        study = json.load(handle)
    assert fusion_landmark_recipe(study).name == study['chosen_landmark_recipe']['name']
    other = study['landmark'][0]['recipe']['name']
    assert other != study['chosen_landmark_recipe']['name']
    assert fusion_landmark_recipe(study, other).name == other
    with pytest.raises(SystemExit, match='no landmark recipe'):
        fusion_landmark_recipe(study, 'dlib68:coords MLP1')
