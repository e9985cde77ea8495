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

"""face-api.js's expression model in PyTorch: manifest decoding, TF padding, equal to Node."""

import json
import os
import shutil

from fer_models.research import faceapi_teacher, protocol
from fer_models.research.datasets import data_root
import numpy as np
import pytest
import torch

TFEID = os.path.join(data_root(), 'taiwanese')
INSTALLED = os.path.isfile(os.path.join(
    faceapi_teacher.node_modules_home(), 'node_modules',
    *faceapi_teacher.NPM_PACKAGE.split('/'), faceapi_teacher.MANIFEST))
needs_package = pytest.mark.skipif(
    not INSTALLED, reason=f'{faceapi_teacher.NPM_PACKAGE} {faceapi_teacher.NPM_VERSION} is not '
    f'installed in {faceapi_teacher.node_modules_home()} (./fer research-setup runs npm ci; '
    'kept out of ./fer setup: 330 MB of npm packages used only by this research check)')
needs_node = pytest.mark.skipif(shutil.which('node') is None,
                                reason='node is not installed (Debian: apt-get install nodejs)')
needs_tfeid = pytest.mark.skipif(not os.path.isdir(TFEID), reason=f'TFEID not found in {TFEID}')


def write_manifest(folder, entries, data):
    (folder / 'model').mkdir()
    (folder / faceapi_teacher.MANIFEST).write_text(json.dumps(
        [{'paths': ['shard.bin'], 'weights': entries}]))
    (folder / 'model' / 'shard.bin').write_bytes(data)


def test_the_manifest_is_dequantised_as_tfjs_does(tmp_path):
    quantised = np.array([0, 1, 255, 128], np.uint8)
    bias = np.array([0.5, -2.0], '<f4')
    write_manifest(tmp_path, [
        {'name': 'a/filters', 'shape': [2, 2], 'dtype': 'float32',
         'quantization': {'dtype': 'uint8', 'scale': 0.01, 'min': -1.0}},
        {'name': 'a/bias', 'shape': [2], 'dtype': 'float32'}],
        quantised.tobytes() + bias.tobytes())
    weights = faceapi_teacher.read_weights(str(tmp_path))
    np.testing.assert_allclose(weights['a/filters'], [[-1.0, -0.99], [1.55, 0.28]], atol=1e-6)
    np.testing.assert_array_equal(weights['a/bias'], bias)


def test_a_manifest_that_does_not_match_its_shard_is_refused(tmp_path):
    write_manifest(tmp_path, [{'name': 'b', 'shape': [2], 'dtype': 'float32'}], b'\0' * 12)
    with pytest.raises(ValueError, match='4 bytes left'):
        faceapi_teacher.read_weights(str(tmp_path))


@pytest.mark.parametrize('size, stride, padding', [
    (112, 2, (0, 1)),  # TensorFlow puts the odd pixel of 'same' at the bottom/right
    (7, 2, (1, 1)),
    (56, 1, (1, 1))])
def test_same_padding_is_tensorflows(size, stride, padding):
    padded = faceapi_teacher.same_pad(torch.ones(1, 1, size, size), stride)[0, 0]
    before, after = padding
    assert padded.shape == (size + before + after,) * 2
    assert padded[before:before + size, before:before + size].eq(1).all()
    assert padded.sum() == size * size


def test_labels_cover_the_protocol():
    assert set(faceapi_teacher.FACEAPI_LABELS) == set(protocol.LABELS)


@needs_package
def test_the_converted_model_is_the_manifests_graph():
    model = faceapi_teacher.build_model()
    weights = faceapi_teacher.read_weights()
    assert len(weights) == 49 and weights['fc/weights'].shape == (256, 7)
    assert sum(p.numel() for p in model.parameters()) == sum(w.size for w in weights.values())
    logits = model(torch.full((2, 3, 112, 112), 128.0))
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()


@needs_package
@needs_node
@needs_tfeid
def test_the_conversion_equals_face_api_in_node_on_real_faces():
    faces, landmarks = faceapi_teacher.dataset_faces('taiwanese')
    picked = np.linspace(0, len(faces) - 1, 24).astype(int)  # spread over the performers
    result = faceapi_teacher.compare(faces[picked], log=lambda *_: None)
    assert result['faces'] == 24
    assert result['max_abs_probability_difference'] < 1e-4, result
    assert result['argmax_agreement'] == 1.0, result
    logits = faceapi_teacher.teacher_logits(faces[picked], log=lambda *_: None)
    happy = landmarks.labels[picked] == 'happy'
    assert happy.any()
    assert (logits[happy].argmax(1) == protocol.LABELS.index('happy')).mean() > 0.5


def test_a_recipe_can_distil_from_it_under_its_own_run_names():
    from fer_models.research import appearance

    recipe = appearance.Recipe(distil=True, teacher=faceapi_teacher.NAME)
    assert recipe.variant == faceapi_teacher.VARIANT == 'kdfaceapi'
    assert appearance.run_name('taiwanese', recipe.variant) == 'kdfaceapi_lodo_taiwanese'
