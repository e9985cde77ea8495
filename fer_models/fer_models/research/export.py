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

"""Export to ONNX with the fer.* metadata contract and a parity check."""

import json
import os

from fer_models.core.onnx_model import EmotionModel, METADATA_PREFIX
import numpy as np

PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """Raised when the exported model disagrees with PyTorch."""


def write_onnx(model, example, path, input_name, metadata):
    """
    Export ``model`` traced on ``example`` to ``path`` with ``fer.*`` metadata.

    The batch dimension of the input and of the ``probabilities`` output is
    dynamic; the graph is checked before it is saved.
    """
    import onnx
    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(model.eval(), (example,), path, input_names=[input_name],
                      output_names=['probabilities'], opset_version=17, dynamo=False,
                      dynamic_axes={input_name: {0: 'batch'}, 'probabilities': {0: 'batch'}})
    graph = onnx.load(path)
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, str(value)
    onnx.checker.check_model(graph)
    onnx.save(graph, path)


def check_parity(model, probe, onnx_probabilities):
    """Raise ExportError if onnxruntime's output on ``probe`` strays from PyTorch's."""
    import torch

    with torch.no_grad():
        expected = model(probe).numpy()
    difference = float(np.max(np.abs(onnx_probabilities - expected)))
    if difference > PARITY_TOLERANCE:
        raise ExportError(f'ONNX and PyTorch differ by {difference:.2e} (> {PARITY_TOLERANCE})')


def export_onnx(model, path, *, model_name, labels, feature_type, window_length, feature_dim,
                extra_metadata=None, seed=0):
    """
    Export ``model`` ((N, T, D) -> probabilities) to ``path``; return EmotionModel.

    Writes the metadata that EmotionModel and the classifier node check, then
    compares onnxruntime's outputs with PyTorch's on random windows and raises
    ExportError if they differ by more than PARITY_TOLERANCE.
    """
    import torch

    model = model.eval()
    example = torch.randn(2, window_length, feature_dim,
                          generator=torch.Generator().manual_seed(seed))
    write_onnx(model, example, path, 'features', {
        'model_name': model_name, 'labels': json.dumps(list(labels)),
        'feature_type': feature_type, 'window_length': str(window_length),
        'feature_dim': str(feature_dim), **(extra_metadata or {})})
    exported = EmotionModel(path)
    probe = torch.randn(5, window_length, feature_dim,
                        generator=torch.Generator().manual_seed(seed + 1))
    check_parity(model, probe, exported.predict(probe.numpy())[0])
    return exported
