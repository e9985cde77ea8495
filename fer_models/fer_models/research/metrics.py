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

"""Metrics of training, evaluation, bag replay and benchmarks, and the machine they ran on."""

import datetime
import os
import platform
import sys
import time

from fer_models.research.figures import png_figure
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
    confusion = np.asarray(report['confusion'], dtype=float)
    rows = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    size = (1 + 0.8 * confusion.shape[1], 1 + 0.7 * confusion.shape[0])
    with png_figure(path, size) as (_, axis, _):
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


def time_calls_ms(function, runs, warmup=20, clock=time.perf_counter):
    """
    Return the times in ms of ``runs`` calls of ``function()``, after ``warmup``.

    clock: wall time by default; ``time.thread_time`` gives the calling
    thread's CPU time, which other processes on a shared machine inflate
    far less (onnxruntime with one intra-op thread computes on the caller).
    """
    for _ in range(warmup):
        function()
    timings = np.empty(runs)
    for index in range(runs):
        started = clock()
        function()
        timings[index] = 1e3 * (clock() - started)
    return timings


def machine():
    """
    Describe this machine and the software versions, for reports.

    torch's version is given only when the caller has imported torch, so that
    describing the machine never loads it into a process that does not need it.
    """
    cpu = platform.processor() or 'unknown'
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            cpu = next(line.split(':', 1)[1].strip() for line in cpuinfo
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    described = {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
                 'system': platform.platform(),
                 'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
                     timespec='seconds'),
                 'load_average_at_report': [round(v, 2) for v in os.getloadavg()]}
    for module in ('onnxruntime', 'torch'):
        if module in sys.modules:
            described[module] = sys.modules[module].__version__
    return described
