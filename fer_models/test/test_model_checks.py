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

"""Models checked at load: metadata against graph, outputs that are distributions."""

import json

from fer_models.core.crops import CropClassifier
from fer_models.core.fusion import check_distribution, FusionError
from fer_models.core.onnx_model import default_model_path, EmotionModel, ModelError
from fer_models.core.resources import shipped_model
import numpy as np
import pytest

pytestmark = pytest.mark.pure


def with_metadata(source, target, **changes):
    """Write a copy of the ONNX model ``source`` with some fer.* metadata changed."""
    import onnx

    model = onnx.load(source)
    for entry in model.metadata_props:
        key = entry.key[len('fer.'):]
        if key in changes:
            entry.value = changes[key]
    onnx.save(model, str(target))
    return str(target)


def test_metadata_with_fewer_labels_than_outputs_is_refused(tmp_path):
    path = with_metadata(default_model_path(), tmp_path / 'three.onnx',
                         labels=json.dumps(['neutral', 'happy', 'sad']))
    with pytest.raises(ModelError, match='its graph gives 7 outputs for the 3 labels'):
        EmotionModel(path)


def test_metadata_window_length_the_graph_does_not_take_is_refused(tmp_path):
    path = with_metadata(default_model_path(), tmp_path / 'short.onnx', window_length='4')
    with pytest.raises(ModelError, match='fer.window_length is 4 but its graph wants 8'):
        EmotionModel(path)


def test_the_shipped_models_pass_their_own_checks():
    for name in ('landmark_default.onnx', 'landmark_neutral.onnx', 'landmark_baseline.onnx'):
        EmotionModel(shipped_model(name))
    CropClassifier(shipped_model('ean_union.onnx'))


def test_a_crop_model_whose_labels_disagree_with_its_outputs_is_refused(tmp_path):
    path = with_metadata(shipped_model('ean_union.onnx'), tmp_path / 'crop.onnx',
                         labels=json.dumps(['happy', 'sad']))
    with pytest.raises(ModelError, match='outputs for the 2 labels'):
        CropClassifier(path)


@pytest.mark.parametrize('probabilities, message', [
    ([np.nan, 0.5, 0.5], 'NaN'),
    ([5.0, -4.0, 0.0], r'outside \[0, 1\]'),
    ([0.5, 0.2, 0.2], 'sum to 0.9'),
    ([1.2, 0.0, 0.0], r'outside \[0, 1\]'),
])
def test_what_is_not_a_distribution_is_refused(probabilities, message):
    with pytest.raises(FusionError, match=message):
        check_distribution(probabilities)


def test_float32_distributions_pass():
    check_distribution(np.full(7, 1 / 7, np.float32))
    check_distribution([1.0, 0.0, 0.0])
