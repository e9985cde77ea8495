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
Training of the landmark-path classifier, with subject-independent evaluation.

Usage: python -m fer_models.research.train landmark [--dataset taiwanese]
       [--feature-type dlib68:coords+geometric] [--classifier NAME] [--pca K]
       [--[no-]mirror] [--protocol stills|sequences|synthetic] [--folds 5]
       [--out ONNX] [--report JSON]      (or: ./fer train landmark ...)

This is the in-dataset recipe of the landmark study (``fer_models.research.study``,
report in ``reports/landmark_study.md``), which chose the previous default:
one dataset, numbers measured inside it (optimistic, see
``reports/generalisation.md``). The shipped ``models/landmark_default.onnx``
now comes from ``./fer train generalisation ship``; this command writes
``build/models/landmark_in_dataset.onnx`` unless ``--out`` says otherwise.
The study recipe cross-validates k-fold
grouped by performer/subject with early stopping on an inner validation
split by performer, then trains the exported model on every performer for
the median of the folds' best epochs.

``--classifier baseline`` is the original recipe of
``models/landmark_baseline.onnx`` (``--out`` and ``--model-name`` then name
the file): every image is a still, so a training window is the image's
per-frame features repeated (what the feature buffer node emits for a face
that holds an expression); Gaussian noise of 5 % of each feature's spread is
added during training; with ``--early-stopping`` an inner validation split
(also by performer) picks the epoch count.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

from fer_models.core.features import FeatureExtractor
from fer_models.core.labels import ALL_LABELS
from fer_models.research.extract import extract
from fer_models.research.metrics import classification_report, format_report, time_calls_ms
from fer_models.research.nets import (
    CLASSIFIERS, fit_window_mlp, parameter_count, predict_window_mlp)
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
    Train a landmark-study classifier (fer_models.research.study): CV, final model, export.

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
    from fer_models.research.study import evaluate_config, fit_classifier, StudyData

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


def main(argv=None):
    """Train and evaluate a model; print the summary, write ONNX and report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['ean']:
        from fer_models.research.ean_cli import main as ean_main
        return ean_main(argv[1:])
    if argv[:1] == ['generalisation']:
        from fer_models.research.generalisation import main as generalisation_main
        return generalisation_main(argv[1:])
    parser = argparse.ArgumentParser(description='Train fer_models classifiers.')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('ean', help='appearance-path EAN on FER2013 (./fer train ean --help)')
    commands.add_parser('generalisation', help='cross-dataset study and the shipped landmark '
                        'model (./fer train generalisation --help)')
    landmark = commands.add_parser('landmark', help='landmark-path classifier')
    landmark.add_argument('--dataset', default='taiwanese', choices=('taiwanese', 'ckplus48'))
    landmark.add_argument('--feature-type', default=DEFAULT_FEATURE_TYPE)
    landmark.add_argument('--window-length', type=int, default=8)
    landmark.add_argument('--folds', type=int, default=5)
    landmark.add_argument('--epochs', type=int, default=None,
                          help='epochs (the most, with early stopping); default 300 for the '
                               'baseline recipe, 60 for the study recipe')
    landmark.add_argument('--early-stopping', action='store_true',
                          help='stop on the loss of an inner validation split by performer')
    landmark.add_argument('--seed', type=int, default=0)
    landmark.add_argument('--classifier', default=DEFAULT_CLASSIFIER,
                          choices=('baseline',) + tuple(CLASSIFIERS),
                          help='baseline = the original WindowStatsMLP recipe; others use '
                               'the landmark study recipe (fer_models.research.study)')
    landmark.add_argument('--pca', type=int, default=DEFAULT_PCA,
                          help='PCA components after standardisation (study recipe; 0 = none)')
    landmark.add_argument('--mirror', action=argparse.BooleanOptionalAction,
                          default=DEFAULT_MIRROR, help='add left-right mirrored stills')
    landmark.add_argument('--protocol', default=None,
                          choices=('stills', 'sequences', 'synthetic'),
                          help='training windows (study recipe); default stills for '
                               'taiwanese, sequences for ckplus48')
    landmark.add_argument('--fixed-epochs', action='store_true',
                          help='study recipe without early stopping: train --epochs epochs')
    landmark.add_argument('--model-name', default=DEFAULT_MODEL_NAME)
    landmark.add_argument('--out', default=DEFAULT_OUT, help='ONNX path')
    landmark.add_argument('--report', default=None, help='JSON report path')
    landmark.add_argument('--subset-groups', type=int, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    epochs = options.epochs or (300 if options.classifier == 'baseline' else 60)
    report = train_landmark(options.dataset, options.feature_type, options.window_length,
                            options.folds, epochs, options.seed, options.out,
                            options.model_name, options.early_stopping,
                            options.subset_groups, options.classifier, options.pca or None,
                            options.mirror, options.protocol, options.fixed_epochs)
    print(format_report(report))
    print(f"{options.folds}-fold subject-independent accuracy {report['accuracy_mean']:.3f} "
          f"± {report['accuracy_std']:.3f} over {report['groups']} groups; "
          f"{report['parameters']} parameters, {report['onnx_bytes'] / 1024:.0f} KiB ONNX, "
          f"{report['onnx_latency_ms_1_thread']} ms per window; "
          f"{report['train_seconds']} s; model: {options.out}")
    if options.report:
        with open(options.report, 'w') as out:
            json.dump(report, out, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
