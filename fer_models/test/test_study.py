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

"""Landmark study: classifiers, ONNX parity, sequence building, a smoke study."""

import os

from fer_models.core.features import FeatureExtractor, MESH_MIRROR, window_features
from fer_models.core.onnx_model import EmotionModel
from fer_models.research.datasets import data_root
from fer_models.research.export import export_onnx
from fer_models.research.extract import LandmarkSet
from fer_models.research.landmark_data import mesh_frame_tables
from fer_models.research.nets import build_classifier, CLASSIFIERS
from fer_models.research.sequences import (
    ckplus_frame, ckplus_sequences, interpolate_sequence, mirror_points,
    onset_weights, still_sequences, synthetic_sequences, tfeid_tags, window_ends, window_rows)
import numpy as np
import pytest

TFEID = os.path.join(data_root(), 'taiwanese')
needs_tfeid = pytest.mark.skipif(
    not os.path.isfile(os.path.join(TFEID, 'labels.csv')),
    reason=f'TFEID labels.csv not found in {TFEID} (set FER_DATA_DIR to the shared data)')


def fake_landmarks(performers=('01', '02'), labels=('neutral', 'neutral', 'happy', 'sad'),
                   seed=0):
    """Return a LandmarkSet of random but well-formed faces."""
    rng = np.random.default_rng(seed)
    rows = [(p, label, i) for p in performers for i, label in enumerate(labels)]
    points = rng.uniform(0.3, 0.7, size=(len(rows), 468, 3)).astype(np.float32)
    points[:, [33, 133], 0] = 0.35
    points[:, [362, 263], 0] = 0.65
    return LandmarkSet(points, np.full((len(rows), 2), 256), np.ones(len(rows), bool),
                       np.array([label for _, label, _ in rows]),
                       np.array([p for p, _, _ in rows]),
                       np.array([f'{p}11x{i:02d}.jpg' for p, _, i in rows]))


@pytest.mark.parametrize('name', sorted(CLASSIFIERS))
def test_classifier_shapes_and_onnx_parity(name, tmp_path):
    import torch

    dim, classes, length = 12, 7, 6
    rng = np.random.default_rng(1)
    projection = rng.normal(size=(dim, 5)) if name != 'window_mlp' else None
    model = build_classifier(name, rng.normal(size=dim), rng.uniform(0.5, 2, size=dim),
                             classes, projection).eval()
    windows = torch.randn(3, length, dim)
    probabilities = model(windows)
    assert probabilities.shape == (3, classes)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(3), atol=1e-5)
    assert model.logits(windows).shape == (3, classes)
    path = str(tmp_path / f'{name}.onnx')
    # export_onnx raises ExportError when onnxruntime and PyTorch differ by > 1e-4.
    exported = export_onnx(model, path, model_name=name, labels=[str(i) for i in range(7)],
                           feature_type='dlib68:geometric', window_length=length,
                           feature_dim=dim)
    single, _ = exported.predict(np.zeros((length, dim), np.float32))
    assert single.shape == (1, classes)
    assert os.path.getsize(path) < 1024 * 1024


def test_build_classifier_rejects_unknown_names_and_baseline_projection():
    with pytest.raises(ValueError, match='unknown classifier'):
        build_classifier('lstm9', np.zeros(3), np.ones(3), 2)
    with pytest.raises(ValueError, match='no projection'):
        build_classifier('window_mlp', np.zeros(3), np.ones(3), 2, np.eye(3))


def test_interpolated_sequence_has_exact_endpoints_without_jitter():
    rng = np.random.default_rng(0)
    neutral, apex = rng.uniform(size=(468, 3)), rng.uniform(size=(468, 3))
    weights = onset_weights(2, 5, 3)
    assert len(weights) == 10 and weights[0] == 0 and weights[-1] == 1
    assert np.all(np.diff(weights) >= 0) and 0 < weights[4] < 1
    frames = interpolate_sequence(neutral, apex, weights, rng, (256, 256), jitter_px=0,
                                  translation_px=0, rotation_deg=0, scale=0)
    assert frames.shape == (10, 468, 3)
    np.testing.assert_allclose(frames[0], neutral, atol=1e-6)
    np.testing.assert_allclose(frames[-1], apex, atol=1e-6)
    w = weights[4]
    np.testing.assert_allclose(frames[4], (1 - w) * neutral + w * apex, atol=1e-6)
    jittered = interpolate_sequence(neutral, apex, weights, rng, (256, 256))
    # Jitter and head motion are small: about a pixel on a 256 px image.
    deviation = np.abs(jittered - frames)[:, :, :2] * 256
    assert 0 < deviation.mean() < 1.0 and deviation.max() < 5.0


def test_synthetic_sequences_pair_each_image_with_its_performers_neutral():
    landmarks = fake_landmarks()
    sequences = synthetic_sequences(landmarks, window_length=4, seed=0, jitter_px=0,
                                    translation_px=0, rotation_deg=0, scale=0)
    assert sequences.synthetic
    assert len(sequences.index) == len(landmarks.files)
    assert list(sequences.labels) == list(landmarks.labels)
    assert list(sequences.groups) == list(landmarks.groups)
    for number, rows in enumerate(sequences.index):
        source, target = sequences.names[number].split('#')[0].split('->')
        assert source[:2] == target[:2] == sequences.groups[number]
        assert landmarks.labels[list(landmarks.files).index(source)] == 'neutral'
        np.testing.assert_allclose(sequences.points[rows[-1]],
                                   landmarks.points[list(landmarks.files).index(target)],
                                   atol=1e-6)
        assert sequences.weights[rows[0]] == 0 and sequences.weights[rows[-1]] == 1
        # A neutral image never starts from itself when the performer has another.
        assert source != target
    ends = window_ends(sequences, 4)
    rows = window_rows(sequences, ends, 4)
    assert rows.shape == (len(ends), 4)
    assert all(sequences.weights[r[-1]] >= 0.5 for r in rows)
    assert all(np.all(np.diff(r) == 1) for r in rows)


def test_stills_and_ckplus_sequences_are_grouped_and_resampled():
    landmarks = fake_landmarks(labels=('happy', 'happy', 'happy'))
    landmarks.files = np.array(['S010_004_00000019.png', 'S010_004_00000017.png',
                                'S010_004_00000018.png', 'S011_001_00000005.png',
                                'S011_001_00000006.png', 'S011_001_00000007.png'])
    landmarks.groups = np.array(['S010'] * 3 + ['S011'] * 3)
    assert ckplus_frame('happy/S010_004_00000017.png') == ('S010_004', 17)
    sequences = ckplus_sequences(landmarks)
    assert not sequences.synthetic
    assert list(sequences.names) == ['S010_004', 'S011_001']
    assert list(sequences.index[0]) == [1, 2, 0]  # frame order 17, 18, 19
    rows = window_rows(sequences, window_ends(sequences, 8), 8)
    assert list(rows[0]) == [1, 1, 1, 2, 2, 2, 0, 0]
    stills = still_sequences(landmarks)
    rows = window_rows(stills, window_ends(stills, 5), 5)
    assert rows.shape == (6, 5) and np.all(rows == np.arange(6)[:, None])
    with pytest.raises(ValueError):
        ckplus_frame('0111b01.jpg')


def test_tfeid_tags_and_mirroring():
    assert tfeid_tags('0111b01.jpg') == ('01', '1', '1', 'b', '01')
    assert tfeid_tags('1201001.jpg') == ('12', '0', '1', '0', '01')
    with pytest.raises(ValueError):
        tfeid_tags('S010_004_00000017.png')
    assert np.all(MESH_MIRROR[MESH_MIRROR] == np.arange(468))
    assert (MESH_MIRROR[33], MESH_MIRROR[133], MESH_MIRROR[61], MESH_MIRROR[1]) == (
        263, 362, 291, 1)
    points = np.random.default_rng(0).uniform(size=(2, 478, 3))
    flipped = mirror_points(points)
    assert flipped.shape == (2, 468, 3)
    np.testing.assert_allclose(mirror_points(flipped), points[:, :468])
    np.testing.assert_allclose(flipped[:, 263, 0], 1 - points[:, 33, 0])


def test_study_tables_match_the_feature_extractor():
    landmarks = fake_landmarks()
    tables = mesh_frame_tables(landmarks.points, landmarks.sizes)
    for spec, keys in (('dlib68:coords+distances+geometric',
                        ['dlib68:coords', 'distances', 'geometric']),
                       ('mesh468:coords+geometric+displacement+velocity',
                        ['mesh468:coords', 'geometric'])):
        extractor = FeatureExtractor(spec)
        frames = np.stack([extractor.frame(p, w, h)
                           for p, (w, h) in zip(landmarks.points, landmarks.sizes)])
        table = np.concatenate([tables[k] for k in keys], axis=1)
        np.testing.assert_allclose(table, frames, atol=1e-5)
        batch = window_features(table[None, :4], extractor.spec.window_kinds)
        np.testing.assert_allclose(batch[0], extractor.window(frames[:4]), atol=1e-5)


@needs_tfeid
def test_smoke_study_on_real_landmarks(tmp_path):
    from fer_models.research.landmark_data import StudyData
    from fer_models.research.landmark_training import evaluate_config, train_landmark

    data = StudyData('taiwanese', 'synthetic', window_length=4, subset_groups=3)
    assert data.sets['synthetic'][0].shape[1] == 4
    rows = evaluate_config(data, 'dlib68:geometric', 'linear', folds=3,
                           fit_options={'max_epochs': 2})
    assert [r['synthetic'] for r in rows] == [False, True]
    assert all(0 <= r['accuracy_mean'] <= 1 and len(r['fold_accuracy']) == 3 for r in rows)
    out = str(tmp_path / 'smoke.onnx')
    report = train_landmark('taiwanese', 'dlib68:coords+geometric', 4, folds=3, epochs=2,
                            seed=0, out=out, model_name='smoke', subset_groups=3,
                            classifier='gru', mirror=True)
    assert report['groups'] == 3 and report['classifier'] == 'gru'
    assert report['n'] == sum(report['per_class'][c]['support'] for c in report['labels'])
    model = EmotionModel(out)
    assert (model.model_name, model.window_length, model.feature_dim) == ('smoke', 4, 151)
    assert model.metadata['fer.classifier'] == 'gru'
