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

"""Temperature scaling, ECE, threshold choice and the stacker (numpy only)."""

from fer_models.research import calibration
import numpy as np
import pytest

pytestmark = pytest.mark.pure


def overconfident(seed=0, count=4000, classes=7):
    """Return (probabilities, targets): right 60 % of the time while claiming ~95 %."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, classes, count)
    predicted = np.where(rng.random(count) < 0.6, targets, rng.integers(0, classes, count))
    logits = rng.normal(0, 1, (count, classes))
    logits[np.arange(count), predicted] += 6.0
    return calibration.softmax(logits), targets


def test_temperature_scaling_lowers_ece_and_keeps_the_argmax():
    probabilities, targets = overconfident()
    temperature = calibration.fit_temperature(probabilities, targets)
    tempered = calibration.apply_temperature(probabilities, temperature)
    assert temperature > 1.5, 'an overconfident model needs a temperature above 1'
    before = calibration.expected_calibration_error(probabilities, targets)
    after = calibration.expected_calibration_error(tempered, targets)
    assert before > 0.25 and after < before / 3
    assert (tempered.argmax(axis=1) == probabilities.argmax(axis=1)).all()


def test_threshold_reaches_the_asked_precision():
    probabilities, targets = overconfident(1)
    tempered = calibration.apply_temperature(
        probabilities, calibration.fit_temperature(probabilities, targets))
    threshold = calibration.threshold_for_precision(tempered, targets, 0.7)
    accepted = tempered.max(axis=1) >= threshold
    assert 0.0 < threshold < 1.0 and 0.0 < accepted.mean() < 1.0
    assert (tempered.argmax(axis=1) == targets)[accepted].mean() >= 0.7
    assert calibration.threshold_for_precision(tempered, targets, 1.01) == 1.0


def test_stacker_learns_to_trust_the_informative_path():
    informative, targets = overconfident(2)
    noise = calibration.softmax(np.random.default_rng(3).normal(0, 3, informative.shape))
    inputs = calibration.stacking_inputs(noise, informative)
    weights, bias = calibration.fit_stacker(inputs, targets, 7)
    stacked = calibration.stack(inputs, weights, bias)
    assert (stacked.argmax(axis=1) == targets).mean() >= 0.58
    assert np.abs(weights[7:]).sum() > 3 * np.abs(weights[:7]).sum()
