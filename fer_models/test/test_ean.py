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

"""EAN appearance path: attention, KD loss, training on FER2013 rows, ONNX export."""

import math
import os

from fer_models.core.crops import CropClassifier, square_crop
from fer_models.core.resources import shipped_model
from fer_models.research import distill
from fer_models.research.ean import (build_model, count_mflops, eca_kernel_size, export_crop_model,
                                     kd_loss, LocalChannelAttention)
from fer_models.research.fer2013 import CropSet, FER2013_LABELS, fer2013_path, load_fer2013
from fer_models.research.nets import parameter_count
import numpy as np
import pytest
import torch

FER2013 = fer2013_path()
needs_fer2013 = pytest.mark.skipif(
    not os.path.isfile(FER2013),
    reason=f'FER2013 not found at {FER2013} (set FER_DATA_DIR to the shared data folder)')


@pytest.fixture(scope='module')
def fer2013_splits():
    """Return FER2013 (train, validation, test) with the default split."""
    return load_fer2013()


@pytest.fixture(scope='module')
def small_fer2013(fer2013_splits):
    """Return tiny (train, validation, test) CropSets of real FER2013 rows."""
    rng = np.random.default_rng(0)

    def sample(crops, n):
        rows = rng.choice(len(crops.targets), n, replace=False)
        return CropSet(crops.images[rows], crops.targets[rows])

    train, validation, test = fer2013_splits
    return sample(train, 128), sample(validation, 32), sample(test, 32)


@pytest.mark.parametrize('channels, expected', [(16, 3), (32, 3), (64, 3), (128, 5), (256, 5),
                                                (512, 5), (1024, 5), (4096, 7)])
def test_kernel_size_rule(channels, expected):
    # k = |log2(C) / 2 + 1 / 2| truncated, then made odd (ECA-Net, gamma=2, b=1).
    assert eca_kernel_size(channels) == expected
    assert LocalChannelAttention(channels).conv.kernel_size == (expected,)


def test_attention_shapes_and_gradients():
    torch.manual_seed(0)
    module = LocalChannelAttention(64)
    x = torch.randn(3, 64, 6, 5, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert module.conv.weight.grad is not None and module.conv.weight.grad.abs().sum() > 0
    assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    # The gate is a per-channel scale in (0, 1): the ratio is constant over space.
    ratio = (y / x).detach()
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0) & (ratio < 1)).all()
    assert sum(p.numel() for p in module.parameters()) == 3


def test_models_fit_the_budget_and_ablation_removes_attention():
    student, plain, teacher = (build_model(k) for k in ('ean', 'ean_noatt', 'teacher'))
    crops = torch.rand(2, 1, 48, 48)
    for model in (student, plain, teacher):
        probabilities = model.eval()(crops)
        assert probabilities.shape == (2, 7)
        assert torch.allclose(probabilities.sum(dim=1), torch.ones(2))
    assert parameter_count(student) <= 1_000_000
    assert parameter_count(teacher) > parameter_count(student)
    attention = [m for m in student.modules() if isinstance(m, LocalChannelAttention)]
    assert len(attention) == 6
    assert not [m for m in plain.modules() if isinstance(m, LocalChannelAttention)]
    assert parameter_count(student) - parameter_count(plain) == sum(
        m.kernel_size for m in attention)
    assert 0 < count_mflops(student) < count_mflops(teacher)


def test_kd_loss_matches_a_hand_computed_case():
    student = torch.tensor([[0.0, 0.0]])
    target = torch.tensor([0])
    # Teacher logits (T * ln 3, 0) soften to (3/4, 1/4) at temperature T.
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    ce = math.log(2.0)
    for temperature, alpha in ((1.0, 0.5), (2.0, 0.3), (4.0, 0.9)):
        teacher = torch.tensor([[temperature * math.log(3.0), 0.0]])
        expected = alpha * ce + (1 - alpha) * temperature ** 2 * kl
        loss = kd_loss(student, teacher, target, temperature, alpha)
        assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(kd_loss(student, teacher, target, 4.0, 1.0)) == pytest.approx(ce, rel=1e-6)
    # Equal distributions: only the hard term is left.
    assert float(kd_loss(student, student, target, 3.0, 0.25)) == pytest.approx(
        0.25 * ce, rel=1e-5)


def test_augmentation_keeps_shape_and_flips():
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(16, 1, 48, 48)
    augmented, flip = distill.augment(batch, generator, rotation_deg=0, scale=0, shift=0)
    assert augmented.shape == batch.shape and flip.dtype == torch.bool
    expected = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
    assert torch.allclose(augmented, expected, atol=1e-5)


@needs_fer2013
def test_fer2013_split_is_stratified_and_reproducible(fer2013_splits):
    train, validation, test = fer2013_splits
    assert len(train.targets) + len(validation.targets) == 28709
    assert len(test.targets) == 7178
    counts = np.bincount(validation.targets, minlength=7)
    assert np.allclose(counts / np.bincount(np.concatenate([train.targets, validation.targets])),
                       0.1, atol=0.002)
    assert train.images.shape[1:] == (48, 48) and train.images.dtype == np.uint8
    again = load_fer2013()[1]
    assert np.array_equal(again.images, validation.images)


@needs_fer2013
def test_smoke_training_resumes_and_distills(tmp_path, small_fer2013):
    torch.set_num_threads(1)
    lines = []
    first = distill.fit('smoke', 'ean', small_fer2013, 1, batch_size=64,
                        directory=str(tmp_path / 'student'), log=lines.append)
    assert os.path.isfile(tmp_path / 'student' / 'last.pt')
    assert first['epochs'] == 1 and len(first['history']) == 1
    assert 0.0 <= first['test_accuracy'] <= 1.0
    assert any('ETA' in line for line in lines)
    resumed = distill.fit('smoke', 'ean', small_fer2013, 2, batch_size=64,
                          directory=str(tmp_path / 'student'), log=lines.append)
    assert any('resuming after epoch 1 of 2' in line for line in lines)
    assert [h['epoch'] for h in resumed['history']] == [1, 2]
    rounds = distill.distill(small_fer2013, resumed['checkpoint'], 2, 1, 4.0, 0.5,
                             root=str(tmp_path / 'rounds'), batch_size=64, max_batches=1,
                             log=lines.append)
    assert [r['round'] for r in rounds] == [1, 2]
    assert rounds[0]['teacher'] == resumed['checkpoint']
    assert rounds[1]['teacher'] == rounds[0]['checkpoint'] == str(
        tmp_path / 'rounds' / 'ean_kd_r1' / 'best.pt')
    assert all(np.isfinite(r['history'][0]['train_loss']) for r in rounds)
    student = distill.fit('kd', 'ean_noatt', small_fer2013, 1, teacher=resumed['checkpoint'],
                          temperature=4.0, alpha=0.5, batch_size=64, max_batches=1,
                          directory=str(tmp_path / 'kd'), log=lines.append)
    assert student['teacher'] == resumed['checkpoint'] and student['alpha'] == 0.5
    assert np.isfinite(student['history'][0]['train_loss'])


def test_onnx_export_parity(tmp_path):
    torch.manual_seed(0)
    model = build_model('ean', mean=0.5, std=0.25).eval()
    path = str(tmp_path / 'ean.onnx')
    classifier = export_crop_model(model, path, model_name='tiny')
    assert classifier.labels == FER2013_LABELS and classifier.model_name == 'tiny'
    assert 'pixel / 255' in classifier.metadata['fer.input_normalisation']
    crops = torch.rand(7, 1, 48, 48, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(crops).numpy()
    assert np.max(np.abs(classifier.predict(crops.numpy()) - expected)) <= 1e-4
    as_uint8 = (crops.numpy()[:, 0] * 255).round().astype(np.uint8)
    assert classifier.predict(as_uint8).shape == (7, 7)
    assert classifier.predict(as_uint8[0]).shape == (1, 7)


def test_square_crop_pads_outside_the_image():
    image = np.arange(100 * 80, dtype=np.uint32).reshape(100, 80).astype(np.uint8)
    assert square_crop(image, (10, 20, 30, 40)).shape == (48, 48)
    assert square_crop(np.dstack([image] * 3), (-20, 70, 60, 60)).shape == (48, 48)


def test_shipped_model_classifies_a_real_face():
    from skimage import data

    from fer_models.core.landmarks import FaceMeshDetector

    path = shipped_model('ean.onnx')
    assert os.path.getsize(path) < 4 * 1024 * 1024
    classifier = CropClassifier(path)
    assert classifier.labels == FER2013_LABELS
    assert classifier.metadata['fer.model_name'] == 'ean'
    image = data.astronaut()  # public-domain NASA portrait, one smiling face
    detector = FaceMeshDetector(static_image_mode=True)
    try:
        faces = detector.detect(image)
    finally:
        detector.close()
    assert len(faces) == 1
    label, probabilities = classifier.classify_face(image, faces[0].bbox)
    assert probabilities.shape == (7,) and abs(float(probabilities.sum()) - 1.0) < 1e-4
    assert label == 'happy', dict(zip(classifier.labels, probabilities.round(3)))
