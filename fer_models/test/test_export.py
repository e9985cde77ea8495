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

"""ONNX export, the metadata contract and its failure modes."""

import json

from fer_models.core.onnx_model import EmotionModel, ModelError
from fer_models.research.export import export_onnx
from fer_models.research.nets import parameter_count, WindowStatsMLP
import numpy as np
import pytest

LABELS = ('neutral', 'happy', 'surprise')


@pytest.fixture
def exported(tmp_path):
    """Export a small untrained network; return (EmotionModel, torch model, path)."""
    import torch

    torch.manual_seed(0)
    model = WindowStatsMLP(np.zeros(15), np.ones(15), len(LABELS), hidden=16)
    path = str(tmp_path / 'tiny.onnx')
    return export_onnx(model, path, model_name='tiny', labels=LABELS,
                       feature_type='geometric', window_length=4, feature_dim=15), model, path


def test_metadata_round_trip(exported):
    onnx_model, _, _ = exported
    assert onnx_model.model_name == 'tiny'
    assert onnx_model.labels == LABELS
    assert onnx_model.feature_type == 'dlib68:geometric'
    assert (onnx_model.window_length, onnx_model.feature_dim) == (4, 15)
    assert not onnx_model.has_valence_arousal


def test_onnx_matches_pytorch_and_batches(exported):
    import torch

    onnx_model, model, _ = exported
    windows = np.random.default_rng(3).normal(size=(6, 4, 15)).astype(np.float32)
    probabilities, _ = onnx_model.predict(windows)
    with torch.no_grad():
        expected = model(torch.as_tensor(windows)).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    single, _ = onnx_model.predict(windows[0])
    np.testing.assert_allclose(single[0], probabilities[0], atol=1e-6)
    assert parameter_count(model) == 15 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3


def test_check_window_explains_mismatches(exported):
    onnx_model, _, _ = exported
    assert onnx_model.check_window('dlib68:geometric', 4, 15) is None
    message = onnx_model.check_window('coords', 5, 136)
    assert "feature_type 'dlib68:coords' (model wants 'dlib68:geometric')" in message
    assert 'window_length 5 (model wants 4)' in message
    assert 'feature_dim 136 (model wants 15)' in message
    assert 'invalid feature_type' in onnx_model.check_window('nonsense+', 4, 15)
    # Same numbers of values, other meaning: baseline-relative features are refused.
    assert ("feature_type 'dlib68:geometric/neutral' (model wants 'dlib68:geometric')"
            in onnx_model.check_window('geometric/neutral', 4, 15))


def test_model_errors_name_the_file(tmp_path, exported):
    missing = tmp_path / 'missing.onnx'
    with pytest.raises(ModelError, match=f'model file not found: {missing}'):
        EmotionModel(missing)
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(b'not a model')
    with pytest.raises(ModelError, match=f'cannot load ONNX model {corrupt}'):
        EmotionModel(corrupt)
    import onnx

    _, _, path = exported
    graph = onnx.load(path)
    del graph.metadata_props[:]
    bare = str(tmp_path / 'bare.onnx')
    onnx.save(graph, bare)
    with pytest.raises(ModelError, match='lacks metadata fer.model_name'):
        EmotionModel(bare)
    entry = graph.metadata_props.add()
    for key, value in {'model_name': 'x', 'labels': '[not json', 'feature_type': 'coords',
                       'window_length': '4', 'feature_dim': '15'}.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = f'fer.{key}', value
    onnx.save(graph, bare)
    with pytest.raises(ModelError, match='invalid metadata'):
        EmotionModel(bare)


def test_shipped_model_honours_its_contract():
    from fer_models.core.onnx_model import default_model_path
    import os

    model = EmotionModel(default_model_path())
    assert os.path.getsize(model.path) < 1024 * 1024
    assert model.labels == ('neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'angry')
    assert json.loads(model.metadata['fer.labels']) == list(model.labels)
    # Better than chance (1 in 7) on each dataset it was not trained on.
    lodo = json.loads(model.metadata['fer.lodo_accuracy'])
    assert min(lodo.values()) > 0.2, lodo


def test_shipped_neutral_model_reads_relative_features():
    from fer_models.core.features import FeatureExtractor
    from fer_models.core.resources import shipped_model

    model = EmotionModel(shipped_model('landmark_neutral.onnx'))
    assert model.feature_type == 'dlib68:coords+geometric/neutral'
    assert (model.window_length, model.feature_dim) == (
        8, FeatureExtractor('dlib68:coords+geometric').dim)
    assert model.labels == ('neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'angry')
    # A face exactly at its own resting features shows no expression.
    probabilities, _ = model.predict(np.zeros((8, model.feature_dim), np.float32))
    assert model.labels[int(np.argmax(probabilities[0]))] == 'neutral'
