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
Fusion of the landmark path's and the appearance path's class probabilities.

``late`` is a weighted mean; ``stacked`` is learnt: a multinomial logistic
regression on both paths' log-probabilities, fitted by
``./fer train generalisation fusion`` on predictions for datasets the
models had not seen, and shipped as a small JSON file.
"""

import json

import numpy as np

FUSION_MODES = ('landmark', 'appearance', 'late', 'stacked')
STACKER_FILE = 'fusion_stacker.json'
# log(p) of a zero probability: large enough not to dominate the stacker.
_LOG_FLOOR = 1e-7
# The late-fusion weight with the best mean accuracy on datasets the models
# were not trained on (fer_models/reports/generalisation.md, "Both paths").
DEFAULT_APPEARANCE_WEIGHT = 0.8
# Late fusion won that criterion (mean leave-one-dataset-out 51.9 %; the
# appearance path alone 51.2 %): the pipeline's default.
DEFAULT_FUSION = 'late'
# The appearance model the pipeline runs by default (fer_models/models).
DEFAULT_APPEARANCE_MODEL = 'ean_union.onnx'
# How far a float32 distribution may stray from summing to 1.
DISTRIBUTION_TOLERANCE = 1e-3


class FusionError(ValueError):
    """Raised when probabilities cannot be fused (wrong sizes, no shared label)."""


def check_distribution(probabilities, tolerance=DISTRIBUTION_TOLERANCE):
    """
    Raise FusionError unless ``probabilities`` (1-D) are a probability distribution.

    Finite, each in [0, 1] and summing to 1, all within ``tolerance`` (the
    messages carry float32). A model's output that is not (NaN from an
    extreme input, logits from a graph without its softmax) must never
    reach a face's smoothing state nor be published as a confidence.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not np.all(np.isfinite(probabilities)):
        raise FusionError('probabilities contain NaN or infinity')
    if probabilities.size and (probabilities.min() < -tolerance
                               or probabilities.max() > 1.0 + tolerance):
        raise FusionError(f'probabilities outside [0, 1] (min {probabilities.min():.3g}, '
                          f'max {probabilities.max():.3g})')
    total = probabilities.sum()
    if abs(total - 1.0) > tolerance:
        raise FusionError(f'probabilities sum to {total:.4g}, not 1')


def align(probabilities, from_labels, to_labels):
    """
    Return ``probabilities`` over ``from_labels`` re-ordered to ``to_labels``.

    Labels the source model lacks get probability 0; the result is
    renormalised over the labels both models share.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(from_labels),):
        raise FusionError(f'{probabilities.size} probabilities for {len(from_labels)} labels')
    check_distribution(probabilities)
    index = {label: i for i, label in enumerate(from_labels)}
    aligned = np.array([probabilities[index[label]] if label in index else 0.0
                        for label in to_labels])
    total = aligned.sum()
    if not any(label in index for label in to_labels) or total <= 0:
        raise FusionError(f"no shared label between {', '.join(from_labels)} and "
                          f"{', '.join(to_labels)}")
    return aligned / total


def fuse(landmark, appearance, appearance_weight):
    """Return the weighted mean of two aligned probability vectors (or rows of them)."""
    if not 0.0 <= appearance_weight <= 1.0:
        raise FusionError(f'appearance_weight {appearance_weight} is outside [0, 1]')
    fused = (1.0 - appearance_weight) * np.asarray(landmark) + appearance_weight * np.asarray(
        appearance)
    return fused / fused.sum(axis=-1, keepdims=True)


class Stacker:
    """A learnt fusion: softmax(W . [log p_landmark, log p_appearance] + b)."""

    def __init__(self, labels, weights, bias, path=''):
        """Check the shapes: ``weights`` (2 * C, C), ``bias`` (C,) for C labels."""
        self.labels = tuple(labels)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64)
        self.path = path
        count = len(self.labels)
        if self.weights.shape != (2 * count, count) or self.bias.shape != (count,):
            raise FusionError(f'stacker {path or ""}: weights {self.weights.shape} and bias '
                              f'{self.bias.shape} do not fit {count} labels')

    @classmethod
    def load(cls, path):
        """Read a stacker JSON (labels, weights, bias); raise FusionError naming the file."""
        try:
            with open(path) as handle:
                data = json.load(handle)
            return cls(data['labels'], data['weights'], data['bias'], path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FusionError(f'cannot read the fusion stacker {path}: {error}') from error

    def fuse(self, landmark, appearance):
        """Return the stacked probabilities over ``labels`` of two aligned vectors."""
        inputs = np.log(np.clip(np.concatenate([landmark, appearance]), _LOG_FLOOR, 1.0))
        logits = inputs @ self.weights + self.bias
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()


def combine(mode, landmark, labels, appearance=None, appearance_labels=(),
            appearance_weight=DEFAULT_APPEARANCE_WEIGHT, stacker=None):
    """
    Return the probabilities over ``labels`` that ``mode`` asks for.

    ``landmark`` is over ``labels``; ``appearance`` (optional) over
    ``appearance_labels``; ``stacker`` (a Stacker) for ``stacked``. Raises
    FusionError when the mode needs appearance probabilities or a stacker
    that are missing or unusable.
    """
    if mode not in FUSION_MODES:
        raise FusionError(f"fusion mode '{mode}' is not one of {', '.join(FUSION_MODES)}")
    if mode == 'landmark':
        return np.asarray(landmark, dtype=np.float64)
    if appearance is None or len(appearance) == 0:
        raise FusionError(f"fusion '{mode}' needs appearance probabilities: set landmark_node's "
                          'appearance_model_path')
    aligned = align(appearance, appearance_labels, labels)
    if mode == 'appearance':
        return aligned
    if mode == 'late':
        return fuse(landmark, aligned, appearance_weight)
    if stacker is None:
        raise FusionError("fusion 'stacked' needs a stacker: set stacker_path")
    stacked = stacker.fuse(align(landmark, labels, stacker.labels),
                           align(appearance, appearance_labels, stacker.labels))
    return align(stacked, stacker.labels, labels)
