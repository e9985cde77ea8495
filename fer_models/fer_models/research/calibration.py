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
Calibrated confidences and learned fusion, fitted on validation data only.

* Temperature scaling (Guo et al., 2017): one scalar T divides the logits so
  that the top probability matches the observed accuracy; the argmax, hence
  accuracy, is unchanged.
* Expected calibration error (ECE): the gap between confidence and accuracy,
  averaged over equal-width confidence bins weighted by their counts.
* Stacking: a multinomial logistic regression on both paths' log-probabilities
  (14 inputs, 7 classes), the learned replacement of a hand-set fusion weight.
"""

import numpy as np

EPSILON = 1e-7


def log_probabilities(probabilities):
    """Return log(p) clipped away from -inf."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1.0))


def softmax(logits):
    """Return the row-wise softmax of (N, C) logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def apply_temperature(probabilities, temperature):
    """Return probabilities re-scaled by a temperature (log-probabilities act as logits)."""
    return softmax(log_probabilities(probabilities) / temperature)


def negative_log_likelihood(probabilities, targets):
    """Return the mean -log p(target)."""
    rows = np.arange(len(targets))
    return float(-log_probabilities(probabilities)[rows, targets].mean())


TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 161))


def fit_temperature(probabilities, targets, grid=TEMPERATURES):
    """Return the temperature of ``grid`` with the lowest validation negative log-likelihood."""
    losses = [negative_log_likelihood(apply_temperature(probabilities, t), targets) for t in grid]
    return float(grid[int(np.argmin(losses))])


def reliability(probabilities, targets, bins=10):
    """Return [(low, high, count, mean confidence, accuracy)] of equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        count = int(inside.sum())
        table.append((float(low), float(high), count,
                      float(confidence[inside].mean()) if count else None,
                      float(correct[inside].mean()) if count else None))
    return table


def expected_calibration_error(probabilities, targets, bins=10):
    """Return the ECE of (N, C) probabilities against integer targets."""
    total = len(targets)
    return float(sum(count / total * abs(confidence - accuracy)
                     for _, _, count, confidence, accuracy in reliability(
                         probabilities, targets, bins) if count))


def threshold_for_precision(probabilities, targets, precision=0.5, candidates=None):
    """
    Return the lowest confidence threshold whose accepted predictions reach ``precision``.

    Accepted: top probability >= threshold. With calibrated probabilities
    this is where the answer becomes more likely right than wrong (for the
    default 0.5), the natural point to say ``unknown`` instead.
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    for threshold in (np.round(np.arange(0.0, 1.0, 0.05), 2) if candidates is None
                      else candidates):
        accepted = confidence >= threshold
        if accepted.any() and correct[accepted].mean() >= precision:
            return float(threshold)
    return 1.0


def stacking_inputs(*path_probabilities):
    """Return the (N, 7 * paths) log-probability inputs of the stacker."""
    return np.concatenate([log_probabilities(p) for p in path_probabilities], axis=1)


def fit_stacker(inputs, targets, num_classes, l2=1e-3, steps=800, learning_rate=1.0):
    """
    Return (weights, bias) of a multinomial logistic regression, by gradient descent.

    Plain numpy (full-batch gradient descent on the L2-regularised mean
    cross-entropy, on standardised inputs): the inputs are few and the data
    a few thousand rows. The returned weights apply to the raw inputs.
    """
    mean, scale = inputs.mean(axis=0), inputs.std(axis=0) + 1e-6
    standard = (inputs - mean) / scale
    weights = np.zeros((inputs.shape[1], num_classes))
    bias = np.zeros(num_classes)
    onehot = np.eye(num_classes)[targets]
    for _ in range(steps):
        error = softmax(standard @ weights + bias) - onehot
        weights -= learning_rate * (standard.T @ error / len(targets) + l2 * weights)
        bias -= learning_rate * error.mean(axis=0)
    return weights / scale[:, None], bias - (mean / scale) @ weights


def stack(inputs, weights, bias):
    """Return the stacker's (N, C) probabilities."""
    return softmax(inputs @ weights + bias)
