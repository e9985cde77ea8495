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

"""
The cross-dataset evaluation protocol shared by every study and training command.

Datasets: FER2013 (official train / test split), TFEID (folds by performer)
and CK+48 (folds by subject). Every sample carries its dataset, its FER2013
part (``train`` / ``test``, empty elsewhere) and a person group prefixed
with its dataset. FER2013 has no person ids: each face is its own group.

Two kinds of split, both subject-independent:

* **in-dataset**: FER2013 official train -> test; TFEID and CK+48 k-fold by
  person;
* **leave-one-dataset-out (LODO)**: train on the other datasets, test on the
  held-out one. FER2013 train is on the training side unless FER2013 is the
  target, whose test split is then scored. FER2013 test is never trained on,
  tuned on or used for model selection: it is a target only.

The selection criterion for anything shipped is the mean LODO accuracy
(``selection_score``). Contempt exists only in CK+48: models use the 7 basic
classes (``LABELS``) and CK+48's contempt images are left out of training
and scoring.
"""

import json
import os

from fer_models.core.labels import BASIC_LABELS
import numpy as np

DATASETS = ('fer2013', 'taiwanese', 'ckplus48')
LABELS = BASIC_LABELS
# Frames a still is held when a person's stills play as one face track (the
# track protocol's bags and the neutral study's offline tracks alike).
FRAMES_PER_STILL = 12
# Frames in the window of every landmark model the studies export (what
# feature_buffer_node sends the classifier).
WINDOW_LENGTH = 8
# Retraining noise of the still-image LODO mean in points (the same recipe
# retrained moves it this much): differences within it are ties, which the
# track protocol breaks.
TIE_POINTS = 0.9
TRAIN, TEST = 'train', 'test'
# The recipe variant of the shipped appearance model (ean_union.onnx's run
# name without '_union'; '' = the plain student): studies that replay or
# measure "the shipped recipe" on held-out persons use its LODO runs.
SHIPPED_APPEARANCE_VARIANT = 'kdfaceapi'
# The shipped fusion study: its appearance temperatures are the shipped
# recipe's calibration (see held_out_appearance_temperature).
SHIPPED_FUSION_JSON = os.path.join('fer_models', 'reports', 'generalisation.json')


class ProtocolError(ValueError):
    """Raised when a split would put one person on both sides."""


def group_folds(groups, folds, seed):
    """Return ``folds`` arrays of group names, shuffled with ``seed``."""
    names = np.unique(groups)
    np.random.default_rng(seed).shuffle(names)
    return np.array_split(names, folds)


def check_subject_independent(groups, train, test):
    """Raise ProtocolError when a person group has samples in both masks."""
    shared = np.intersect1d(groups[train], groups[test])
    if len(shared):
        raise ProtocolError(f'{len(shared)} person group(s) on both sides of a split, '
                            f"e.g. {', '.join(map(str, shared[:3]))}")


def _fer2013_test(datasets, parts):
    return (datasets == 'fer2013') & (parts == TEST)


def leave_one_dataset_out(datasets, parts, groups, held_out):
    """
    Return (train, test) boolean masks for one held-out dataset.

    FER2013 test is the target when FER2013 is held out and otherwise left
    out entirely; nothing of the held-out dataset is trained on.
    """
    if held_out not in DATASETS:
        raise ValueError(f"unknown dataset '{held_out}'; known: {', '.join(DATASETS)}")
    fer_test = _fer2013_test(datasets, parts)
    test = (datasets == held_out) & (fer_test if held_out == 'fer2013' else True)
    train = (datasets != held_out) & ~fer_test
    check_subject_independent(groups, train, test)
    return train, test


def in_dataset_splits(datasets, parts, groups, dataset, folds=5, seed=0):
    """
    Return the [(train, test), ...] masks of one dataset's own evaluation.

    FER2013: its official split (one pair); TFEID and CK+48: ``folds``
    folds grouped by person.
    """
    inside = datasets == dataset
    if dataset == 'fer2013':
        splits = [(inside & (parts == TRAIN), _fer2013_test(datasets, parts))]
    else:
        splits = [(inside & ~np.isin(groups, fold), inside & np.isin(groups, fold))
                  for fold in group_folds(groups[inside], folds, seed)]
    for train, test in splits:
        check_subject_independent(groups, train, test)
    return splits


def validation_split(train, groups, share=0.1, seed=0):
    """
    Return (fit, validation) masks that divide ``train`` by person group.

    Model selection (early stopping, epochs, temperatures, fusion weights)
    uses ``validation`` only, never a test side.
    """
    names = np.unique(groups[train])
    rng = np.random.default_rng(seed)
    chosen = rng.choice(names, max(1, int(round(share * len(names)))), replace=False)
    validation = train & np.isin(groups, chosen)
    return train & ~validation, validation


def held_out_appearance_run(dataset, variant=SHIPPED_APPEARANCE_VARIANT):
    """Return the name of a recipe variant's appearance run that never saw ``dataset``."""
    return f'{variant}_lodo_{dataset}' if variant else f'lodo_{dataset}'


def held_out_appearance_temperature(dataset, study_json=SHIPPED_FUSION_JSON):
    """
    Return the temperature of the shipped recipe's appearance run that never saw ``dataset``.

    The shipped fusion (``./fer train generalisation fusion
    --calibrate-appearance``) divides each held-out dataset's appearance
    logits by a temperature fitted on the other robot-like dataset's held-out
    answers, never its own; 1.0 when the shipped fusion is not calibrated.
    A replay of the held-out run must use it to measure the shipped recipe.
    """
    with open(study_json) as handle:
        temperatures = json.load(handle)['fusion'].get('appearance_temperatures') or {}
    return float(temperatures.get(dataset, 1.0))


def selection_score(lodo_accuracy):
    """Return the criterion for shipping: the mean of the LODO accuracies per held-out set."""
    return float(np.mean([lodo_accuracy[name] for name in DATASETS]))


def selection_outcome(candidate, reference):
    """
    Return 'win', 'tie' or 'loss' of a candidate's score against a reference's.

    Scores are fractions of one criterion (the strict LODO mean, or the track
    criterion). A difference within TIE_POINTS is retraining noise: on still
    images such a tie goes to the track criterion; on tracks the reference
    stays.
    """
    difference = round(100 * (candidate - reference), 6)  # 0.529 - 0.52 is 0.9, not more
    if abs(difference) <= TIE_POINTS:
        return 'tie'
    return 'win' if difference > 0 else 'loss'


def add_run_options(parser, validation_share=True):
    """
    Add the options every training study's command line shares.

    ``--threads`` (torch threads), ``--seed`` and, where a study draws its
    own validation persons, ``--validation-share`` (validation_split's share).
    """
    parser.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    parser.add_argument('--seed', type=int, default=0)
    if validation_share:
        parser.add_argument('--validation-share', type=float, default=0.1)
