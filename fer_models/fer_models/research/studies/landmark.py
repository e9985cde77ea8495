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

Usage: ./fer train landmark-study run [--grid full|quick] [--json OUT]
       ./fer train landmark-study render [--json IN] [--markdown OUT]
       ./fer train landmark [--dataset taiwanese] [--feature-type dlib68:coords+geometric]
           [--classifier NAME] [--pca K] [--[no-]mirror] [--protocol stills|sequences|synthetic]
           [--folds 5] [--out ONNX] [--report JSON]
       (or ./fer run python -m fer_models.research.studies.landmark run|render|train ...)

``train`` is the study's in-dataset recipe (``landmark_training``): one
dataset, numbers measured inside it (optimistic, see
``reports/generalisation.md``); it writes
``build/models/landmark_in_dataset.onnx`` unless ``--out`` says otherwise.
The shipped ``models/landmark_default.onnx`` comes from
``./fer train generalisation ship``. ``--classifier baseline`` is the
original recipe of ``models/landmark_baseline.onnx``.

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
import os
import platform
import sys
import time

from fer_models.core.features import FeatureSpec
from fer_models.research import render
from fer_models.research.figures import png_figure
from fer_models.research.landmark_data import StudyData
from fer_models.research.landmark_training import (
    DEFAULT_CLASSIFIER, DEFAULT_FEATURE_TYPE, DEFAULT_MIRROR, DEFAULT_MODEL_NAME, DEFAULT_OUT,
    DEFAULT_PCA, evaluate_config, train_landmark)
from fer_models.research.metrics import format_report
from fer_models.research.nets import CLASSIFIERS

DEFAULT_JSON = os.path.join('fer_models', 'reports', 'landmark_study.json')
DEFAULT_MARKDOWN = os.path.join('fer_models', 'reports', 'landmark_study.md')
REPORT_BEGIN, REPORT_END = '<!-- study:begin -->', '<!-- study:end -->'

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
        previous = render.read_json(json_path)
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
            render.write_json(json_path, study)
    return study


# ---------------------------------------------------------------- report

def _row_name(row):
    pca = f" + PCA {row['pca']}" if row['pca'] else ''
    mirror = ' + mirror aug.' if row['mirror'] else ''
    return f"`{row['feature_type']}`{pca}{mirror}"


def _table(rows):
    return '\n'.join(render.table(
        ['data', 'detector', 'features', 'classifier', 'scored on', 'accuracy (mean ± std)',
         'macro-F1', 'per-class recall', 'params', 'ONNX KiB', 'ms/window'], 'l',
        [(f"{row['dataset']} ({row['protocol']})", row['detector'], _row_name(row),
          row['classifier'], '**SYNTHETIC**' if row['synthetic'] else 'real',
          f"{100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f}",
          f"{row['macro_f1']:.3f}", ' / '.join(f"{row['recall'][c]:.2f}" for c in row['labels']),
          row['parameters'], f"{row['onnx_bytes'] / 1024:.0f}",
          f"{row['onnx_latency_ms_1_thread']:.3f}") for row in rows]))


def _tables(study):
    rows = study['rows']
    parts = [f'Generated by `./fer train landmark-study render` from {len(rows)} '
             'result rows '
             f"({study['date']}, {study['folds']}-fold subject-independent, seed "
             f"{study['seed']}, window length {study['window_length']}; machine: "
             f"{study['machine']}).", '',
             'Detection rates: ' + ', '.join(
                 f'{k}: {v[0]}/{v[1]}' for k, v in sorted(study['detection'].items())), '']
    for dataset in ('taiwanese', 'ckplus48'):
        real = [r for r in rows if r['dataset'] == dataset and not r['synthetic']
                and r['protocol'] != 'synthetic']
        if real:
            parts += [f"### {dataset}: real data ({', '.join(real[0]['labels'])} recall order)",
                      '', _table(sorted(real, key=lambda r: -r['accuracy_mean'])), '']
    dynamic = [r for r in rows if r['protocol'] == 'synthetic']
    if dynamic:
        parts += ['### taiwanese: training with SYNTHETIC neutral -> apex sequences', '',
                  'Rows scored on **SYNTHETIC** windows are not real accuracy; rows scored '
                  "on real are the same models on the held-out performers' real stills.", '',
                  _table(sorted(dynamic, key=lambda r: (r['synthetic'], -r['accuracy_mean']))),
                  '']
    return parts


def _figures(rows, figure_dir):
    os.makedirs(figure_dir, exist_ok=True)
    figures = []
    for dataset in ('taiwanese', 'ckplus48'):
        real = [r for r in rows if r['dataset'] == dataset and not r['synthetic']]
        if real:
            best = max(real, key=lambda r: r['accuracy_mean'])
            figures.append(render.confusion_figure(
                {'confusion': best['confusion'], 'labels': best['labels'],
                 'predicted_labels': best['labels']},
                os.path.join(figure_dir, f'landmark_study_confusion_{dataset}.png'),
                f"{dataset}: {best['feature_type']} {best['classifier']} "
                f"{100 * best['accuracy_mean']:.1f} %"))
    path = os.path.join(figure_dir, 'landmark_study_accuracy_latency.png')
    _accuracy_latency_png([r for r in rows if not r['synthetic']], path)
    return figures + [path]


def write_report(study, markdown_path, figure_dir):
    """Write the tables and figures of a study into the markdown report's generated part."""
    figures = _figures(study['rows'], figure_dir)
    parts = _tables(study) + [
        'Figures: ' + ', '.join(f'`{os.path.basename(f)}`' for f in figures), '']
    render.write_generated_part(markdown_path, '\n'.join(parts), REPORT_BEGIN, REPORT_END,
                                '# Landmark study\n\n')
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


def add_train_arguments(parser):
    """Add the options of ``./fer train landmark`` (the in-dataset recipe)."""
    parser.add_argument('--dataset', default='taiwanese', choices=('taiwanese', 'ckplus48'))
    parser.add_argument('--feature-type', default=DEFAULT_FEATURE_TYPE)
    parser.add_argument('--window-length', type=int, default=8)
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=None,
                        help='epochs (the most, with early stopping); default 300 for the '
                             'baseline recipe, 60 for the study recipe')
    parser.add_argument('--early-stopping', action='store_true',
                        help='stop on the loss of an inner validation split by performer')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--classifier', default=DEFAULT_CLASSIFIER,
                        choices=('baseline',) + tuple(CLASSIFIERS),
                        help='baseline = the original WindowStatsMLP recipe; others use '
                             'the landmark study recipe (fer_models.research.landmark_training)')
    parser.add_argument('--pca', type=int, default=DEFAULT_PCA,
                        help='PCA components after standardisation (study recipe; 0 = none)')
    parser.add_argument('--mirror', action=argparse.BooleanOptionalAction,
                        default=DEFAULT_MIRROR, help='add left-right mirrored stills')
    parser.add_argument('--protocol', default=None,
                        choices=('stills', 'sequences', 'synthetic'),
                        help='training windows (study recipe); default stills for '
                             'taiwanese, sequences for ckplus48')
    parser.add_argument('--fixed-epochs', action='store_true',
                        help='study recipe without early stopping: train --epochs epochs')
    parser.add_argument('--model-name', default=DEFAULT_MODEL_NAME)
    parser.add_argument('--out', default=DEFAULT_OUT, help='ONNX path')
    parser.add_argument('--report', default=None, help='JSON report path')
    parser.add_argument('--subset-groups', type=int, default=None, help=argparse.SUPPRESS)


def train(options):
    """Train and evaluate the in-dataset recipe; print the summary, write ONNX and report."""
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
        render.write_json(options.report, report)
    return 0


def main(argv=None):
    """Run the study grid, render its report or train the in-dataset recipe."""
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
    add_train_arguments(commands.add_parser(
        'train', help='the in-dataset recipe (./fer train landmark)'))
    options = parser.parse_args(argv)
    if options.command == 'train':
        return train(options)
    if options.command == 'run':
        run_study(options.grid, options.folds, options.seed, options.window_length,
                  options.only, options.json)
    else:
        for path in write_report(render.read_json(options.json), options.markdown,
                                 os.path.dirname(options.markdown)):
            print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
