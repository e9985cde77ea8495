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

"""emotion_classifier_node: feature windows in, smoothed expressions out."""

from fer_models.core.affect import valence_arousal as derived_valence_arousal
from fer_models.core.baseline import (
    AUTO, COLLECTING, DEFAULT_MODELS, mode_mismatch, mode_of_feature_type, OFF)
from fer_models.core.features import FeatureError
from fer_models.core.fusion import (
    check_distribution, combine, DEFAULT_APPEARANCE_WEIGHT, DEFAULT_FUSION, FUSION_MODES,
    FusionError, Stacker, STACKER_FILE)
from fer_models.core.labels import UNKNOWN
from fer_models.core.onnx_model import EmotionModel, ModelError
from fer_models.core.resources import model_file, shipped_model
from fer_models.core.smoothing import (
    decide, DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_HEAD_ANGLE_DEG, pose_gate,
    ProbabilitySmoother, SMOOTHING_METHODS)
from fer_msgs.msg import Emotion, FeatureWindow
from fer_ros.conversions import (
    ConversionError, emotion_to_msg, msg_to_appearance, msg_to_head_pose,
    msg_to_neutral_baseline, msg_to_window)
from fer_ros.diagnostics import ERROR, OK, STALE
from fer_ros.lifecycle import INPUT_TIMEOUT, ManagedNode, MAX_FACES_KEPT, NEUTRAL_BASELINE
from fer_ros.parameters import ParameterError, ParamSpec
from fer_ros.runtime import run_node
import numpy as np
from std_msgs.msg import String

PARAMETERS = (
    ParamSpec('model_path', '',
              'ONNX expression model exported by fer_models (empty: the shipped model for '
              'neutral_baseline, landmark_default.onnx for off, landmark_neutral.onnx for '
              'auto; a bare file name such as landmark_default.onnx: that shipped model). '
              'Its metadata fixes labels, feature type and window size; a model whose '
              'feature type does not fit neutral_baseline is refused.'),
    NEUTRAL_BASELINE,
    ParamSpec('absolute_model_path', '',
              'With neutral_baseline auto: the model of absolute features that reads a face '
              'whose baseline is not ready yet (a still, the first frames of a track), so '
              f'that such a face is read as with neutral_baseline off (empty: the shipped '
              f'{DEFAULT_MODELS[OFF]}; a model of relative features is refused).'),
    ParamSpec('num_threads', 1, 'onnxruntime intra-op threads.', min_value=1, max_value=16),
    ParamSpec('smoothing', 'ema',
              'Temporal smoothing of probabilities: ema (exponential moving average), '
              'majority (vote over the last majority_window predictions) or none.',
              choices=SMOOTHING_METHODS),
    ParamSpec('ema_alpha', 0.5, 'Weight of the newest prediction in the EMA.',
              min_value=0.01, max_value=1.0),
    ParamSpec('majority_window', 5, 'Predictions in the majority vote.',
              min_value=1, max_value=100),
    ParamSpec('confidence_threshold', DEFAULT_CONFIDENCE_THRESHOLD,
              "Below this smoothed probability the label is 'unknown' (default: where the "
              'shipped model is right 60 % of the time on unseen datasets).',
              min_value=0.0, max_value=1.0),
    ParamSpec('max_head_angle_deg', DEFAULT_MAX_HEAD_ANGLE_DEG,
              "Beyond this head turn (the larger of |yaw| and |pitch|) the label is 'unknown' "
              'and Emotion.reason says why (default: where accuracy halves, see '
              'fer_models/reports/head_pose.md); 180 turns the gate off.',
              min_value=0.0, max_value=180.0),
    ParamSpec('face_timeout_s', 2.0,
              'Forget the smoothing history of a face unseen for this long (frame time).',
              min_value=0.0, max_value=600.0),
    MAX_FACES_KEPT,
    INPUT_TIMEOUT,
    ParamSpec('fusion', DEFAULT_FUSION,
              'Which path decides: landmark (the landmark model alone), appearance (the '
              'appearance probabilities landmark_node attaches, see its appearance_model_path), '
              'late (weighted mean of both) or stacked (learnt fusion of both, see '
              'stacker_path); appearance, late and stacked use the landmark model alone '
              'while a window has no appearance probabilities.',
              choices=FUSION_MODES),
    ParamSpec('stacker_path', '',
              "Learnt fusion for 'stacked' (JSON of ./fer train generalisation fusion); "
              f'empty = the shipped {STACKER_FILE}.'),
    ParamSpec('appearance_weight', DEFAULT_APPEARANCE_WEIGHT,
              "Weight of the appearance path in 'late' fusion (default: the best mean "
              'accuracy on datasets the models never saw, see '
              'fer_models/reports/generalisation.md).', min_value=0.0,
              max_value=1.0),
)

_SMOOTHER_PARAMETERS = {'smoothing', 'ema_alpha', 'majority_window'}
_MODEL_PARAMETERS = {'model_path', 'absolute_model_path', 'num_threads', 'neutral_baseline'}


class BaselineMismatch(ModelError):
    """Raised for a model that reads other features than neutral_baseline makes."""

    def __init__(self, message, parameter='model_path'):
        """Say what is wrong and which parameter names the model."""
        super().__init__(message)
        self.parameter = parameter


def model_path_of(settings):
    """Return the model file ``settings`` (parameter values) name: empty is neutral_baseline's."""
    return model_file(settings['model_path'] or DEFAULT_MODELS[settings['neutral_baseline']])


def absolute_model_path_of(settings):
    """Return the file of the absolute model that reads faces while their baseline collects."""
    return model_file(settings['absolute_model_path'] or DEFAULT_MODELS[OFF])


class Models:
    """The landmark models of one setting: the mode's model, and in auto the absolute one."""

    def __init__(self, settings):
        """
        Load the models ``settings`` (parameter values) name.

        Raises ModelError for a model that does not load, BaselineMismatch for
        one whose features do not fit neutral_baseline.
        """
        self.model = EmotionModel(model_path_of(settings), threads=settings['num_threads'])
        problem = mode_mismatch(settings['neutral_baseline'], self.model.model_name,
                                self.model.feature_type)
        if problem:
            raise BaselineMismatch(problem)
        self.absolute = self.model
        if settings['neutral_baseline'] == AUTO:
            self.absolute = EmotionModel(absolute_model_path_of(settings),
                                         threads=settings['num_threads'])
            if mode_of_feature_type(self.absolute.feature_type) != OFF:
                raise BaselineMismatch(
                    f"model '{self.absolute.model_name}' reads features relative to the "
                    f"resting face ('{self.absolute.feature_type}'), but this model reads "
                    'faces whose baseline is not ready, from absolute features: name a model '
                    f'for neutral_baseline off (empty: the shipped {DEFAULT_MODELS[OFF]})',
                    'absolute_model_path')

    def for_state(self, state):
        """Return the model that reads windows in baseline ``state``."""
        return self.absolute if state == COLLECTING else self.model


class EmotionClassifierNode(ManagedNode):
    """
    Runs the ONNX model on fer/features; publishes emotion and emotion/label.

    A missing or broken model does not fail configuration: the node reports
    it (ERROR diagnostic naming the file), drops windows and loads a model as
    soon as 'model_path' names a valid one.
    """

    def __init__(self, **kwargs):
        """Declare parameters and the emotion publishers."""
        super().__init__('emotion_classifier_node', PARAMETERS, **kwargs)
        self._emotion_publisher = self._create_output_publisher(Emotion, 'emotion', 10)
        self._label_publisher = self.create_lifecycle_publisher(String, 'emotion/label', 10)
        self._model = None
        self._candidate = None  # a model tried by a live change, loaded once accepted
        self._stacker = None
        self._smoother = None
        self._last_seen = {}
        self._window_time = 0.0
        # A model that cannot read the windows neutral_baseline makes is a
        # configuration error, refused at start like a value out of range; a
        # missing or broken model is reported by configure and can be fixed live.
        try:
            model = Models(self._params)
        except BaselineMismatch as error:
            raise ParameterError(
                f"{self.get_name()}: parameter '{error.parameter}': {error}") from None
        except ModelError:
            model = None
        # Loaded already: configure takes it, unless a lifecycle manager
        # configures later, after parameters may have changed.
        self._candidate = model if self.autostart else None

    def _configure(self):
        self._load_model()
        self._load_stacker()
        self._smoother = self._make_smoother()

    def _activate(self):
        # Windows come only while a face is seen: a silent input is no fault,
        # but the last /emotion is stale, and /diagnostics says so.
        self._create_input_subscription(
            FeatureWindow, 'fer/features', self._on_window, 10, silence_level=STALE)

    def _deactivate(self):
        self._smoother = self._make_smoother()
        self._last_seen = {}

    def _cleanup(self):
        self._model = None
        self._stacker = None
        self._smoother = None

    def _check_changes(self, changes):
        # A live model change is tried before it is made: a model that does
        # not load or disagrees with its own metadata is refused, and the
        # node keeps the one it has.
        if not changes.keys() & _MODEL_PARAMETERS:
            return None
        try:
            self._candidate = Models({**self._params, **changes})
        except ModelError as error:
            kept = f"model '{self._model.model.model_name}'" if self._model else 'no model'
            names = sorted(changes.keys() & {'model_path', 'absolute_model_path',
                                             'neutral_baseline'}) or ['model_path']
            self.get_logger().error(f'model change refused: {error}; keeping {kept}')
            return (f"parameter {' and '.join(repr(n) for n in names)}: {error}; "
                    f'keeping {kept}')
        return None

    def _load_model(self):
        path = model_path_of(self._params)
        candidate, self._candidate = self._candidate, None
        try:
            self._model = candidate or Models(self._params)
        except ModelError as error:
            self._model = None
            message = f'no model loaded: {error}'
            self.get_logger().error(f"{message}; windows are dropped until 'model_path' "
                                    'names a valid model')
            self._diagnostics.set_state(ERROR, message)
            self._diagnostics.set_value('model_path', path)
            return
        model = self._model.model
        self.get_logger().info(
            f"model '{model.model_name}' from {model.path}: labels {', '.join(model.labels)}; "
            f'input {model.window_length} x {model.feature_dim} {model.feature_type}')
        if self._model.absolute is not model:
            self.get_logger().info(
                f"faces whose baseline is not ready: model '{self._model.absolute.model_name}' "
                f'from {self._model.absolute.path}')
            self._diagnostics.set_value('absolute_model_name', self._model.absolute.model_name)
        self._diagnostics.set_state(OK, f"model '{model.model_name}' loaded")
        self._diagnostics.set_value('model_path', model.path)
        self._diagnostics.set_value('model_name', model.model_name)
        self._diagnostics.set_value('neutral_baseline', self._params['neutral_baseline'])

    def _load_stacker(self):
        self._stacker = None
        if self._params['fusion'] != 'stacked':
            return
        path = self._params['stacker_path'] or shipped_model(STACKER_FILE)
        try:
            self._stacker = Stacker.load(path)
        except FusionError as error:
            self.get_logger().error(f'{error}; stacked fusion falls back to the landmark model')
            self._diagnostics.set_state(ERROR, str(error))
            return
        self._diagnostics.set_value('stacker_path', path)

    def _make_smoother(self):
        return ProbabilitySmoother(self._params['smoothing'], self._params['ema_alpha'],
                                   self._params['majority_window'])

    def _on_window(self, msg):
        self._diagnostics.count('windows_received')
        self._window_time = self._frame_time(msg.header.stamp)
        if self._model is None:
            self._diagnostics.bad_input('window', 'no model loaded')
            return
        try:
            state, _, _ = msg_to_neutral_baseline(msg)
        except ConversionError as error:
            self._diagnostics.bad_input('window', str(error))
            return
        # A face whose baseline is not ready is read as with neutral_baseline off.
        model = self._model.for_state(state)
        problem = model.check_window(msg.feature_type, msg.window_length, msg.feature_dim)
        if problem:
            self._diagnostics.bad_input('window', problem + self._baseline_hint(msg.feature_type))
            return
        try:
            window = msg_to_window(msg)
        except ConversionError as error:
            self._diagnostics.bad_input('window', str(error))
            return
        if state == COLLECTING:
            self._diagnostics.count('emotions_collecting_baseline')
        probabilities, valence_arousal = model.predict(window)
        try:
            check_distribution(probabilities[0])
        except FusionError as error:
            # E.g. NaN from a finite but extreme window: it must not enter the
            # face's smoothing state, which would answer NaN from then on.
            self._smoother.forget(msg.face_id)
            self._diagnostics.bad_input(
                'model_output', f'window of face {msg.face_id}: model output refused, {error}; '
                "the face's smoothing state is reset")
            return
        try:
            probabilities, model_name = self._fuse(probabilities[0], msg, model)
        except FusionError as error:
            self._diagnostics.bad_input('appearance', f'window of face {msg.face_id}: {error}')
            return
        reason = pose_gate(msg_to_head_pose(msg), self._params['max_head_angle_deg'])
        if reason:
            # A turned-away face says little: publish the model's raw answer as
            # unknown and keep it out of the face's smoothing history.
            label, confidence, published = UNKNOWN, float(np.max(probabilities)), probabilities
            self._diagnostics.count('emotions_gated_by_head_pose')
        else:
            published, top = self._smoother.update(msg.face_id, probabilities)
            label, confidence, reason = decide(model.labels, published, top,
                                               self._params['confidence_threshold'])
        if valence_arousal is not None:
            valence_arousal = valence_arousal[0]
        elif label != UNKNOWN:
            valence_arousal = derived_valence_arousal(model.labels, published)
        self._publish(msg, label, confidence, model.labels, published, model_name,
                      valence_arousal, reason, state)

    def _baseline_hint(self, feature_type):
        """Say how to fix windows made with another neutral_baseline than this node's."""
        try:
            mode = mode_of_feature_type(feature_type)
        except FeatureError:
            return ''
        if mode == self._params['neutral_baseline']:
            return ''
        return (f"; the windows come from neutral_baseline '{mode}', this node has "
                f"'{self._params['neutral_baseline']}': set it once for both nodes "
                "(the parameter file's '/**' section, or ros2 launch neutral_baseline:=...)")

    def _publish(self, window, label, confidence, labels, probabilities, model_name,
                 valence_arousal, reason, neutral_baseline):
        """Publish the Emotion (and its label) answering one FeatureWindow."""
        emotion = emotion_to_msg(
            window.header, window.face_id, label, confidence, labels, probabilities, model_name,
            valence_arousal, self.get_clock().now().nanoseconds * 1e-9, msg_to_head_pose(window),
            reason, neutral_baseline)
        self._publish_output(emotion)
        self._label_publisher.publish(String(data=label))
        self._diagnostics.count('emotions_published')
        self._diagnostics.set_value('latency_ms', f'{emotion.latency_ms:.1f}')
        self._forget_stale_faces(window.face_id, self._window_time)

    def _fuse(self, landmark_probabilities, msg, model):
        mode = self._params['fusion']
        appearance = msg_to_appearance(msg)
        usable = appearance is not None and (mode != 'stacked' or self._stacker is not None)
        if mode != 'landmark' and not usable:
            mode = 'landmark'
        self._diagnostics.set_value('fusion', mode)
        fused = combine(mode, landmark_probabilities, model.labels,
                        None if appearance is None else appearance.probabilities,
                        () if appearance is None else appearance.labels,
                        self._params['appearance_weight'], self._stacker)
        if mode == 'landmark':
            return fused, model.model_name
        if mode == 'appearance':
            return fused, appearance.model_name
        return fused, f'{model.model_name}+{appearance.model_name}'

    def _forget_stale_faces(self, face_id, now):
        self._last_seen.pop(face_id, None)
        self._last_seen[face_id] = now  # the dict's order: least recently seen first
        timeout = self._params['face_timeout_s']
        recent = [(f, t) for f, t in self._last_seen.items() if now - t <= timeout]
        self._last_seen = dict(recent[-self._params['max_faces_kept']:])
        self._smoother.forget_all_except(self._last_seen)
        self._diagnostics.set_value('faces', len(self._last_seen))

    def _apply_parameters(self, names):
        if names & {'fusion', 'stacker_path'}:
            self._load_stacker()
        if names & _MODEL_PARAMETERS:
            self._load_model()
            self._smoother = self._make_smoother()
        elif names & _SMOOTHER_PARAMETERS:
            self._smoother = self._make_smoother()


def main(args=None):
    """Run emotion_classifier_node until shut down."""
    run_node(EmotionClassifierNode, args)


if __name__ == '__main__':
    main()
