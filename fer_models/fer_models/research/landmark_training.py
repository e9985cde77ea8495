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
Training and subject-independent cross-validation of landmark-path classifiers.

Two recipes, both k-fold grouped by performer/subject:

* ``train_landmark(..., classifier='baseline')``: the original
  WindowStatsMLP recipe of ``models/landmark_baseline.onnx`` (every image a
  still repeated over the window, 5 % feature noise, fixed epochs or early
  stopping on an inner split by performer);
* any other classifier of ``nets.CLASSIFIERS``: the landmark study's recipe
  (``evaluate_config`` on ``landmark_data.StudyData``; each fold stops early
  on an inner validation split by performer, the final model trains on
  every performer for the median of the folds' best epochs).
"""

import datetime
import os
import platform
import tempfile
import time

from fer_models.core.features import FeatureExtractor, FeatureSpec
from fer_models.core.labels import ALL_LABELS
from fer_models.research.extract import extract
from fer_models.research.landmark_data import StudyData
from fer_models.research.metrics import classification_report, time_calls_ms
from fer_models.research.nets import (
    build_classifier, fit_window_mlp, parameter_count, predict_window_mlp)
from fer_models.research.protocol import group_folds
import numpy as np


# The landmark study's in-dataset recipe (fer_models/reports/landmark_study.md);
# relative to the repository root, where ./fer runs. Not shipped: see
# ``./fer train generalisation``.
DEFAULT_MODEL_NAME = 'landmark_in_dataset'
DEFAULT_OUT = os.path.join('build', 'models', 'landmark_in_dataset.onnx')
DEFAULT_FEATURE_TYPE = 'dlib68:coords+geometric'
DEFAULT_CLASSIFIER = 'window_mlp'
DEFAULT_PCA = 0
DEFAULT_MIRROR = False


def features_of(landmarks, extractor):
    """Return (N, frame_dim) per-frame features of a LandmarkSet."""
    return np.stack([extractor.frame(p, w, h)
                     for p, (w, h) in zip(landmarks.points, landmarks.sizes)])


def cross_validate(features, targets, groups, labels, folds, epochs, seed, early_stopping,
                   check_every=10):
    """
    Subject-independent k-fold; return (report dict, epochs used per fold).

    With ``early_stopping`` the validation loss is checked every
    ``check_every`` epochs.
    """
    predictions = np.empty_like(targets)
    fold_accuracy, best_epochs = [], []
    for index, test_groups in enumerate(group_folds(groups, folds, seed)):
        test = np.isin(groups, test_groups)
        validation = np.zeros_like(test)
        if early_stopping:
            inner = group_folds(groups[~test], folds - 1, seed + index)[0]
            validation = np.isin(groups, inner) & ~test
        train = ~test & ~validation
        model, best_epoch = fit_window_mlp(
            features[train], targets[train], len(labels), epochs, seed + index,
            (features[validation], targets[validation]) if early_stopping else None,
            check_every)
        predictions[test] = predict_window_mlp(model, features[test])
        fold_accuracy.append(float((predictions[test] == targets[test]).mean()))
        best_epochs.append(best_epoch)
    report = classification_report([labels[t] for t in targets],
                                   [labels[p] for p in predictions], labels)
    report['fold_accuracy'] = [round(a, 4) for a in fold_accuracy]
    report['accuracy_mean'] = round(float(np.mean(fold_accuracy)), 4)
    report['accuracy_std'] = round(float(np.std(fold_accuracy)), 4)
    return report, best_epochs


def onnx_latency_ms(model, window_length, feature_dim, runs=500):
    """Return the median onnxruntime latency of one window (1 thread), in ms."""
    window = np.random.default_rng(0).normal(size=(1, window_length, feature_dim)).astype(
        np.float32)
    return round(float(np.median(time_calls_ms(lambda: model.predict(window), runs))), 4)


def model_facts(model, exported, out, window_length, feature_dim, started, seed):
    """Return the size, speed and provenance entries shared by every training report."""
    import onnxruntime
    import torch

    return {
        'parameters': parameter_count(model),
        'onnx_bytes': os.path.getsize(out), 'onnx_path': os.path.abspath(out),
        'onnx_latency_ms_1_thread': onnx_latency_ms(exported, window_length, feature_dim),
        'train_seconds': round(time.monotonic() - started, 1), 'seed': seed,
        'machine': {'cores': os.cpu_count(), 'python': platform.python_version(),
                    'torch': torch.__version__, 'onnxruntime': onnxruntime.__version__},
        'date': datetime.date.today().isoformat(),
    }


def train_landmark(dataset, feature_type, window_length, folds, epochs, seed, out,
                   model_name, early_stopping=False, subset_groups=None, classifier='baseline',
                   pca=None, mirror=False, protocol=None, fixed_epochs=False):
    """
    Cross-validate, train the final model, export it; return the report.

    ``classifier='baseline'`` is the original WindowStatsMLP recipe (fixed
    epochs unless ``early_stopping``); any name of fer_models.research.nets.CLASSIFIERS
    goes through the landmark study's recipe instead (train_study_model).
    """
    if classifier != 'baseline':
        return train_study_model(dataset, feature_type, window_length, folds, epochs, seed,
                                 out, model_name, classifier, pca, mirror, protocol,
                                 subset_groups, not fixed_epochs)
    import torch

    from fer_models.research.export import export_onnx

    torch.set_num_threads(1)
    started = time.monotonic()
    landmarks = extract(dataset)
    found = landmarks.detected()
    if subset_groups:
        keep = np.isin(found.groups, np.unique(found.groups)[:subset_groups])
        found = found.__class__(*(getattr(found, f)[keep] for f in found.__dict__))
    extractor = FeatureExtractor(feature_type)
    features = features_of(found, extractor)
    labels = [label for label in ALL_LABELS if label in set(found.labels)]
    targets = np.array([labels.index(label) for label in found.labels])
    report, best_epochs = cross_validate(features, targets, found.groups, labels, folds,
                                         epochs, seed, early_stopping)
    final_epochs = int(np.median(best_epochs))
    model, _ = fit_window_mlp(features, targets, len(labels), final_epochs, seed)
    exported = export_onnx(
        model, out, model_name=model_name, labels=labels, feature_type=extractor.name,
        window_length=window_length, feature_dim=extractor.dim,
        extra_metadata={'training_data': dataset,
                        'cv_accuracy': f"{report['accuracy_mean']:.4f}"})
    report.update({
        'model_name': model_name, 'dataset': dataset, 'images': len(landmarks.found),
        'images_with_face': int(landmarks.found.sum()),
        'groups': int(len(np.unique(found.groups))),
        'split': f'{folds}-fold grouped by performer/subject (subject-independent)'
                 + (', inner validation split by performer for early stopping'
                    if early_stopping else f', fixed {epochs} epochs'),
        'windows': 'static images: the frame repeated over the window, 5 % feature noise '
                   'while training',
        'feature_type': extractor.name, 'feature_dim': extractor.dim,
        'window_length': window_length, 'best_epochs': best_epochs,
        'final_epochs': final_epochs,
        **model_facts(model, exported, out, window_length, extractor.dim, started, seed),
    })
    return report


def train_study_model(dataset, feature_type, window_length, folds, epochs, seed, out,
                      model_name, classifier, pca=None, mirror=False, protocol=None,
                      subset_groups=None, early_stopping=True):
    """
    Train a landmark-study classifier (``evaluate_config``): CV, final model, export.

    ``protocol``: ``stills`` (default for TFEID), ``sequences`` (default for
    CK+48: the real three-frame sequences plus every frame as a still) or
    ``synthetic`` (stills plus SYNTHETIC neutral -> apex sequences for
    training; the reported accuracy is on real stills only). Each fold stops
    early on an inner validation split by performer; the final model is
    trained on every performer for the median of the folds' best epochs.
    Without ``early_stopping`` every fold and the final model train for
    ``epochs``.
    """
    import torch

    from fer_models.research.export import export_onnx

    torch.set_num_threads(1)
    started = time.monotonic()
    protocol = protocol or ('sequences' if dataset == 'ckplus48' else 'stills')
    data = StudyData(dataset, protocol, 'mediapipe', window_length, seed, mirror,
                     subset_groups)
    extractor = FeatureExtractor(feature_type)
    fit_options = {'max_epochs': epochs}
    row = evaluate_config(data, extractor.name, classifier, folds, seed, pca,
                          fit_options=fit_options, early_stopping=early_stopping)[0]
    final_epochs = max(1, int(np.median(row['best_epochs']))) if early_stopping else epochs
    windows = [data.windows(extractor.spec, name) for name in data.train_sets()]
    model, _ = fit_classifier(classifier, np.concatenate([w for w, _, _ in windows]),
                              np.concatenate([t for _, t, _ in windows]), len(data.labels),
                              seed, pca=pca, max_epochs=final_epochs)
    exported = export_onnx(
        model, out, model_name=model_name, labels=data.labels, feature_type=extractor.name,
        window_length=window_length, feature_dim=extractor.dim,
        extra_metadata={'training_data': dataset, 'classifier': classifier,
                        'cv_accuracy': f"{row['accuracy_mean']:.4f}",
                        'cv_split': f'{folds}-fold grouped by performer/subject'})
    report = {key: row[key] for key in ('macro_f1', 'labels', 'per_class', 'confusion',
                                        'fold_accuracy', 'accuracy_mean', 'accuracy_std')}
    report.update({
        'n': row['windows'], 'accuracy': row['accuracy_pooled'],
        'predicted_labels': row['labels'], 'model_name': model_name, 'dataset': dataset,
        'protocol': protocol,
        'classifier': classifier, 'pca': pca, 'mirror': mirror,
        'images': data.detected[1], 'images_with_face': data.detected[0],
        'groups': int(len(data.groups)),
        'split': f'{folds}-fold grouped by performer/subject (subject-independent), '
                 + ('inner validation split by performer for early stopping' if early_stopping
                    else f'fixed {epochs} epochs'),
        'windows': {'stills': 'a still held over the window',
                    'sequences': "CK+ sequences' three near-apex frames stretched over the "
                                 'window (training adds each frame as a still)',
                    'synthetic': 'stills; training adds SYNTHETIC neutral -> apex sequences'
                    }[protocol] + '; feature noise while training',
        'feature_type': extractor.name, 'feature_dim': extractor.dim,
        'window_length': window_length, 'best_epochs': row['best_epochs'],
        'final_epochs': final_epochs,
        **model_facts(model, exported, out, window_length, extractor.dim, started, seed),
    })
    return report


def fit_classifier(classifier, windows, targets, num_classes, seed, validation=None,
                   max_epochs=60, patience=15, batch_size=64, lr=1e-3, weight_decay=1e-2,
                   noise=0.05, pca=None, options=None, criterion='accuracy'):
    """
    Train ``classifier`` on (W, T, D) windows; return (model, best epoch).

    Standardisation statistics (and a PCA projection of ``pca`` components
    of the standardised frames) come from the training windows and are part
    of the model. Training adds Gaussian feature noise: ``noise`` times each
    feature's spread shared by the window plus half that per frame (landmark
    jitter). With ``validation`` (windows, targets) the weights of the epoch
    with the best validation score are kept, stopping ``patience`` epochs
    after it; without it, ``max_epochs`` are run. The score is accuracy
    (ties broken by lower loss) or, with ``criterion='loss'``, the loss: with
    a few validation performers the loss minimum comes early, while accuracy
    still improves for a while (the baseline's model card saw the same).
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    frames = windows.reshape(-1, windows.shape[-1])
    mean, std = frames.mean(axis=0), frames.std(axis=0) + 1e-6
    projection = None
    if pca:
        sample = frames[np.random.default_rng(seed).permutation(len(frames))[:1500]]
        _, _, components = np.linalg.svd((sample - mean) / std, full_matrices=False)
        projection = components[:min(pca, len(components))].T
    model = build_classifier(classifier, mean, std, num_classes, projection, **(options or {}))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    inputs = torch.as_tensor(windows, dtype=torch.float32)
    labels = torch.as_tensor(targets)
    counts = np.bincount(targets, minlength=num_classes)
    weights = torch.as_tensor(len(targets) / (num_classes * np.maximum(counts, 1)),
                              dtype=torch.float32)
    spread = torch.as_tensor(std, dtype=torch.float32) * noise
    if validation is not None:
        val_inputs = torch.as_tensor(validation[0], dtype=torch.float32)
        val_labels = torch.as_tensor(validation[1])
    best = (float('inf'), max_epochs, None)
    for epoch in range(1, max_epochs + 1):
        model.train()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), batch_size):
            batch = inputs[order[start:start + batch_size]]
            shared = torch.randn(batch.shape[0], 1, batch.shape[2])
            noisy = batch + (shared + 0.5 * torch.randn_like(batch)) * spread
            loss = nn.functional.cross_entropy(model.logits(noisy),
                                               labels[order[start:start + batch_size]],
                                               weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if validation is None:
            continue
        model.eval()
        with torch.no_grad():
            logits = model.logits(val_inputs)
            loss = float(nn.functional.cross_entropy(logits, val_labels))
            accuracy = float((logits.argmax(dim=1) == val_labels).float().mean())
        score = loss if criterion == 'loss' else loss / 100 - accuracy
        if score < best[0]:
            best = (score, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        elif epoch - best[1] >= patience:
            break
    if best[2] is not None:
        model.load_state_dict(best[2])
    return model.eval(), best[1]


def predict_proba(model, windows):
    """Return class probabilities (W, C) of (W, T, D) windows."""
    import torch

    with torch.no_grad():
        return model(torch.as_tensor(windows, dtype=torch.float32)).numpy()


def onnx_measure(model, spec, window_length, labels, runs=300):
    """Export ``model`` to a temporary ONNX file; return (bytes, median ms, 1 thread)."""
    from fer_models.research.export import export_onnx

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'model.onnx')
        exported = export_onnx(model, path, model_name='study', labels=labels,
                               feature_type=spec.name, window_length=window_length,
                               feature_dim=spec.dim)
        window = np.random.default_rng(0).normal(size=(1, window_length, spec.dim)).astype(
            np.float32)
        timings = time_calls_ms(lambda: exported.predict(window), runs)
        return os.path.getsize(path), round(float(np.median(timings)), 4)


def _early_stopped(classifier, data, part, train_sets, train_groups, inner, rest, seed, pca,
                   options, fit_options, refit):
    """Fit, stopping early on the inner split (then refit on ``rest``); return (model, epoch)."""
    train = [part(name, train_groups) for name in train_sets]
    model, best_epoch = fit_classifier(
        classifier, np.concatenate([w for w, _ in train]),
        np.concatenate([t for _, t in train]), len(data.labels), seed,
        validation=part(data.test_set, inner), pca=pca, options=options,
        **(fit_options or {}))
    if refit:
        # The inner split only chose the epoch count: train again on every
        # training performer (as the final model is) for that many epochs.
        train = [part(name, rest) for name in train_sets]
        model, _ = fit_classifier(
            classifier, np.concatenate([w for w, _ in train]),
            np.concatenate([t for _, t in train]), len(data.labels), seed,
            pca=pca, options=options, **{**(fit_options or {}), 'max_epochs': best_epoch})
    return model, best_epoch


def evaluate_config(data, feature_type, classifier, folds=5, seed=0, pca=None, options=None,
                    train_sets=None, fit_options=None, keep_probabilities=False, refit=True,
                    early_stopping=True):
    """
    Cross-validate one configuration; return its result rows (real, and SYNTHETIC).

    Each fold trains on the training performers' windows of ``train_sets``
    (default: every set of the data), stops early on the real test-set
    windows of an inner validation split by performer, then (``refit``)
    trains again on all its training performers for the best epoch count
    (without ``early_stopping``: trains on all of them for ``max_epochs``),
    and scores the held-out performers' real windows (and their synthetic
    windows, if any).
    """
    spec = FeatureSpec.parse(feature_type)
    train_sets = train_sets or data.train_sets()
    scored = [data.test_set] + (['synthetic'] if 'synthetic' in data.sets else [])
    pieces = {name: data.windows(spec, name) for name in set(train_sets) | set(scored)}
    predictions = {name: np.full(len(pieces[name][1]), -1) for name in scored}
    probabilities = {name: np.zeros((len(pieces[name][1]), len(data.labels)), np.float32)
                     for name in scored}
    fold_accuracy = {name: [] for name in scored}
    best_epochs, started, model = [], time.monotonic(), None
    for index, test_groups in enumerate(group_folds(data.groups, folds, seed)):
        rest = data.groups[~np.isin(data.groups, test_groups)]
        inner = group_folds(rest, folds - 1, seed + index)[0]
        train_groups = rest[~np.isin(rest, inner)]

        def part(name, chosen):
            windows, targets, groups = pieces[name]
            keep = np.isin(groups, chosen) | (name == 'extra')
            return windows[keep], targets[keep]

        if not early_stopping:
            train = [part(name, rest) for name in train_sets]
            model, best_epoch = fit_classifier(
                classifier, np.concatenate([w for w, _ in train]),
                np.concatenate([t for _, t in train]), len(data.labels), seed + index,
                pca=pca, options=options, **(fit_options or {}))
            best_epochs.append(best_epoch)
        else:
            model, best_epoch = _early_stopped(classifier, data, part, train_sets, train_groups,
                                               inner, rest, seed + index, pca, options,
                                               fit_options, refit)
            best_epochs.append(best_epoch)
        for name in scored:
            windows, targets, groups = pieces[name]
            test = np.isin(groups, test_groups)
            probs = predict_proba(model, windows[test])
            probabilities[name][test] = probs
            predictions[name][test] = probs.argmax(axis=1)
            fold_accuracy[name].append(float((predictions[name][test] == targets[test]).mean()))
    seconds = time.monotonic() - started
    onnx_bytes, latency = onnx_measure(model, spec, data.window_length, data.labels)
    rows = []
    for name in scored:
        targets = pieces[name][1]
        report = classification_report([data.labels[t] for t in targets],
                                       [data.labels[p] for p in predictions[name]], data.labels)
        row = {
            'dataset': data.dataset, 'protocol': data.protocol, 'detector': data.detector,
            'feature_type': spec.name, 'feature_dim': spec.dim, 'classifier': classifier,
            'pca': pca, 'mirror': 'mirror' in data.sets, 'options': options or {},
            'extra_training_data': 'extra' in data.sets,
            'train_sets': list(train_sets), 'scored_on': name,
            'synthetic': name == 'synthetic',
            'windows': int(len(targets)), 'groups': int(len(data.groups)),
            'accuracy_mean': round(float(np.mean(fold_accuracy[name])), 4),
            'accuracy_std': round(float(np.std(fold_accuracy[name])), 4),
            'fold_accuracy': [round(a, 4) for a in fold_accuracy[name]],
            'accuracy_pooled': report['accuracy'], 'macro_f1': report['macro_f1'],
            'recall': {c: report['per_class'][c]['recall'] for c in data.labels},
            'per_class': report['per_class'],
            'confusion': report['confusion'], 'labels': data.labels,
            'best_epochs': best_epochs, 'parameters': parameter_count(model),
            'onnx_bytes': onnx_bytes, 'onnx_latency_ms_1_thread': latency,
            'cv_seconds': round(seconds, 1), 'window_length': data.window_length,
            'refit': refit, 'early_stopping': early_stopping,
        }
        if keep_probabilities:
            row['probabilities'] = probabilities[name]
            row['targets'] = targets
        rows.append(row)
    return rows
