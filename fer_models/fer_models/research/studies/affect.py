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
Valence and arousal per true class on labelled stills, through the pipeline's code.

    ./fer train affect \
        --images ../shared/data/taiwanese --labels ../shared/data/taiwanese/labels.csv \
        --name TFEID --out fer_models/reports/valence_arousal

Each still goes through the shipped configuration (``./fer eval``'s
StillImageClassifier: Face Mesh, both models, late fusion, threshold and pose
gate); its valence and arousal are derived from the fused probabilities as the
classifier node derives them (``fer_models.core.affect``). Writes OUT.json and
OUT.md: per true class the number of faces, the mean and standard deviation of
valence and arousal, and the share of faces whose valence has the sign the
class's own point has. Answers the node would publish as unknown (no
valence or arousal) and images without a face are counted, not averaged.
"""

import argparse
import math
import os
import shlex
import sys

from fer_models.core.affect import VALENCE_AROUSAL, valence_arousal
from fer_models.core.labels import UNKNOWN
from fer_models.research import render
from fer_models.research.evaluate import (
    add_pipeline_options, load_rgb, NO_FACE, pipeline_from_options, read_labels,
    StillImageClassifier)
import numpy as np


def affect_by_class(images_dir, rows, params):
    """Return {true label: [(valence, arousal), ...]} and {true label: faces left out}."""
    classifier = StillImageClassifier(params)
    points, left_out = {}, {}
    try:
        for name, truth in rows:
            rgb = load_rgb(os.path.join(images_dir, name))
            label, probabilities = classifier.classify(rgb)
            if label in (NO_FACE, UNKNOWN):
                left_out[truth] = left_out.get(truth, 0) + 1
                continue
            points.setdefault(truth, []).append(
                valence_arousal(classifier.model.labels, probabilities))
    finally:
        classifier.close()
    return points, left_out, params.summary()


def summarise(points, left_out):
    """Return one row per true class: n, means, standard deviations, sign agreement."""
    rows = []
    for truth in sorted(set(points) | set(left_out)):
        values = np.array(points.get(truth, []), dtype=np.float64).reshape(-1, 2)
        row = {'label': truth, 'n': len(values), 'left_out': left_out.get(truth, 0)}
        if len(values):
            row.update({
                'valence_mean': round(float(values[:, 0].mean()), 3),
                'valence_sd': round(float(values[:, 0].std()), 3),
                'arousal_mean': round(float(values[:, 1].mean()), 3),
                'arousal_sd': round(float(values[:, 1].std()), 3),
            })
            point = VALENCE_AROUSAL.get(truth)
            if point is not None and point[0] != 0:
                agree = np.sign(values[:, 0]) == math.copysign(1, point[0])
                row['valence_sign_as_class'] = round(float(agree.mean()), 3)
        rows.append(row)
    return rows


def markdown(report):
    """Return the report as a Markdown table."""
    lines = [
        f"# Valence and arousal per true class: {report['dataset']}", '',
        "Derived from the pipeline's expression probabilities (fer_models.core.affect: "
        'Russell & Mehrabian 1977 points of the basic expressions, weighted by the '
        'probabilities), not measured; one still per face, shown to the pipeline code as '
        f"`./fer eval` does; pipeline: {report['pipeline']}. {report['caveat']}", '',
        '| true class | faces | valence mean (sd) | arousal mean (sd) | class point (v, a) '
        '| valence sign as the class point | unknown or no face |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    for row in report['classes']:
        point = VALENCE_AROUSAL.get(row['label'])
        point_text = f'{point[0]:+.2f}, {point[1]:+.2f}' if point else '-'
        if row['n']:
            lines.append(
                f"| {row['label']} | {row['n']} | {row['valence_mean']:+.3f} "
                f"({row['valence_sd']:.3f}) | {row['arousal_mean']:+.3f} "
                f"({row['arousal_sd']:.3f}) "
                f"| {point_text} | {row.get('valence_sign_as_class', '-')} | {row['left_out']} |")
        else:
            lines.append(f"| {row['label']} | 0 | - | - | {point_text} | - | {row['left_out']} |")
    lines += ['', f"Reproduce: `{report['command']}`", '']
    return '\n'.join(lines)


def main(argv=None):
    """Compute the per-class valence and arousal report; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.strip().split('\n')[0])
    parser.add_argument('--images', required=True, help='folder the CSV file names are in')
    parser.add_argument('--labels', required=True, help='CSV with columns file,label')
    parser.add_argument('--name', default=None, help='data set name in the report')
    parser.add_argument('--caveat', default='', help='a sentence on the data (e.g. seen in '
                        'training)')
    parser.add_argument('--out', required=True, help='write OUT.json and OUT.md')
    add_pipeline_options(parser)
    options = parser.parse_args(argv)
    try:
        params = pipeline_from_options(options)
        points, left_out, pipeline = affect_by_class(
            options.images, read_labels(options.labels), params)
    except (OSError, ValueError, RuntimeError) as error:
        print(f'affect: {error}', file=sys.stderr)
        return 2
    report = {
        'dataset': options.name or os.path.basename(os.path.abspath(options.images)),
        'pipeline': pipeline, 'caveat': options.caveat,
        'command': './fer train affect ' + shlex.join(
            argv if argv is not None else sys.argv[1:]),
        'classes': summarise(points, left_out),
    }
    render.write_json(f'{options.out}.json', report)
    text = markdown(report)
    render.write_text(f'{options.out}.md', text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
