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

"""Temporal smoothing of class probabilities and the confidence decision."""

from fer_models.core.labels import UNKNOWN
import numpy as np

SMOOTHING_METHODS = ('ema', 'majority', 'none')
# The lowest confidence at which the default pipeline's answers (late
# fusion) on datasets it never saw are right at least 60 % of the time
# (fer_models/reports/generalisation.md, "Calibration of each mode"): all of
# them already are (61 % on held-out TFEID and CK+48 pooled), so by default
# only the head-pose gate and the neutral baseline answer 'unknown'.
DEFAULT_CONFIDENCE_THRESHOLD = 0.0
# The first head turn (max of |yaw|, |pitch|) beyond which the default
# pipeline's path is right less than half as often as on frontal faces
# (fer_models/reports/head_pose.md): late fusion does not fall that low up
# to 90 degrees (37.8 % at 50-90 against 70.6 % frontal, from 37 faces
# only), so the default gate only refuses faces turned beyond 90 degrees.
DEFAULT_MAX_HEAD_ANGLE_DEG = 90.0


class ProbabilitySmoother:
    """
    Smooths each face's class probabilities over time.

    ``ema``: exponential moving average, ``alpha`` is the weight of the newest
    prediction. ``majority``: the average of the last ``history`` predictions,
    reported with the label most of them voted for. ``none``: the newest.
    """

    def __init__(self, method='ema', alpha=0.5, history=5):
        """Create a smoother; see the class docstring for the parameters."""
        if method not in SMOOTHING_METHODS:
            raise ValueError(
                f"unknown smoothing '{method}'; known: {', '.join(SMOOTHING_METHODS)}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f'alpha must be in (0, 1], got {alpha}')
        if history < 1:
            raise ValueError(f'history must be at least 1, got {history}')
        self.method = method
        self.alpha = alpha
        self.history = history
        self._state = {}

    def update(self, face_id, probabilities):
        """Fold new probabilities of ``face_id`` in; return (probs, top index)."""
        probs = np.asarray(probabilities, dtype=np.float64)
        if self.method == 'ema':
            previous = self._state.get(face_id)
            if previous is not None and previous.shape == probs.shape:
                probs = self.alpha * probs + (1.0 - self.alpha) * previous
            self._state[face_id] = probs
            return probs, int(np.argmax(probs))
        if self.method == 'majority':
            recent = [p for p in self._state.get(face_id, []) if p.shape == probs.shape]
            recent = (recent + [probs])[-self.history:]
            self._state[face_id] = recent
            votes = np.bincount([int(np.argmax(p)) for p in recent], minlength=probs.size)
            return np.mean(recent, axis=0), int(np.argmax(votes))
        return probs, int(np.argmax(probs))

    def forget(self, face_id):
        """Drop the history of one face."""
        self._state.pop(face_id, None)

    def forget_all_except(self, face_ids):
        """Drop the history of every face not in ``face_ids``."""
        keep = set(face_ids)
        for face_id in [f for f in self._state if f not in keep]:
            del self._state[face_id]


def decide(labels, probabilities, top_index, threshold):
    """Return (label, confidence, reason): the top label, or UNKNOWN and why."""
    confidence = float(probabilities[top_index])
    if confidence < threshold:
        return UNKNOWN, confidence, (f'confidence {confidence:.2f} below '
                                     f'confidence_threshold {threshold:g}')
    return labels[top_index], confidence, ''


def pose_gate(head_pose, max_head_angle_deg):
    """
    Return why a face turned this far gets no label ('' when it may have one).

    head_pose: (yaw, pitch, roll) in degrees; roll does not count (the
    features are roll-aligned) and an unknown (NaN) pose never gates.
    """
    turn = max(abs(head_pose[0]), abs(head_pose[1]))
    if turn > max_head_angle_deg:
        return f'head turned {turn:.0f} deg, beyond max_head_angle_deg {max_head_angle_deg:g}'
    return ''
