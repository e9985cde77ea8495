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
Per-face neutral baseline: an automatic estimate of each face's resting features.

Why: faces differ at rest (mouth corners that turn down, heavy brows, narrow
eyes), and a model of absolute landmark features reads those traits as
expressions. Taking each frame's features relative to the same person's
resting face removes them: on TFEID, with each performer's labelled neutral
images as the rest, accuracy rose from 52.6 % to 63.8 % (5-fold by
performer, ``fer_models/reports/neutral_baseline.md``). A robot has no
labelled neutral images, so this module estimates the resting face from the
face's own track.

How: while a track is young (state ``collecting``), every frame whose
features changed little since the face's previous frame (root-mean-square
change at most ``max_motion``, in the features' units: inter-ocular
distances for coordinates) is collected. Expressions are movements, so a
face that holds still at the start of an encounter is most likely at rest;
the first frame of a track has no predecessor and is never collected. Once
``frames_needed`` frames are collected, the estimate is their element-wise
median (state ``ready``): unlike a mean, it ignores a minority of frames that
are not at rest (a held smile, a blink, a detector glitch that slipped under
the motion threshold). The estimate is then kept fixed for the life of the
track: refining it with later frames that the model calls neutral could
follow a slowly held expression and was not measured to help, so it is not
done. A track that expires (the feature buffer's ``face_timeout_s``) forgets
its baseline; the same person coming back starts collecting again.

Limits: a person who already shows an expression throughout the first
``frames_needed`` still frames gets that expression as their "neutral", and
later neutral frames then look like its opposite; a track that never holds
still stays ``collecting`` (and its face ``unknown`` in the classifier).
"""

from fer_models.core.features import FeatureSpec, NEUTRAL_REFERENCE
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


def frame_motion(previous, current):
    """Return the root-mean-square change between two frames' features."""
    return float(np.sqrt(np.mean(np.square(np.asarray(current, np.float64) - previous))))


def check_settings(frames_needed, max_motion):
    """Raise ValueError for settings no baseline can use."""
    if frames_needed < 1 or max_motion < 0:
        raise ValueError('frames_needed must be at least 1 and max_motion not negative')


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


def collecting_reason(collected, needed):
    """Return why a face is unknown while its baseline is collected (Emotion.reason)."""
    return f'collecting neutral baseline {collected}/{needed} frames'


class NeutralBaseline:
    """The resting-feature estimate of one face track (see the module docstring)."""

    def __init__(self, frames_needed=DEFAULT_FRAMES_NEEDED, max_motion=DEFAULT_MAX_MOTION):
        """Start collecting; ``frames_needed`` >= 1 low-motion frames make it ready."""
        check_settings(frames_needed, max_motion)
        self.frames_needed = int(frames_needed)
        self.max_motion = float(max_motion)
        self._collected = []
        self._previous = None
        self.estimate = None

    @property
    def state(self):
        """Return COLLECTING or READY."""
        return COLLECTING if self.estimate is None else READY

    @property
    def collected(self):
        """Return how many low-motion frames the estimate has (frames_needed once ready)."""
        return self.frames_needed if self.estimate is not None else len(self._collected)

    def update(self, features):
        """Offer one frame's features; return the state after it."""
        if self.estimate is not None:
            return READY
        features = np.asarray(features, dtype=np.float32)
        if self._previous is not None and self._previous.shape != features.shape:
            # Other features (a changed feature type) cannot share an estimate.
            self._collected.clear()
        elif (self._previous is not None
              and frame_motion(self._previous, features) <= self.max_motion):
            self._collected.append(features)
        self._previous = features
        if len(self._collected) >= self.frames_needed:
            self.estimate = np.median(np.stack(self._collected), axis=0).astype(np.float32)
            self._collected = []
        return self.state

    def reference(self):
        """
        Return the features to subtract from this face's frames.

        The estimate once ready; while collecting a provisional one (the median
        of the frames collected so far, or the newest frame when none is), so
        that windows keep their shape; such windows must not be classified.
        """
        if self.estimate is not None:
            return self.estimate
        if self._collected:
            return np.median(np.stack(self._collected), axis=0).astype(np.float32)
        return self._previous


class FaceBaselines:
    """A NeutralBaseline per face id, forgotten with the face."""

    def __init__(self, frames_needed=DEFAULT_FRAMES_NEEDED, max_motion=DEFAULT_MAX_MOTION):
        """Hold no face yet; every new face gets these settings."""
        check_settings(frames_needed, max_motion)  # now, not at the first face
        self.frames_needed = frames_needed
        self.max_motion = max_motion
        self._faces = {}

    @property
    def face_ids(self):
        """Return the ids of the faces with a baseline."""
        return list(self._faces)

    def update(self, face_id, features):
        """Offer one frame of ``face_id``; return that face's NeutralBaseline."""
        baseline = self._faces.get(face_id)
        if baseline is None:
            baseline = self._faces[face_id] = NeutralBaseline(self.frames_needed,
                                                              self.max_motion)
        baseline.update(features)
        return baseline

    def count(self, state):
        """Return how many faces' baselines are in ``state`` (COLLECTING or READY)."""
        return sum(baseline.state == state for baseline in self._faces.values())

    def forget(self, face_ids):
        """Drop the baselines of these faces (their tracks expired)."""
        for face_id in face_ids:
            self._faces.pop(face_id, None)
