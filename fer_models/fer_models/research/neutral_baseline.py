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
A per-person neutral baseline for the landmark path: both arms of TFEID, absolute and relative.

Each performer's own neutral images give their resting face: the mean of
their neutral frames' features (for a neutral image, of their *other*
neutral images, so that no image is its own baseline). The absolute arm
uses the features as the pipeline does by default; the baseline-relative
arm subtracts the resting face. Used by the neutral study
(``studies.neutral``) and by ``fer_ros.tools.neutral_sequences``.
"""

import json
import os

from fer_models.core.features import FeatureExtractor, NEUTRAL_REFERENCE
from fer_models.core.labels import NEUTRAL
from fer_models.research.extract import extract
from fer_models.research.protocol import group_folds, LABELS
import numpy as np


FEATURE_TYPE = 'dlib68:coords+geometric'
RELATIVE_FEATURE_TYPE = FeatureExtractor(FEATURE_TYPE).spec.with_reference(NEUTRAL_REFERENCE).name
WINDOW_LENGTH = 8
EPOCHS = 150
CHECK_EVERY = 5
ABSOLUTE, RELATIVE = 'absolute', 'baseline-relative'
REPORTS = os.path.join('fer_models', 'reports')
SEQUENCES_JSON = os.path.join(REPORTS, 'neutral_sequences.json')


def baseline_relative(features, labels, groups):
    """
    Return (relative features, usable mask): each row minus its person's resting face.

    The resting face is the mean of the person's neutral rows other than the
    row itself; rows of a person with no other neutral row are not usable.
    """
    relative = np.zeros_like(features)
    usable = np.zeros(len(features), bool)
    for person in np.unique(groups):
        mine = np.flatnonzero(groups == person)
        neutral = mine[labels[mine] == NEUTRAL]
        for row in mine:
            others = neutral[neutral != row]
            if len(others):
                relative[row] = features[row] - features[others].mean(axis=0)
                usable[row] = True
    return relative, usable


def tfeid_arms():
    """
    Return ({arm: features}, targets, groups, images left out) of TFEID.

    Both arms hold the same usable images, in the same order.
    """
    landmarks = extract('taiwanese').detected()
    extractor = FeatureExtractor(FEATURE_TYPE)
    features = np.stack([extractor.frame(p, w, h)
                         for p, (w, h) in zip(landmarks.points, landmarks.sizes)])
    labels, groups = landmarks.labels, landmarks.groups
    relative, usable = baseline_relative(features, labels, groups)
    targets = np.array([LABELS.index(label) for label in labels])
    return ({ABSOLUTE: features[usable], RELATIVE: relative[usable]}, targets[usable],
            groups[usable], int((~usable).sum()))


def train_arm(table, targets, groups, train, seed, epochs=None):
    """
    Train one arm's MLP on the rows ``train``; return (model, epochs trained).

    Without ``epochs`` it stops early on the loss of an inner validation
    split of the training performers (a quarter of them, never test ones).
    """
    from fer_models.research.nets import fit_window_mlp

    if epochs is not None:
        return fit_window_mlp(table[train], targets[train], len(LABELS), epochs, seed)
    inner = group_folds(groups[train], 4, seed)[0]
    validation = train & np.isin(groups, inner)
    fit = train & ~validation
    return fit_window_mlp(table[fit], targets[fit], len(LABELS), EPOCHS, seed,
                          (table[validation], targets[validation]), CHECK_EVERY)


def export_arm(model, arm, path, model_name, extra_metadata):
    """Export one arm's model with its feature type; return the EmotionModel."""
    from fer_models.research.export import export_onnx

    feature_type = RELATIVE_FEATURE_TYPE if arm == RELATIVE else FEATURE_TYPE
    return export_onnx(model, path, model_name=model_name, labels=LABELS,
                       feature_type=feature_type, window_length=WINDOW_LENGTH,
                       feature_dim=FeatureExtractor(FEATURE_TYPE).dim,
                       extra_metadata=extra_metadata)


def export_fold_models(train_groups, out_dir, seed=0):
    """
    Train and export both arms on the performers ``train_groups``; return {arm: path}.

    For the sequence test: the models never see the held-out performers.
    """
    import torch

    torch.set_num_threads(1)
    arms, targets, groups, _ = tfeid_arms()
    train = np.isin(groups, train_groups)
    paths = {}
    for arm, table in arms.items():
        model, _ = train_arm(table, targets, groups, train, seed)
        paths[arm] = os.path.join(out_dir, f"{arm.split('-')[-1]}.onnx")
        export_arm(model, arm, paths[arm], f"neutral_study_{arm.split('-')[-1]}",
                   {'training_performers': ','.join(map(str, train_groups))})
    return paths


def load_sequences(path=SEQUENCES_JSON):
    """Return the sequence test's result (fer_ros.tools.neutral_sequences), or None."""
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)
