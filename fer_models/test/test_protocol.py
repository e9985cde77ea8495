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

"""The cross-dataset protocol: no person is ever on both sides of a split."""

import os

from fer_models.research.datasets import data_root, load_dataset
from fer_models.research.fer2013 import fer2013_path
from fer_models.research.protocol import (
    check_subject_independent, DATASETS, in_dataset_splits, leave_one_dataset_out, ProtocolError,
    selection_score, validation_split)
import numpy as np
import pytest

HAVE_DATA = all(os.path.isfile(p) for p in (
    fer2013_path(), os.path.join(data_root(), 'taiwanese', 'labels.csv'),
    os.path.join(data_root(), 'ckplus48', 'labels.csv')))


def real_samples():
    """Return (datasets, parts, groups) of every sample of the three real datasets."""
    datasets, parts, groups = [], [], []
    for name in ('taiwanese', 'ckplus48'):
        for record in load_dataset(name):
            datasets.append(name)
            parts.append('')
            groups.append(f'{name}:{record.group}')
    with np.load(fer2013_path()) as data:
        for part in ('train', 'test'):
            count = len(data[f'{part}_y'])
            datasets += ['fer2013'] * count
            parts += [part] * count
            groups += [f'fer2013:{part}/{i:05d}' for i in range(count)]
    return np.array(datasets), np.array(parts), np.array(groups)


@pytest.mark.skipif(not HAVE_DATA, reason='needs ../shared/data (FER2013, TFEID, CK+48)')
def test_real_splits_never_share_a_person_and_never_train_on_fer2013_test():
    datasets, parts, groups = real_samples()
    fer_test = (datasets == 'fer2013') & (parts == 'test')
    assert fer_test.sum() == 7178
    for held_out in DATASETS:
        train, test = leave_one_dataset_out(datasets, parts, groups, held_out)
        assert not np.intersect1d(groups[train], groups[test]).size
        assert not (train & fer_test).any(), 'FER2013 test is never trained on'
        assert set(datasets[test]) == {held_out} and not (datasets[train] == held_out).any()
        if held_out != 'fer2013':
            assert (train & (datasets == 'fer2013')).sum() == 28709
        fit, validation = validation_split(train, groups, seed=1)
        assert not np.intersect1d(groups[fit], groups[validation]).size
        assert not (validation & test).any() and (fit | validation).sum() == train.sum()
    assert leave_one_dataset_out(datasets, parts, groups, 'fer2013')[1].sum() == 7178
    for dataset in ('taiwanese', 'ckplus48'):
        splits = in_dataset_splits(datasets, parts, groups, dataset, folds=5)
        tested = np.sum([test for _, test in splits], axis=0)
        assert (tested == (datasets == dataset)).all(), 'every sample is tested exactly once'
        for train, test in splits:
            assert not np.intersect1d(groups[train], groups[test]).size


def test_a_shared_person_is_refused():
    groups = np.array(['a', 'a', 'b', 'c'])
    with pytest.raises(ProtocolError, match='both sides'):
        check_subject_independent(groups, np.array([1, 0, 1, 0], bool),
                                  np.array([0, 1, 0, 1], bool))
    check_subject_independent(groups, np.array([1, 1, 0, 0], bool),
                              np.array([0, 0, 1, 1], bool))


def test_selection_score_is_the_mean_over_held_out_datasets():
    scores = {'fer2013': 0.5, 'taiwanese': 0.6, 'ckplus48': 0.7}
    assert selection_score(scores) == pytest.approx(0.6)
    with pytest.raises(KeyError):
        selection_score({'fer2013': 0.5})
