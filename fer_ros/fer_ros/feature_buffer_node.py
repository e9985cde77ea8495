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

"""feature_buffer_node: per-face sliding windows of landmark features."""

from fer_models.core.baseline import (
    AUTO, COLLECTING, DEFAULT_FRAMES_NEEDED, DEFAULT_MAX_MOTION, DEFAULT_MIN_NEUTRAL,
    FaceBaselines, load_resting_corrections, log_probabilities, neutral_probability, READY,
    RESTING_FILE)
from fer_models.core.features import (
    FeatureError, FeatureExtractor, FeatureSpec, NEUTRAL_REFERENCE)
from fer_models.core.resources import model_file
from fer_models.core.window import FaceWindows
from fer_msgs.msg import FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import (
    Appearance, ConversionError, landmarks_to_points, msg_to_appearance, msg_to_head_pose,
    window_to_msg)
from fer_ros.diagnostics import OK, WARN
from fer_ros.lifecycle import INPUT_TIMEOUT, ManagedNode, MAX_FACES_KEPT, NEUTRAL_BASELINE
from fer_ros.parameters import ParamSpec
from fer_ros.runtime import run_node
import numpy as np


def absolute_feature_type(text):
    """Parse a feature_type parameter; raise FeatureError for one with a reference."""
    spec = FeatureSpec.parse(text)
    if spec.reference:
        raise FeatureError(
            f"'{text}': give the feature type without '/{spec.reference}'; "
            f'neutral_baseline: auto adds /{NEUTRAL_REFERENCE} to the windows it makes relative')
    return spec


PARAMETERS = (
    ParamSpec('feature_type', 'dlib68:coords+geometric',
              "Feature specification '[layout:]kind+kind', layouts dlib68 or mesh468; "
              'per-frame kinds coords, distances, geometric; window kinds displacement, '
              "velocity. Must match the classifier's model (with neutral_baseline auto, "
              f"the model's feature type ends in /{NEUTRAL_REFERENCE}: give it without).",
              validator=absolute_feature_type),
    NEUTRAL_BASELINE,
    ParamSpec('baseline_frames', DEFAULT_FRAMES_NEEDED,
              'Resting frames a face needs before its neutral baseline is ready, and how many '
              'it keeps (neutral_baseline auto; at 30 fps, 20 frames take at least 0.7 s). '
              'Until then the face is read as with neutral_baseline off.',
              min_value=1, max_value=900),
    ParamSpec('baseline_max_motion', DEFAULT_MAX_MOTION,
              'A frame can be a resting frame when the root-mean-square change of its '
              "features since the face's previous frame is at most this (inter-ocular "
              'distances for coordinates).',
              min_value=0.0, max_value=1.0),
    ParamSpec('baseline_min_neutral', DEFAULT_MIN_NEUTRAL,
              'With the appearance path: a low-motion frame is a resting frame when the '
              "appearance model's probability of neutral is at least this; a face keeps the "
              'baseline_frames most neutral-looking ones seen so far and re-estimates its '
              'baseline when a more neutral-looking one comes (0: any low-motion frame, '
              'ranked). Without the appearance path the first low-motion frames are kept.',
              min_value=0.0, max_value=1.0),
    ParamSpec('appearance_resting_path', '',
              "With neutral_baseline auto: JSON of the appearance models' resting corrections "
              '(./fer train neutral both-paths; empty: the shipped '
              f'{RESTING_FILE}). A face with a ready baseline gets its appearance '
              'probabilities taken relative to its resting appearance; a model the file does '
              'not name is passed on uncorrected (a warning in /diagnostics says so).'),
    ParamSpec('window_length', 8, 'Frames per window.', min_value=1, max_value=300),
    ParamSpec('stride', 1, 'Publish a window every this many frames of a face.',
              min_value=1, max_value=300),
    ParamSpec('face_timeout_s', 1.0,
              'Forget the window of a face unseen for this long (frame time).',
              min_value=0.0, max_value=600.0),
    MAX_FACES_KEPT,
    INPUT_TIMEOUT,
)


class FeatureBufferNode(ManagedNode):
    """Turns fer/landmarks into fer/features windows, one buffer per face."""

    def __init__(self, **kwargs):
        """Declare parameters and the window publisher."""
        super().__init__('feature_buffer_node', PARAMETERS, **kwargs)
        self._publisher = self._create_output_publisher(FeatureWindow, 'fer/features', 10)
        self._extractor = None
        self._feature_type = None  # published: the extractor's, plus /neutral in auto
        self._windows = None
        self._baselines = None  # None while neutral_baseline is off
        self._corrections = {}  # appearance model name: RestingCorrection

    def _configure(self):
        self._apply_parameters(set())

    def _activate(self):
        self._create_input_subscription(
            FaceLandmarksArray, 'fer/landmarks', self._on_landmarks, 10)

    def _deactivate(self):
        # A face seen before the pause must not continue an old window or baseline.
        self._forget_faces()

    def _cleanup(self):
        self._extractor = None
        self._windows = None
        self._baselines = None

    def _forget_faces(self):
        self._windows = FaceWindows(self._params['window_length'], self._params['stride'],
                                    self._params['face_timeout_s'],
                                    self._params['max_faces_kept'])
        self._baselines = None
        if self._params['neutral_baseline'] == AUTO:
            self._baselines = FaceBaselines(self._params['baseline_frames'],
                                            self._params['baseline_max_motion'],
                                            self._params['baseline_min_neutral'])

    def _on_landmarks(self, msg):
        self._diagnostics.count('landmark_arrays_received')
        now = self._frame_time(msg.header.stamp)
        for face in msg.faces:
            try:
                points = landmarks_to_points(face)
                features = self._extractor.frame(points, face.image_width, face.image_height)
            except (ConversionError, FeatureError) as error:
                self._diagnostics.bad_input('landmarks', f'rejected face {face.face_id}: {error}')
                continue
            appearance = msg_to_appearance(face)
            baseline = None
            if self._baselines is not None:
                baseline = self._offer_resting_frame(face.face_id, features, appearance)
            frames = self._windows.push(face.face_id, features, now)
            if frames is None:
                continue
            feature_type = self._extractor.name
            if baseline is not None and baseline.state == READY:
                frames = baseline.relative(frames)
                feature_type = self._feature_type
                appearance = self._corrected(appearance, baseline)
            self._publish_output(window_to_msg(
                self._extractor.window(frames), face.face_id, feature_type, msg.header,
                appearance, msg_to_head_pose(face), baseline))
            self._diagnostics.count('windows_published')
        stale = self._windows.forget_stale(now)
        self._diagnostics.set_value('faces_buffered', len(self._windows.face_ids))
        if self._baselines is not None:
            self._baselines.forget(stale)
            self._diagnostics.set_value('neutral_baselines_ready', self._baselines.count(READY))
            self._diagnostics.set_value('neutral_baselines_collecting',
                                        self._baselines.count(COLLECTING))
            self._diagnostics.set_value('resting_frames', self._baselines.summary())

    def _offer_resting_frame(self, face_id, features, appearance):
        """Offer a frame to the face's baseline, with the appearance path's opinion of it."""
        if appearance is None:
            self._diagnostics.warn_once(
                'resting_frames_without_appearance',
                'neutral_baseline auto without the appearance path (landmark_node '
                "appearance_model_path ''): the resting frames are the first low-motion "
                'frames, and a face that does not start neutral gets a wrong baseline')
            return self._baselines.update(face_id, features)
        return self._baselines.update(
            face_id, features, neutral_probability(appearance.labels, appearance.probabilities),
            log_probabilities(appearance.probabilities))

    def _corrected(self, appearance, baseline):
        """Return the appearance output relative to the face's resting appearance."""
        if appearance is None or baseline.resting_log_probabilities is None:
            return appearance
        correction = self._corrections.get(appearance.model_name)
        if correction is None or correction.labels != appearance.labels:
            self._diagnostics.warn_once(
                'appearance_resting', 'no resting correction for appearance model '
                f"'{appearance.model_name}' with labels {', '.join(appearance.labels)} in "
                f'{self._resting_path()}: its probabilities are passed on uncorrected')
            return appearance
        return Appearance(appearance.model_name, appearance.labels, correction.correct(
            appearance.probabilities, baseline.resting_log_probabilities).astype(np.float32))

    def _resting_path(self):
        return model_file(self._params['appearance_resting_path'] or RESTING_FILE)

    def _apply_parameters(self, names):
        self._extractor = FeatureExtractor(self._params['feature_type'])
        self._feature_type = self._extractor.name
        if self._params['neutral_baseline'] == AUTO:
            self._feature_type = self._extractor.spec.with_reference(NEUTRAL_REFERENCE).name
        self._diagnostics.set_state(OK, f'features {self._feature_type}')
        self._corrections = {}
        if self._params['neutral_baseline'] == AUTO:
            self._load_corrections()
        # Frames computed with other settings must not mix into new windows or baselines.
        self._forget_faces()

    def _load_corrections(self):
        path = self._resting_path()
        try:
            self._corrections = load_resting_corrections(path)
        except ValueError as error:
            message = f'{error}; appearance probabilities are passed on uncorrected'
            self.get_logger().warning(message)
            self._diagnostics.set_state(WARN, message)
            return
        self._diagnostics.set_value('appearance_resting_models', ', '.join(
            f'{name} (strength {c.strength:g})' for name, c in self._corrections.items()))


def main(args=None):
    """Run feature_buffer_node until shut down."""
    run_node(FeatureBufferNode, args)


if __name__ == '__main__':
    main()
