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
Does late fusion beat each path alone? Subject-independent, on TFEID stills.

Usage: ./fer train fusion [--appearance-model ONNX]
       [--json OUT] [--markdown OUT]

Landmark path: the in-dataset recipe (``landmark_training`` defaults)
cross-validated 5-fold by performer; every image gets the probabilities of the fold model
that never saw its performer. Appearance path: the shipped crop model, trained
on FER2013 only, so no TFEID performer was seen in training; each image's
crop is made from the same Face Mesh box as landmark_node's. Fusion: the
classifier node's late fusion. Reported: each path alone, fusion at the
weight 0.5, fusion with the weight chosen on the other folds'
performers (nested, honest), and the accuracy of every weight (a curve that
peeks at the test performers: for orientation only).
"""

import argparse
import datetime
import json
import os
import sys

from fer_models.core.crops import CropClassifier
from fer_models.core.fusion import align, fuse
from fer_models.core.landmarks import bbox_of
from fer_models.core.resources import shipped_model
from fer_models.research.datasets import data_root
from fer_models.research.evaluate import load_rgb
from fer_models.research.metrics import classification_report
import numpy as np

WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))


def landmark_probabilities(dataset, folds, seed):
    """Return (out-of-fold probabilities, targets, groups, labels, landmarks, recipe)."""
    from fer_models.research import landmark_training as shipped
    from fer_models.research.extract import extract
    from fer_models.research.landmark_data import StudyData
    from fer_models.research.protocol import group_folds

    data = StudyData(dataset, 'stills', 'mediapipe', 8, seed, shipped.DEFAULT_MIRROR)
    row = shipped.evaluate_config(data, shipped.DEFAULT_FEATURE_TYPE, shipped.DEFAULT_CLASSIFIER,
                                  folds, seed, shipped.DEFAULT_PCA or None,
                                  keep_probabilities=True)[0]
    landmarks = extract(dataset).detected()
    _, _, groups = data.sets['stills']
    if len(groups) != len(landmarks.files):
        raise RuntimeError('stills windows do not match the detected images one to one')
    fold_of = np.empty(len(groups), int)
    for index, test_groups in enumerate(group_folds(data.groups, folds, seed)):
        fold_of[np.isin(groups, test_groups)] = index
    recipe = {'feature_type': shipped.DEFAULT_FEATURE_TYPE,
              'classifier': shipped.DEFAULT_CLASSIFIER, 'pca': shipped.DEFAULT_PCA,
              'mirror': shipped.DEFAULT_MIRROR}
    return (row['probabilities'], row['targets'], fold_of, data.labels, landmarks, recipe)


def appearance_probabilities(model, landmarks, dataset, labels):
    """Return the crop model's probabilities of every image, aligned to ``labels``."""
    rows = []
    for path, points in zip(landmarks.files, landmarks.points):
        rgb = load_rgb(path if os.path.isabs(path) else os.path.join(data_root(), dataset, path))
        _, probabilities = model.classify_face(
            rgb, bbox_of(points, rgb.shape[1], rgb.shape[0]), points)
        rows.append(align(probabilities, model.labels, labels))
    return np.stack(rows)


def scores(probabilities, targets, labels):
    """Return accuracy and macro-F1 of argmax predictions."""
    report = classification_report([labels[t] for t in targets],
                                   [labels[p] for p in probabilities.argmax(axis=1)], labels)
    return {'accuracy': report['accuracy'], 'macro_f1': report['macro_f1'],
            'recall': {c: report['per_class'][c]['recall'] for c in labels}}


def argmax_accuracy(probabilities, targets):
    """Return the share of rows whose argmax is the target."""
    return float((probabilities.argmax(axis=1) == targets).mean())


def nested_weight(landmark, appearance, targets, fold_of):
    """Fuse each fold with the weight that did best on the other folds; return probabilities."""
    fused = np.empty_like(landmark)
    chosen = []
    for fold in np.unique(fold_of):
        others = fold_of != fold
        accuracy = [argmax_accuracy(fuse(landmark[others], appearance[others], w),
                                    targets[others]) for w in WEIGHTS]
        weight = float(WEIGHTS[int(np.argmax(accuracy))])
        chosen.append(weight)
        fused[~others] = fuse(landmark[~others], appearance[~others], weight)
    return fused, chosen


def fold_accuracies(probabilities, targets, fold_of):
    """Return the argmax accuracy of each fold (performer group)."""
    return [argmax_accuracy(probabilities[fold_of == fold], targets[fold_of == fold])
            for fold in np.unique(fold_of)]


def conclusion(report):
    """Return the verdict on whether nested late fusion beats each path alone, per fold."""
    per_fold = {name: np.asarray(values) for name, values in report['per_fold'].items()}
    lines = []
    for path in ('landmark', 'appearance'):
        gain = per_fold['fusion'] - per_fold[path]
        wins = int((gain > 0).sum())
        spread = float(gain.std(ddof=1)) if len(gain) > 1 else 0.0
        verdict = ('beats' if gain.mean() > spread / np.sqrt(len(gain)) and wins == len(gain)
                   else 'does not clearly beat')
        lines.append(f'- Late fusion (weight chosen on the other folds) {verdict} the {path} '
                     f'path alone: {100 * gain.mean():+.1f} points on average per fold '
                     f'(fold-to-fold s.d. {100 * spread:.1f}), better in {wins} of {len(gain)} '
                     'folds.')
    return '\n'.join(lines)


def run(dataset, appearance_model, folds, seed):
    """Run the study; return the report dict."""
    landmark, targets, fold_of, labels, landmarks, recipe = landmark_probabilities(
        dataset, folds, seed)
    model = CropClassifier(appearance_model)
    appearance = appearance_probabilities(model, landmarks, dataset, labels)
    nested, chosen = nested_weight(landmark, appearance, targets, fold_of)
    rows = {
        'landmark path alone': scores(landmark, targets, labels),
        'appearance path alone': scores(appearance, targets, labels),
        'late fusion, weight 0.5': scores(fuse(landmark, appearance, 0.5), targets, labels),
        'late fusion, weight chosen on other folds': scores(nested, targets, labels),
    }
    curve = {str(w): scores(fuse(landmark, appearance, w), targets, labels)['accuracy']
             for w in WEIGHTS}
    per_fold = {name: fold_accuracies(probabilities, targets, fold_of) for name, probabilities
                in (('landmark', landmark), ('appearance', appearance), ('fusion', nested))}
    return {
        'dataset': dataset, 'images': int(len(targets)), 'labels': labels,
        'split': f'{folds}-fold grouped by performer (subject-independent); the appearance '
                 'model never saw TFEID (trained on FER2013)',
        'landmark_recipe': recipe, 'appearance_model': model.path,
        'appearance_model_name': model.model_name, 'rows': rows,
        'nested_weights': chosen, 'accuracy_by_weight': curve, 'per_fold': per_fold,
        'seed': seed,
        'date': datetime.date.today().isoformat(),
    }


def markdown(report):
    """Return the report as Markdown."""
    lines = [
        '# Late fusion on TFEID (subject-independent)', '',
        f"{report['images']} TFEID stills, {report['split']}. Landmark recipe: "
        f"{report['landmark_recipe']}. Appearance model: `{report['appearance_model_name']}`. "
        f"{report['date']}; reproduce with "
        '`./fer train fusion`.', '',
        '| pipeline | accuracy | macro-F1 |', '| --- | --- | --- |']
    for name, row in report['rows'].items():
        lines.append(f"| {name} | {row['accuracy']:.3f} | {row['macro_f1']:.3f} |")
    lines += ['', f"Weights chosen on the other folds: {report['nested_weights']}.", '',
              'Accuracy by appearance weight (chosen with the test performers in view: '
              'orientation only, not a result): ' + ', '.join(
                  f'{w}: {a:.3f}' for w, a in report['accuracy_by_weight'].items()) + '.', '',
              '**Conclusion** (generated from the per-fold accuracies in the JSON; "beats" '
              'needs a gain in every fold and a mean gain above its standard error):', '',
              conclusion(report), '']
    return '\n'.join(lines)


def main(argv=None):
    """Run the fusion study and write JSON and Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.strip().split('\n')[0])
    parser.add_argument('--dataset', default='taiwanese')
    parser.add_argument('--appearance-model', default=shipped_model('ean.onnx'))
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=os.path.join('fer_models', 'reports',
                                                       'fusion_study.json'))
    parser.add_argument('--markdown', default=os.path.join('fer_models', 'reports',
                                                           'fusion_study.md'))
    options = parser.parse_args(argv)
    report = run(options.dataset, options.appearance_model, options.folds, options.seed)
    text = markdown(report)
    print(text)
    with open(options.json, 'w') as out:
        json.dump(report, out, indent=1)
    with open(options.markdown, 'w') as out:
        out.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
