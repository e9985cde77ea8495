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
Expression models in ONNX: metadata convention and onnxruntime inference.

Every model we export carries its contract in the ONNX metadata, so a node
can check incoming windows against it instead of trusting configuration:

* ``fer.model_name``: short name, reported in fer_msgs/Emotion;
* ``fer.labels``: JSON list of output labels, in output order;
* ``fer.feature_type``: canonical feature specification (fer_models.core.features);
* ``fer.window_length`` and ``fer.feature_dim``: the input is (N, T, D);
* ``fer.valence_arousal``: ``"true"`` if a second output gives (N, 2)
  valence and arousal in [-1, 1].

The first output holds class probabilities (softmax is part of the graph).
"""

import json
import os

from fer_models.core.features import FeatureSpec
import numpy as np

METADATA_PREFIX = 'fer.'
REQUIRED_KEYS = ('model_name', 'labels', 'feature_type', 'window_length', 'feature_dim')


class ModelError(RuntimeError):
    """Raised when a model file is missing, unreadable or lacks metadata."""


def default_model_path():
    """Return the path of the shipped default landmark model."""
    from fer_models.core.resources import shipped_model
    return shipped_model('landmark_default.onnx')


def open_session(path, threads=1):
    """
    Return (absolute path, onnxruntime session, metadata dict) of an ONNX file.

    Raises ModelError naming the file when it is missing or not a model.
    """
    import onnxruntime as ort

    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.isfile(path):
        raise ModelError(f'model file not found: {path}')
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, sess_options=options,
                                       providers=['CPUExecutionProvider'])
    except Exception as error:  # onnxruntime raises several unrelated types
        raise ModelError(f'cannot load ONNX model {path}: {error}') from error
    return path, session, dict(session.get_modelmeta().custom_metadata_map)


class EmotionModel:
    """An onnxruntime session plus the model's metadata contract."""

    def __init__(self, path, threads=1):
        """Load ``path``; raise ModelError naming the file on any problem."""
        self.path, self._session, meta = open_session(path, threads)
        missing = [k for k in REQUIRED_KEYS if METADATA_PREFIX + k not in meta]
        if missing:
            raise ModelError(
                f'model {self.path} lacks metadata '
                f"{', '.join(METADATA_PREFIX + k for k in missing)}"
                ' (export it with fer_models.research.export)')
        try:
            self.model_name = meta['fer.model_name']
            self.labels = tuple(json.loads(meta['fer.labels']))
            self.feature_type = FeatureSpec.parse(meta['fer.feature_type']).name
            self.window_length = int(meta['fer.window_length'])
            self.feature_dim = int(meta['fer.feature_dim'])
        except (ValueError, TypeError) as error:
            raise ModelError(f'model {self.path} has invalid metadata: {error}') from error
        self.has_valence_arousal = meta.get('fer.valence_arousal', 'false') == 'true'
        self.metadata = dict(meta)
        self._input_name = self._session.get_inputs()[0].name
        self._check_graph_against_metadata()

    def _check_graph_against_metadata(self):
        """
        Run one window of the metadata's shape; raise ModelError if the graph disagrees.

        Windows are checked against the metadata only, so metadata that lies
        about the graph would fail on every window (onnxruntime refusing the
        shape) or give outputs that fit no label.
        """
        wants = self._session.get_inputs()[0].shape
        declared = (self.window_length, self.feature_dim)
        for name, graph_size, size in zip(('window_length', 'feature_dim'), wants[-2:], declared):
            if isinstance(graph_size, int) and graph_size != size:
                raise ModelError(f'model {self.path}: fer.{name} is {size} but its graph wants '
                                 f'{graph_size}')
        try:
            outputs = self._session.run(
                None, {self._input_name: np.zeros((1,) + declared, np.float32)})
        except Exception as error:  # onnxruntime raises several unrelated types
            raise ModelError(f'model {self.path}: its graph refuses a window of its metadata '
                             f'({declared[0]} x {declared[1]}): {error}') from error
        width = outputs[0].shape[-1] if outputs[0].ndim == 2 else None
        if outputs[0].shape != (1, len(self.labels)):
            raise ModelError(f'model {self.path}: its graph gives {width or outputs[0].shape} '
                             f'outputs for the {len(self.labels)} labels of fer.labels')
        if self.has_valence_arousal and (len(outputs) < 2 or outputs[1].shape != (1, 2)):
            raise ModelError(f'model {self.path}: fer.valence_arousal is true but its graph has '
                             'no (N, 2) second output')

    def check_window(self, feature_type, window_length, feature_dim):
        """Return None if a window fits the model, else a message saying why not."""
        try:
            feature_type = FeatureSpec.parse(feature_type).name
        except ValueError as error:
            return f'invalid feature_type: {error}'
        problems = []
        if feature_type != self.feature_type:
            problems.append(f"feature_type '{feature_type}' (model wants '{self.feature_type}')")
        if window_length != self.window_length:
            problems.append(f'window_length {window_length} (model wants {self.window_length})')
        if feature_dim != self.feature_dim:
            problems.append(f'feature_dim {feature_dim} (model wants {self.feature_dim})')
        if not problems:
            return None
        return f"window does not fit model '{self.model_name}': " + ', '.join(problems)

    def predict(self, windows):
        """
        Return (probabilities (N, C), valence_arousal (N, 2) or None).

        windows: (N, T, D) or (T, D) float32 array.
        """
        batch = np.asarray(windows, dtype=np.float32)
        if batch.ndim == 2:
            batch = batch[None]
        outputs = self._session.run(None, {self._input_name: batch})
        valence_arousal = outputs[1] if self.has_valence_arousal and len(outputs) > 1 else None
        return outputs[0], valence_arousal
