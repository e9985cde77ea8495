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

"""Classification metrics reported by training, evaluation and bag replay."""

import time

import numpy as np


def classification_report(true_labels, predicted_labels, labels):
    """
    Return accuracy, macro-F1, per-class scores and the confusion matrix.

    ``labels`` fixes the class order; predictions outside it (e.g.
    ``unknown``) count as errors and appear in an extra confusion column.
    The confusion matrix is indexed [true][predicted].
    """
    labels = list(labels)
    extra = sorted({p for p in predicted_labels if p not in labels})
    columns = labels + extra
    index = {label: i for i, label in enumerate(columns)}
    confusion = np.zeros((len(labels), len(columns)), dtype=int)
    for truth, predicted in zip(true_labels, predicted_labels):
        if truth not in labels:
            raise ValueError(f"true label '{truth}' is not one of {', '.join(labels)}")
        confusion[index[truth], index[predicted]] += 1
    total = int(confusion.sum())
    correct = int(np.trace(confusion[:, :len(labels)]))
    per_class = {}
    f1_scores = []
    for i, label in enumerate(labels):
        support = int(confusion[i].sum())
        predicted = int(confusion[:, i].sum())
        tp = int(confusion[i, i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {'precision': round(precision, 4), 'recall': round(recall, 4),
                            'f1': round(f1, 4), 'support': support}
        if support:
            f1_scores.append(f1)
    return {
        'n': total,
        'accuracy': round(correct / total, 4) if total else None,
        'macro_f1': round(float(np.mean(f1_scores)), 4) if f1_scores else None,
        'labels': labels,
        'predicted_labels': columns,
        'per_class': per_class,
        'confusion': confusion.tolist(),
    }


def format_report(report):
    """Return a readable multi-line summary of a classification_report."""
    lines = [f"n={report['n']}  accuracy={report['accuracy']}  macro-F1={report['macro_f1']}"]
    width = max(len(c) for c in report['predicted_labels'])
    lines.append(' ' * (width + 2) + ' '.join(f'{c[:7]:>7s}' for c in report['predicted_labels'])
                 + '   recall')
    for label, row in zip(report['labels'], report['confusion']):
        recall = report['per_class'][label]['recall']
        lines.append(f'{label:>{width}s}  ' + ' '.join(f'{v:7d}' for v in row)
                     + f'   {recall:.3f}')
    return '\n'.join(lines)


def save_confusion_png(report, path, title=''):
    """Save the confusion matrix (row-normalised colours, counts) as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    confusion = np.asarray(report['confusion'], dtype=float)
    rows = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    figure, axis = plt.subplots(figsize=(1 + 0.8 * confusion.shape[1],
                                         1 + 0.7 * confusion.shape[0]))
    axis.imshow(shares, cmap='Blues', vmin=0, vmax=1)
    axis.set_xticks(range(confusion.shape[1]), report['predicted_labels'], rotation=45,
                    ha='right')
    axis.set_yticks(range(confusion.shape[0]), report['labels'])
    for (i, j), count in np.ndenumerate(confusion):
        axis.text(j, i, int(count), ha='center', va='center',
                  color='white' if shares[i, j] > 0.5 else 'black', fontsize=8)
    axis.set_xlabel('predicted')
    axis.set_ylabel('true')
    axis.set_title(title or f"accuracy {report['accuracy']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def time_calls_ms(function, runs, warmup=20):
    """Return the wall times in ms of ``runs`` calls of ``function()``, after ``warmup``."""
    for _ in range(warmup):
        function()
    timings = np.empty(runs)
    for index in range(runs):
        started = time.perf_counter()
        function()
        timings[index] = 1e3 * (time.perf_counter() - started)
    return timings
