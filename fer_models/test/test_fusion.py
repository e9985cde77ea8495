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

"""Late fusion of the two paths' probabilities."""

import json

from fer_models.core.fusion import align, combine, fuse, FusionError, Stacker
from fer_models.research.studies.fusion import nested_weight
import numpy as np
import pytest

pytestmark = pytest.mark.pure

LANDMARK_LABELS = ('neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'angry')
FER2013_LABELS = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')


def test_align_reorders_by_label_name():
    appearance = np.array([0.1, 0.0, 0.0, 0.6, 0.2, 0.0, 0.1])
    aligned = align(appearance, FER2013_LABELS, LANDMARK_LABELS)
    assert aligned[LANDMARK_LABELS.index('happy')] == pytest.approx(0.6)
    assert aligned[LANDMARK_LABELS.index('angry')] == pytest.approx(0.1)
    assert aligned.sum() == pytest.approx(1.0)


def test_align_renormalises_over_shared_labels():
    # CK+ style 8 classes into a 2-label model: only the shared mass counts.
    aligned = align([0.5, 0.3, 0.2], ('contempt', 'happy', 'sad'), ('happy', 'sad'))
    np.testing.assert_allclose(aligned, [0.6, 0.4])


@pytest.mark.parametrize('probabilities, labels, message', [
    ([0.5, 0.5], ('happy',), '2 probabilities for 1 labels'),
    ([np.nan, 1.0], ('happy', 'sad'), 'NaN'),
    ([1.0], ('contempt',), 'no shared label'),
])
def test_align_rejects_what_it_cannot_use(probabilities, labels, message):
    with pytest.raises(FusionError, match=message):
        align(probabilities, labels, LANDMARK_LABELS)


def test_fuse_is_the_weighted_mean():
    landmark, appearance = np.array([0.8, 0.2]), np.array([0.2, 0.8])
    np.testing.assert_allclose(fuse(landmark, appearance, 0.25), [0.65, 0.35])
    np.testing.assert_allclose(fuse(landmark, appearance, 0.0), landmark)
    # Rows of many faces are fused row by row, each a distribution of its own.
    rows = fuse(np.stack([landmark, landmark[::-1]]), np.stack([appearance, appearance]), 0.25)
    np.testing.assert_allclose(rows, [[0.65, 0.35], [0.2, 0.8]])
    with pytest.raises(FusionError):
        fuse(landmark, appearance, 1.5)


def test_combine_modes():
    landmark = np.full(7, 1 / 7)
    appearance = np.eye(7)[FER2013_LABELS.index('sad')]
    np.testing.assert_allclose(combine('landmark', landmark, LANDMARK_LABELS), landmark)
    only = combine('appearance', landmark, LANDMARK_LABELS, appearance, FER2013_LABELS)
    assert LANDMARK_LABELS[int(np.argmax(only))] == 'sad' and only.max() == 1.0
    late = combine('late', landmark, LANDMARK_LABELS, appearance, FER2013_LABELS, 0.5)
    assert late[LANDMARK_LABELS.index('sad')] == pytest.approx(0.5 / 7 + 0.5)
    with pytest.raises(FusionError, match='appearance_model_path'):
        combine('late', landmark, LANDMARK_LABELS, None, ())
    with pytest.raises(FusionError, match='not one of'):
        combine('average', landmark, LANDMARK_LABELS)


def test_nested_weight_is_chosen_without_the_scored_fold():
    # Folds 0-2: the appearance path is right; fold 3: only the landmark path.
    targets = np.array([0, 1] * 4)
    fold_of = np.repeat([0, 1, 2, 3], 2)
    right = np.eye(2)[targets] * 0.9 + 0.05
    wrong = right[:, ::-1]
    landmark = np.where((fold_of == 3)[:, None], right, wrong)
    appearance = np.where((fold_of == 3)[:, None], wrong, right)
    fused, chosen = nested_weight(landmark, appearance, targets, fold_of)
    # Chosen on folds 0-2, where the appearance path wins: it must not see
    # that fold 3 would have preferred the landmark path.
    assert chosen[3] > 0.5
    assert (fused[fold_of == 3].argmax(axis=1) != targets[fold_of == 3]).all()


def copy_appearance_stacker(labels, path):
    """Write a stacker that passes the appearance path through (weights [0; I])."""
    count = len(labels)
    weights = np.vstack([np.zeros((count, count)), np.eye(count)])
    path.write_text(json.dumps({'labels': list(labels), 'weights': weights.tolist(),
                                'bias': [0.0] * count}))
    return Stacker.load(str(path))


def test_stacked_fusion_follows_its_learnt_weights(tmp_path):
    stacker = copy_appearance_stacker(LANDMARK_LABELS, tmp_path / 'stacker.json')
    landmark = np.eye(7)[LANDMARK_LABELS.index('happy')] * 0.9 + 0.1 / 7
    appearance = np.array([0.05, 0.05, 0.05, 0.05, 0.7, 0.05, 0.05])  # sad, FER2013 order
    stacked = combine('stacked', landmark, LANDMARK_LABELS, appearance, FER2013_LABELS,
                      stacker=stacker)
    np.testing.assert_allclose(stacked, align(appearance, FER2013_LABELS, LANDMARK_LABELS),
                               atol=1e-6)
    with pytest.raises(FusionError, match='stacker_path'):
        combine('stacked', landmark, LANDMARK_LABELS, appearance, FER2013_LABELS)


@pytest.mark.parametrize('content, message', [
    ('{"labels": ["a", "b"], "weights": [[1, 0]], "bias": [0, 0]}', 'do not fit'),
    ('not json', 'cannot read'),
    ('{"labels": ["a"]}', 'cannot read'),
])
def test_a_bad_stacker_file_is_named(tmp_path, content, message):
    path = tmp_path / 'stacker.json'
    path.write_text(content)
    with pytest.raises(FusionError, match=message):
        Stacker.load(str(path))
