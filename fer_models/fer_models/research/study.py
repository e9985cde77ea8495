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
Landmark study: detectors x feature types x light temporal classifiers.

Usage: ./fer run python -m fer_models.research.study run [--grid full|quick] [--json OUT]
       ./fer run python -m fer_models.research.study render [--json IN] [--markdown OUT]

Protocols (every one subject-independent: k-fold grouped by performer or
subject, an inner validation split by performer for early stopping, fixed
seeds):

* ``stills`` (TFEID, real): each image is a window of the frame held for
  ``window_length`` frames, as the feature buffer node sees a face holding an
  expression; per-frame feature noise stands in for landmark jitter.
* ``sequences`` (CK+48, real): each CK+ sequence's three near-apex frames
  stretched over the window; training also sees every frame as a still.
* ``synthetic`` (TFEID): training adds SYNTHETIC neutral -> apex sequences
  (``fer_models.research.sequences``); two rows are reported: accuracy on the
  synthetic windows of the held-out performers (SYNTHETIC, optimistic) and
  on their real stills (real).

Detectors: ``mediapipe`` (Face Mesh 468 -- layouts ``mesh468`` and the
mapped ``dlib68``) and ``dlib`` (real dlib HOG + 68-point shape predictor,
read from the cache written by ``fer_models/research/dlib_extract.py`` run in a
separate environment; skipped when absent).
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time

from fer_models.core.features import (
    align_to_eyes, FeatureSpec, frame_kind, LAYOUTS, normalise_points, pairwise_distances,
    window_features)
from fer_models.core.labels import ALL_LABELS
from fer_models.research.extract import cache_dir, extract
from fer_models.research.figures import png_figure
from fer_models.research.metrics import classification_report, time_calls_ms
from fer_models.research.nets import build_classifier, parameter_count
from fer_models.research.protocol import group_folds
from fer_models.research.sequences import (
    ckplus_sequences, mirror_points, still_sequences, synthetic_sequences, window_ends,
    window_rows)
import numpy as np

DEFAULT_JSON = os.path.join('fer_models', 'reports', 'landmark_study.json')
DEFAULT_MARKDOWN = os.path.join('fer_models', 'reports', 'landmark_study.md')
REPORT_BEGIN, REPORT_END = '<!-- study:begin -->', '<!-- study:end -->'

# The distance subset of features.DISTANCE_POINTS expressed in the real dlib
# 68-point layout (nearest dlib point to each mesh vertex).
DLIB_DISTANCE_POINTS = np.array([
    17, 19, 21, 22, 24, 26,
    36, 38, 39, 40, 42, 44, 45, 46,
    48, 51, 54, 57, 62, 66, 60, 64,
    30, 33,
], dtype=np.intp)


# ---------------------------------------------------------------- features

def mesh_frame_tables(points, sizes):
    """
    Return per-frame feature tables of Face Mesh frames, one per kind.

    Keys ``mesh468:coords``, ``dlib68:coords``, ``distances`` and
    ``geometric``: the core extractor's kinds, one normalisation per frame
    serving every kind.
    """
    faces = [normalise_points(p, w, h) for p, (w, h) in zip(points, sizes)]
    tables = {f'{layout}:coords': np.stack([frame_kind(f, 'coords', LAYOUTS[layout])
                                            for f in faces])
              for layout in ('mesh468', 'dlib68')}
    for kind in ('distances', 'geometric'):
        tables[kind] = np.stack([frame_kind(f, kind, None) for f in faces])
    return {key: table.astype(np.float32) for key, table in tables.items()}


def dlib_frame_tables(points, sizes):
    """
    Return per-frame tables of real dlib 68-point frames (coords, distances).

    Aligned as the core aligns the mesh: centred on the points' mean, eyes
    level, inter-ocular distance (between eye-corner midpoints) 1.
    """
    pts = np.asarray(points, dtype=np.float64) * np.asarray(sizes, dtype=np.float64)[:, None]
    faces = np.stack([align_to_eyes(face, (36, 39), (42, 45), slice(None)) for face in pts])
    return {
        'dlib:coords': faces.reshape(len(faces), -1).astype(np.float32),
        'dlib:distances': np.stack([pairwise_distances(f[DLIB_DISTANCE_POINTS])
                                    for f in faces]).astype(np.float32),
    }


def table_keys(detector, spec):
    """Return the frame-table keys of a (detector, FeatureSpec) in feature order."""
    if detector == 'dlib':
        return [f'dlib:{kind}' for kind in spec.frame_kinds]
    return [f'{spec.layout}:coords' if kind == 'coords' else kind for kind in spec.frame_kinds]


def dlib_landmarks(dataset, landmarks):
    """Return real dlib (points (N, 68, 2), found) aligned with ``landmarks`` files, or None."""
    path = os.path.join(cache_dir(), f'dlib68-{dataset}.npz')
    if not os.path.isfile(path):
        return None
    with np.load(path) as cached:
        where = {str(f): i for i, f in enumerate(cached['files'])}
        rows = np.array([where.get(os.path.basename(str(f)), -1) for f in landmarks.files])
        points = np.zeros((len(rows), 68, 2), np.float32)
        found = rows >= 0
        points[found] = cached['points'][rows[found]]
        found[found] = cached['found'][rows[found]]
    return points, found


# ---------------------------------------------------------------- data

class StudyData:
    """
    The frames and windows of one dataset and protocol, for one detector.

    ``frames`` holds every frame (real stills, their mirror images, synthetic
    sequence frames); window sets are (rows (W, T), targets, groups) into it.
    """

    def __init__(self, dataset, protocol, detector='mediapipe', window_length=8, seed=0,
                 mirror=False, subset_groups=None, extra_dataset=None):
        """Load landmarks, build sequences and frame tables (first ``subset_groups`` groups)."""
        self.dataset, self.protocol, self.detector = dataset, protocol, detector
        self.window_length = window_length
        every = extract(dataset)
        landmarks = every.detected()
        self.detected = (int(len(landmarks.files)), int(len(every.files)))
        if subset_groups:
            keep = np.isin(landmarks.groups, np.unique(landmarks.groups)[:subset_groups])
            landmarks = landmarks.__class__(*(getattr(landmarks, f)[keep]
                                              for f in landmarks.__dict__))
        if detector == 'dlib':
            real = dlib_landmarks(dataset, landmarks)
            if real is None:
                raise FileNotFoundError('no dlib landmark cache: run dlib_extract.py first')
            dlib_points, dlib_found = real
            self.detected = (int(dlib_found.sum()), self.detected[1])
            keep = dlib_found
            landmarks = landmarks.__class__(*(getattr(landmarks, f)[keep]
                                              for f in landmarks.__dict__))
            dlib_points = dlib_points[keep]
        self.labels = [label for label in ALL_LABELS if label in set(landmarks.labels)]
        stills = still_sequences(landmarks)
        parts = [('stills', stills, False)]
        if mirror and detector == 'mediapipe':
            flipped = still_sequences(landmarks)
            flipped.points = mirror_points(flipped.points)
            parts.append(('mirror', flipped, False))
        if extra_dataset and detector == 'mediapipe':
            # Another dataset's stills for training only (its labels outside
            # this dataset's label set are dropped); never scored.
            other = extract(extra_dataset).detected()
            keep = np.isin(other.labels, self.labels)
            other = other.__class__(*(getattr(other, f)[keep] for f in other.__dict__))
            other.groups = np.array([f'{extra_dataset}:{g}' for g in other.groups])
            parts.append(('extra', still_sequences(other), False))
        if protocol == 'sequences':
            parts.append(('sequences', ckplus_sequences(landmarks), False))
        elif protocol == 'synthetic':
            parts.append(('synthetic', synthetic_sequences(landmarks, window_length, seed),
                          True))
        offset, points, sizes = 0, [], []
        self.sets = {}
        rng = np.random.default_rng(seed)
        for name, sequences, synthetic in parts:
            limit = 3 if synthetic else None
            ends = window_ends(sequences, window_length, limit=limit, rng=rng)
            rows = window_rows(sequences, ends, window_length) + offset
            numbers = np.array([n for n, _ in ends], dtype=np.intp)
            targets = np.array([self.labels.index(label) for label in sequences.labels[numbers]])
            self.sets[name] = (rows, targets, sequences.groups[numbers])
            points.append(sequences.points)
            sizes.append(sequences.sizes)
            offset += len(sequences.points)
        if detector == 'dlib':
            # Stills and CK+ sequences both index every detected image once.
            if any(len(p) != len(dlib_points) for p in points):
                raise ValueError('the dlib detector supports the stills and sequences protocols')
            self.tables = dlib_frame_tables(np.concatenate([dlib_points] * len(points)),
                                            np.concatenate(sizes))
        else:
            self.tables = mesh_frame_tables(np.concatenate(points), np.concatenate(sizes))
        self.groups = np.unique(landmarks.groups)

    @property
    def test_set(self):
        """Return the name of the real window set that is scored."""
        return 'sequences' if self.protocol == 'sequences' else 'stills'

    def train_sets(self):
        """Return the names of the window sets used for training."""
        return list(self.sets)

    def windows(self, spec, name, group_mask_of=None):
        """Return the (W, T, D) windows, targets and groups of a set for a FeatureSpec."""
        rows, targets, groups = self.sets[name]
        if group_mask_of is not None:
            keep = np.isin(groups, group_mask_of)
            rows, targets, groups = rows[keep], targets[keep], groups[keep]
        table = np.concatenate([self.tables[k] for k in table_keys(self.detector, spec)], axis=1)
        return window_features(table[rows], spec.window_kinds), targets, groups


# ---------------------------------------------------------------- training

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


# ---------------------------------------------------------------- the grid

FEATURES = ('coords', 'distances', 'geometric', 'coords+geometric',
            'coords+distances+geometric')
TEMPORAL = ('frame_mlp', 'window_mlp', 'stats_mlp', 'tcnn', 'gru', 'tcn')


def grid(name):
    """
    Return the study's configurations: (data key, feature type, classifier, pca, options).

    A data key is (dataset, protocol, detector, mirror). ``quick`` is a
    smoke-sized subset for tests.
    """
    configs = []
    if name == 'quick':
        return [(('taiwanese', 'stills', 'mediapipe', False), 'dlib68:geometric', 'linear',
                 None, {})]
    for dataset, protocol in (('taiwanese', 'stills'), ('ckplus48', 'sequences')):
        key = (dataset, protocol, 'mediapipe', False)
        # Detector x feature type, with the baseline classifier and a linear one.
        for features in FEATURES:
            layouts = ('dlib68', 'mesh468') if 'coords' in features else ('dlib68',)
            for layout in layouts:
                pca = 64 if layout == 'mesh468' else None
                for classifier in ('linear', 'window_mlp'):
                    configs.append((key, f'{layout}:{features}', classifier,
                                    None if classifier == 'window_mlp' else pca, {}))
        for features in ('coords', 'coords+distances'):
            for classifier in ('window_mlp', 'linear', 'stats_mlp'):
                configs.append(((dataset, protocol, 'dlib', False), f'dlib68:{features}',
                                classifier, None, {}))
        # Classifier comparison on the baseline feature type.
        for classifier in TEMPORAL:
            configs.append((key, 'dlib68:coords+geometric', classifier, None, {}))
        configs.append(((dataset, protocol, 'mediapipe', True), 'dlib68:coords+geometric',
                        'window_mlp', None, {}))
    # Dynamics: SYNTHETIC neutral -> apex TFEID sequences.
    key = ('taiwanese', 'synthetic', 'mediapipe', False)
    for classifier in ('window_mlp', 'gru'):
        configs.append((key, 'dlib68:coords+geometric', classifier, None, {}))
    for features in ('coords+geometric+displacement', 'coords+geometric+velocity'):
        for classifier in ('stats_mlp', 'tcnn', 'gru', 'tcn'):
            configs.append((key, f'dlib68:{features}', classifier, None, {}))
    unique = []
    for config in configs:
        if config not in unique:
            unique.append(config)
    return unique


def config_filter(configs, text):
    """Keep configurations whose printed form contains every comma-separated word."""
    if not text:
        return configs
    words = [w for w in text.split(',') if w]
    return [c for c in configs if all(w in repr(c) for w in words)]


def run_study(grid_name='full', folds=5, seed=0, window_length=8, only=None, json_path=None,
              log=print):
    """Run the grid; append rows to ``json_path`` as they come; return the study dict."""
    import onnxruntime
    import torch

    torch.set_num_threads(1)
    study = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes'),
             'machine': {'cores': os.cpu_count(), 'python': platform.python_version(),
                         'torch': torch.__version__, 'onnxruntime': onnxruntime.__version__,
                         'note': '2 CPU cores shared with other jobs, nice 10, 1 torch thread'},
             'folds': folds, 'seed': seed, 'window_length': window_length,
             'detection': {}, 'rows': []}
    if json_path and os.path.isfile(json_path):
        with open(json_path) as handle:
            previous = json.load(handle)
        study['rows'] = previous.get('rows', [])
        study['detection'] = previous.get('detection', {})
    done = {(r['dataset'], r['protocol'], r['detector'], r['mirror'], r['feature_type'],
             r['classifier'], r['pca']) for r in study['rows']}
    cache = {}
    for key, feature_type, classifier, pca, options in config_filter(grid(grid_name), only):
        spec_name = FeatureSpec.parse(feature_type).name
        if (*key, spec_name, classifier, pca) in done:
            continue
        done.add((*key, spec_name, classifier, pca))
        if key not in cache:
            cache.clear()
            try:
                cache[key] = StudyData(key[0], key[1], key[2], window_length, seed, key[3])
            except FileNotFoundError as error:
                log(f'skip {key}: {error}')
                continue
            study['detection'][f'{key[0]}/{key[2]}'] = list(cache[key].detected)
        started = time.monotonic()
        rows = evaluate_config(cache[key], feature_type, classifier, folds, seed, pca, options)
        for row in rows:
            log(f"{row['dataset']:9s} {row['protocol']:9s} {row['detector']:9s} "
                f"{'M' if row['mirror'] else ' '} {row['feature_type']:42s} "
                f"{row['classifier']:10s} {'pca' + str(pca) if pca else '':6s} "
                f"{'SYNTHETIC' if row['synthetic'] else 'real':9s} "
                f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} "
                f"F1 {row['macro_f1']:.3f} {time.monotonic() - started:.0f} s")
        study['rows'].extend(rows)
        if json_path:
            with open(json_path, 'w') as handle:
                json.dump(study, handle, indent=1)
    return study


# ---------------------------------------------------------------- report

def _row_name(row):
    pca = f" + PCA {row['pca']}" if row['pca'] else ''
    mirror = ' + mirror aug.' if row['mirror'] else ''
    return f"`{row['feature_type']}`{pca}{mirror}"


def _table(rows, labels_short=True):
    lines = ['| data | detector | features | classifier | scored on | accuracy (mean ± std) '
             '| macro-F1 | per-class recall | params | ONNX KiB | ms/window |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for row in rows:
        recall = ' / '.join(f"{row['recall'][c]:.2f}" for c in row['labels'])
        scored = '**SYNTHETIC**' if row['synthetic'] else 'real'
        lines.append(
            f"| {row['dataset']} ({row['protocol']}) | {row['detector']} | {_row_name(row)} "
            f"| {row['classifier']} | {scored} | {100 * row['accuracy_mean']:.1f} ± "
            f"{100 * row['accuracy_std']:.1f} | {row['macro_f1']:.3f} | {recall} "
            f"| {row['parameters']} | {row['onnx_bytes'] / 1024:.0f} "
            f"| {row['onnx_latency_ms_1_thread']:.3f} |")
    return '\n'.join(lines)


def render(study, markdown_path, figure_dir):
    """Write the tables and figures of a study into the markdown report's generated part."""
    from fer_models.research.metrics import save_confusion_png

    rows = study['rows']
    parts = [f'Generated by `python -m fer_models.research.study render` from {len(rows)} '
             'result rows '
             f"({study['date']}, {study['folds']}-fold subject-independent, seed "
             f"{study['seed']}, window length {study['window_length']}; machine: "
             f"{study['machine']}).", '',
             'Detection rates: ' + ', '.join(
                 f'{k}: {v[0]}/{v[1]}' for k, v in sorted(study['detection'].items())), '']
    for dataset in ('taiwanese', 'ckplus48'):
        real = [r for r in rows if r['dataset'] == dataset and not r['synthetic']
                and r['protocol'] != 'synthetic']
        labels = real[0]['labels'] if real else []
        if real:
            parts += [f'### {dataset}: real data ({", ".join(labels)} recall order)', '',
                      _table(sorted(real, key=lambda r: -r['accuracy_mean'])), '']
    dynamic = [r for r in rows if r['protocol'] == 'synthetic']
    if dynamic:
        parts += ['### taiwanese: training with SYNTHETIC neutral -> apex sequences', '',
                  'Rows scored on **SYNTHETIC** windows are not real accuracy; rows scored '
                  "on real are the same models on the held-out performers' real stills.", '',
                  _table(sorted(dynamic, key=lambda r: (r['synthetic'], -r['accuracy_mean']))),
                  '']
    os.makedirs(figure_dir, exist_ok=True)
    figures = []
    for dataset in ('taiwanese', 'ckplus48'):
        real = [r for r in rows if r['dataset'] == dataset and not r['synthetic']]
        if not real:
            continue
        best = max(real, key=lambda r: r['accuracy_mean'])
        path = os.path.join(figure_dir, f'landmark_study_confusion_{dataset}.png')
        save_confusion_png({'confusion': best['confusion'], 'labels': best['labels'],
                            'predicted_labels': best['labels']}, path,
                           f"{dataset}: {best['feature_type']} {best['classifier']} "
                           f"{100 * best['accuracy_mean']:.1f} %")
        figures.append(path)
    path = os.path.join(figure_dir, 'landmark_study_accuracy_latency.png')
    _accuracy_latency_png([r for r in rows if not r['synthetic']], path)
    figures.append(path)
    parts += ['Figures: ' + ', '.join(f'`{os.path.basename(f)}`' for f in figures), '']
    text = '\n'.join(parts)
    existing = ''
    if os.path.isfile(markdown_path):
        with open(markdown_path) as handle:
            existing = handle.read()
    if REPORT_BEGIN in existing and REPORT_END in existing:
        head, _, rest = existing.partition(REPORT_BEGIN)
        _, _, tail = rest.partition(REPORT_END)
    else:
        head, tail = '# Landmark study\n\n', '\n'
    with open(markdown_path, 'w') as handle:
        handle.write(f'{head}{REPORT_BEGIN}\n{text}\n{REPORT_END}{tail}')
    return figures


def _accuracy_latency_png(rows, path):
    markers = {'taiwanese': 'o', 'ckplus48': 's'}
    classifiers = sorted({r['classifier'] for r in rows})
    with png_figure(path, (7, 4.5)) as (_, axis, plt):
        colours = {c: plt.cm.tab10(i % 10) for i, c in enumerate(classifiers)}
        for row in rows:
            axis.scatter(row['onnx_latency_ms_1_thread'], 100 * row['accuracy_mean'],
                         marker=markers.get(row['dataset'], 'x'),
                         color=colours[row['classifier']], alpha=0.7, s=25)
        for classifier in classifiers:
            axis.scatter([], [], color=colours[classifier], label=classifier)
        for dataset, marker in markers.items():
            axis.scatter([], [], marker=marker, color='grey', label=dataset)
        axis.set_xscale('log')
        axis.set_xlabel('onnxruntime latency per window, ms (1 thread, log)')
        axis.set_ylabel('subject-independent accuracy, % (real data)')
        axis.legend(fontsize=7, ncol=2)
        axis.grid(alpha=0.3)


def main(argv=None):
    """Run the study grid or render its report."""
    parser = argparse.ArgumentParser(description='Landmark FER study (issue 5).')
    commands = parser.add_subparsers(dest='command', required=True)
    run = commands.add_parser('run', help='run (or resume) the grid')
    run.add_argument('--grid', default='full', choices=('full', 'quick'))
    run.add_argument('--only', default=None,
                     help='comma-separated words every selected configuration contains')
    run.add_argument('--folds', type=int, default=5)
    run.add_argument('--seed', type=int, default=0)
    run.add_argument('--window-length', type=int, default=8)
    run.add_argument('--json', default=DEFAULT_JSON)
    show = commands.add_parser('render', help='write the markdown tables and figures')
    show.add_argument('--json', default=DEFAULT_JSON)
    show.add_argument('--markdown', default=DEFAULT_MARKDOWN)
    options = parser.parse_args(argv)
    if options.command == 'run':
        run_study(options.grid, options.folds, options.seed, options.window_length,
                  options.only, options.json)
    else:
        with open(options.json) as handle:
            study = json.load(handle)
        for path in render(study, options.markdown, os.path.dirname(options.markdown)):
            print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
