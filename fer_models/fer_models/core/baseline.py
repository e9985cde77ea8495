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
Per-face neutral baseline: an automatic estimate of each face's resting face, on both paths.

Why: faces differ at rest (mouth corners that turn down, heavy brows, narrow
eyes), and a model reads those traits as expressions. Taking each frame
relative to the same person's resting face removes them: on TFEID, with each
performer's labelled neutral images as the rest, landmark accuracy rose from
52.6 % to 63.8 % (5-fold by performer, ``fer_models/reports/neutral_baseline.md``).
A robot has no labelled neutral images, so this module estimates the resting
face from the face's own track.

Landmark path: every frame whose features changed little since the face's
previous frame (root-mean-square change at most ``max_motion``, in the
features' units: inter-ocular distances for coordinates) is a candidate
resting frame; the first frame of a track has no predecessor and never is.
When the appearance path runs, a candidate also needs the appearance model's
probability of 'neutral' (its *neutral score*) to be at least
``min_neutral``, and the face keeps the ``frames_needed`` candidates with
the highest neutral scores seen so far (bounded memory; a kept frame gives
way only to a frame more neutral by ``REPLACE_MARGIN``). Once it holds
``frames_needed`` of them the baseline is ``ready``, and it is re-estimated
whenever a more neutral-looking low-motion frame replaces one: a track
that starts smiling gets its resting face back when the person relaxes.
Without neutral scores the first ``frames_needed`` candidates stay, as
before there was an appearance path. The resting
features are the element-wise median of the kept frames (a minority of
frames not at rest, such as a blink, does not move a median).

Appearance path: the same kept frames give the face's resting appearance,
the mean of their log-probabilities (``resting_log_probabilities``).
``RestingCorrection`` then shifts each later output by it:
``log p'(c) = log p(c) - strength * (log p_rest(c) - typical(c))``,
renormalised, where ``typical`` is the model's mean resting output on
training persons. A person whose resting face the model reads as 'sad' is
no longer read sad forever, while a person who rests like the typical
person is left as they are. ``strength`` and ``typical`` are fitted per
appearance model on training persons (``./fer train neutral both-paths``)
and shipped in ``appearance_resting.json``.

A face without a ready baseline (a still, the first frames of a track) is
treated exactly as with the baseline off: absolute features, uncorrected
appearance. A track that expires forgets its baseline; the same person
coming back starts again.
"""

from dataclasses import dataclass
import json

from fer_models.core.features import FeatureSpec, NEUTRAL_REFERENCE
from fer_models.core.labels import NEUTRAL
import numpy as np

# Values of the pipeline's neutral_baseline parameter (feature buffer and classifier).
OFF = 'off'
AUTO = 'auto'
MODES = (OFF, AUTO)
# The shipped landmark model each mode takes when no model is named: a model
# reads either absolute or baseline-relative features, never both.
DEFAULT_MODELS = {OFF: 'landmark_default.onnx', AUTO: 'landmark_neutral.onnx'}
# Baseline states, as carried by fer_msgs FeatureWindow and Emotion (with OFF).
COLLECTING = 'collecting'
READY = 'ready'
STATES = (OFF, COLLECTING, READY)

DEFAULT_FRAMES_NEEDED = 20
DEFAULT_MAX_MOTION = 0.02
# A candidate resting frame needs at least this appearance probability of
# 'neutral' (when the appearance path runs); see neutral_baseline.md.
DEFAULT_MIN_NEUTRAL = 0.2
# The shipped appearance corrections (./fer train neutral both-paths).
RESTING_FILE = 'appearance_resting.json'
MAX_STRENGTH = 2.0
# A kept resting frame gives way only to a frame whose neutral score is
# higher by this much: with less, a noisy appearance model swapped the true
# resting frames of tracks that start neutral for expressions it read as a
# little more neutral (neutral_baseline.md, "Both paths").
REPLACE_MARGIN = 0.1
LOG_FLOOR = 1e-7


def frame_motion(previous, current):
    """Return the root-mean-square change between two frames' features."""
    return float(np.sqrt(np.mean(np.square(np.asarray(current, np.float64) - previous))))


def check_settings(frames_needed, max_motion, min_neutral=DEFAULT_MIN_NEUTRAL):
    """Raise ValueError for settings no baseline can use."""
    if frames_needed < 1 or max_motion < 0 or not 0.0 <= min_neutral <= 1.0:
        raise ValueError('frames_needed must be at least 1, max_motion not negative and '
                         'min_neutral in [0, 1]')


def mode_of_feature_type(feature_type):
    """Return the neutral_baseline mode whose windows a model of ``feature_type`` reads."""
    return AUTO if FeatureSpec.parse(feature_type).reference == NEUTRAL_REFERENCE else OFF


def mode_mismatch(mode, model_name, feature_type):
    """
    Return why a model of ``feature_type`` cannot serve ``mode``, or None.

    A model trained on features relative to the resting face, fed absolute
    ones (or the reverse), answers about the wrong features on every frame.
    """
    wanted = mode_of_feature_type(feature_type)
    if wanted == mode:
        return None
    kind = {AUTO: 'features relative to the resting face', OFF: 'absolute features'}
    return (f"model '{model_name}' reads {kind[wanted]} ('{feature_type}') but "
            f"neutral_baseline '{mode}' makes {kind[mode]}: set neutral_baseline to "
            f"'{wanted}' (once for every node, in the parameter file's '/**' section), or "
            f"model_path to a model for '{mode}' (empty: the shipped {DEFAULT_MODELS[mode]})")


class NeutralBaseline:
    """The resting-face estimate of one face track (see the module docstring)."""

    def __init__(self, frames_needed=DEFAULT_FRAMES_NEEDED, max_motion=DEFAULT_MAX_MOTION,
                 min_neutral=DEFAULT_MIN_NEUTRAL, replace_margin=REPLACE_MARGIN):
        """Start collecting; ``frames_needed`` >= 1 resting frames make it ready."""
        check_settings(frames_needed, max_motion, min_neutral)
        self.frames_needed = int(frames_needed)
        self.max_motion = float(max_motion)
        self.min_neutral = float(min_neutral)
        self.replace_margin = float(replace_margin)
        self._kept = []  # (rank, arrival, features, appearance log-probabilities or None)
        self._arrivals = 0
        self._previous = None
        self.estimate = None
        self.resting_log_probabilities = None
        self.updates = 0  # how often the estimate changed (ready, then each re-estimate)

    @property
    def state(self):
        """Return COLLECTING or READY."""
        return COLLECTING if self.estimate is None else READY

    @property
    def collected(self):
        """Return how many resting frames the face holds (frames_needed once ready)."""
        return len(self._kept)

    def update(self, features, neutral_score=None, appearance_log_probabilities=None):
        """
        Offer one frame; return the state after it.

        ``neutral_score``: the appearance model's probability of 'neutral'
        for this frame (None: no appearance path); ``appearance_log_probabilities``:
        its log-probabilities, averaged into the resting appearance.
        """
        features = np.asarray(features, dtype=np.float32)
        if self._previous is not None and self._previous.shape != features.shape:
            # Other features (a changed feature type) cannot share an estimate.
            self._kept, self.estimate, self.resting_log_probabilities = [], None, None
        elif (self._previous is not None
              and frame_motion(self._previous, features) <= self.max_motion
              and (neutral_score is None or neutral_score >= self.min_neutral)):
            self._offer(features, neutral_score, appearance_log_probabilities)
        self._previous = features
        return self.state

    def _offer(self, features, neutral_score, appearance_log_probabilities):
        # A frame without a score ranks as the least neutral that qualifies.
        rank = self.min_neutral if neutral_score is None else float(neutral_score)
        self._arrivals += 1
        if appearance_log_probabilities is not None:
            appearance_log_probabilities = np.asarray(appearance_log_probabilities, np.float64)
        entry = (rank, -self._arrivals, features, appearance_log_probabilities)
        if len(self._kept) < self.frames_needed:
            self._kept.append(entry)
        else:
            worst = min(range(len(self._kept)), key=lambda i: self._kept[i][:2])
            gain = rank - self._kept[worst][0]
            if gain <= 0 or gain < self.replace_margin:
                return
            self._kept[worst] = entry
        if len(self._kept) == self.frames_needed:
            self._estimate()

    def _estimate(self):
        self.estimate = np.median(np.stack([entry[2] for entry in self._kept]),
                                  axis=0).astype(np.float32)
        logs = [entry[3] for entry in self._kept if entry[3] is not None]
        sizes = {log.shape for log in logs}
        # Log-probabilities of one model only (the newest frame's size), or none.
        if logs and len(sizes) == 1:
            self.resting_log_probabilities = np.mean(logs, axis=0)
        else:
            self.resting_log_probabilities = None
        self.updates += 1

    def relative(self, frames):
        """Return frames minus the resting features (the baseline must be ready)."""
        return frames - self.estimate


class FaceBaselines:
    """A NeutralBaseline per face id, forgotten with the face."""

    def __init__(self, frames_needed=DEFAULT_FRAMES_NEEDED, max_motion=DEFAULT_MAX_MOTION,
                 min_neutral=DEFAULT_MIN_NEUTRAL):
        """Hold no face yet; every new face gets these settings."""
        check_settings(frames_needed, max_motion, min_neutral)  # now, not at the first face
        self.settings = (frames_needed, max_motion, min_neutral)
        self._faces = {}

    @property
    def face_ids(self):
        """Return the ids of the faces with a baseline."""
        return list(self._faces)

    def update(self, face_id, features, neutral_score=None, appearance_log_probabilities=None):
        """Offer one frame of ``face_id``; return that face's NeutralBaseline."""
        baseline = self._faces.get(face_id)
        if baseline is None:
            baseline = self._faces[face_id] = NeutralBaseline(*self.settings)
        baseline.update(features, neutral_score, appearance_log_probabilities)
        return baseline

    def count(self, state):
        """Return how many faces' baselines are in ``state`` (COLLECTING or READY)."""
        return sum(baseline.state == state for baseline in self._faces.values())

    def summary(self):
        """Return the resting frames of each face, e.g. 'face 3: 20/20, face 7: 4/20'."""
        return ', '.join(f'face {face_id}: {baseline.collected}/{baseline.frames_needed}'
                         for face_id, baseline in sorted(self._faces.items())) or 'no face'

    def forget(self, face_ids):
        """Drop the baselines of these faces (their tracks expired)."""
        for face_id in face_ids:
            self._faces.pop(face_id, None)


def neutral_probability(labels, probabilities):
    """Return the probability of 'neutral' in an appearance output, or None without that label."""
    try:
        return float(probabilities[list(labels).index(NEUTRAL)])
    except ValueError:
        return None


def log_probabilities(probabilities):
    """Return log(p) with zero probabilities floored, so that a log is always finite."""
    return np.log(np.clip(np.asarray(probabilities, np.float64), LOG_FLOOR, 1.0))


@dataclass(frozen=True)
class RestingCorrection:
    """
    The appearance correction of one appearance model (see the module docstring).

    ``typical``: the model's mean log-probabilities over resting faces of
    training persons, in ``labels`` order; ``strength``: how much of a
    face's difference from it is taken away (0: none, 1: all of it).
    """

    model_name: str
    labels: tuple
    typical: tuple
    strength: float

    def __post_init__(self):
        """Raise ValueError for a correction that cannot apply to its labels."""
        if len(self.typical) != len(self.labels) or not np.all(np.isfinite(self.typical)):
            raise ValueError(f"resting correction of '{self.model_name}': {len(self.typical)} "
                             f'finite typical values needed for {len(self.labels)} labels')
        if not 0.0 <= self.strength <= MAX_STRENGTH:
            raise ValueError(f"resting correction of '{self.model_name}': strength "
                             f'{self.strength} outside [0, {MAX_STRENGTH}]')

    def correct(self, probabilities, resting_log_probabilities):
        """Return the probabilities of one output relative to the face's resting appearance."""
        shifted = log_probabilities(probabilities) - self.strength * (
            np.asarray(resting_log_probabilities, np.float64) - self.typical)
        exp = np.exp(shifted - shifted.max(axis=-1, keepdims=True))
        return exp / exp.sum(axis=-1, keepdims=True)


def load_resting_corrections(path):
    """
    Return {appearance model name: RestingCorrection} of a JSON file (RESTING_FILE's format).

    Raises ValueError naming the file when it is missing or malformed.
    """
    try:
        with open(path) as handle:
            models = json.load(handle)['models']
        return {name: RestingCorrection(name, tuple(entry['labels']), tuple(entry['typical']),
                                        float(entry['strength']))
                for name, entry in models.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f'cannot read the appearance resting corrections {path}: '
                         f'{error}') from error
