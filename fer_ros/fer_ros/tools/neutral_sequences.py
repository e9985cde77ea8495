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
The automatic neutral baseline in the live pipeline: off against auto, on held-out performers.

SYNTHETIC sequences: each TFEID performer's stills are played as one face
track (``./fer bag make --track-column performer``), their neutral stills
first, then their other expressions, so that ``neutral_baseline: auto``
collects its estimate on the neutral stills as it would on a person at rest
at the start of an encounter. For each of 5 folds by performer (the folds
of ``fer_models.research.studies.neutral``), both arms' models are trained on
the other performers; the fold's performers are replayed through the real
nodes by ``evaluate_bag`` (``./fer bag eval``): ``off`` with absolute
features and the absolute model, ``auto`` with the automatic baseline and
the relative model, both with ``fusion: landmark`` and no appearance model
so that only the landmark path differs; ``auto`` also runs with other
``baseline_frames`` than the shipped one (``OTHER_BASELINE_FRAMES``). Writes
``fer_models/reports/neutral_sequences.json`` and regenerates the neutral
baseline report.

It is the track protocol's neutral-first order (``fer_ros.tools.track_protocol``:
same layout, arms as parameter overrides) with landmark-only arms and
models trained on TFEID alone; its scores are its own (the frames every
arm answered), as its report defines them.

Usage: ./fer run python -m fer_ros.tools.neutral_sequences [--folds 5] [--seed 0]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from fer_models.core.baseline import AUTO, OFF
from fer_models.core.labels import NEUTRAL
from fer_models.research.metrics import machine
from fer_models.research.neutral_baseline import (
    ABSOLUTE, export_fold_models, RELATIVE, SEQUENCES_JSON)
from fer_models.research.protocol import FRAMES_PER_STILL, group_folds
from fer_models.research.track_protocol import (
    arm_parameters, EVERY_NODE, FPS, GAP_FRAMES, NEUTRAL_FIRST, order_stills, stills_of)
from fer_ros.tools.bag_tools import evaluate_bag, make_bag, stills_frames
from fer_ros.tools.track_protocol import shipped_params, write_params
import numpy as np

# baseline_frames values tried besides the shipped one, to show how much it matters.
OTHER_BASELINE_FRAMES = (10, 40)


def arms(shipped_baseline_frames, other_baseline_frames=OTHER_BASELINE_FRAMES):
    """
    Return {arm name: parameter overrides} (track protocol arms, landmark path only).

    The classifier reads the absolute model with ``off`` and the relative
    one with ``auto`` (``arm_parameters``); no appearance model is given, so
    it decides by the landmark path alone.
    """
    def arm(mode, frames):
        return {EVERY_NODE: {'neutral_baseline': mode},
                'feature_buffer_node': {'baseline_frames': frames}}

    compared = {OFF: arm(OFF, shipped_baseline_frames), AUTO: arm(AUTO, shipped_baseline_frames)}
    compared.update({f'{AUTO}, {frames} frames': arm(AUTO, frames)
                     for frames in other_baseline_frames})
    return compared


def scores(answers):
    """Return the sequence test's scores of one arm's [frame, truth, label, state] answers."""
    truth = np.array([a[1] for a in answers])
    predicted = np.array([a[2] for a in answers])
    expression = truth != NEUTRAL
    return {
        'answers': len(answers),
        'accuracy_all': float(np.mean(truth == predicted)),
        'accuracy_after_neutral': float(np.mean(truth[expression] == predicted[expression])),
        'neutral_recall': float(np.mean(predicted[~expression] == NEUTRAL)),
        'answers_collecting': sum(a[3] == 'collecting' for a in answers),
        'unknown': int(np.sum(predicted == 'unknown')),
    }


def run(folds=5, seed=0):
    """Run every fold and both arms; return the result dict."""
    stills = stills_of('taiwanese')
    shipped = shipped_params()
    buffer_params = shipped['feature_buffer_node']['ros__parameters']
    compared = arms(buffer_params['baseline_frames'])
    answers = {arm: [] for arm in compared}
    answered = dict.fromkeys(compared, 0)
    fold_gains = []
    groups = np.array([person for _, _, person in stills])
    performer_folds = group_folds(groups, folds, seed)
    for fold, test_groups in enumerate(performer_folds):
        with tempfile.TemporaryDirectory(prefix=f'neutral_fold{fold}_') as work:
            paths = export_fold_models(np.setdiff1d(np.unique(groups), test_groups), work,
                                       seed)
            models = {'landmark': paths[ABSOLUTE], 'landmark_neutral': paths[RELATIVE],
                      'appearance': None}
            bag = os.path.join(work, 'bag')
            make_bag(bag, stills_frames('', order_stills(stills, test_groups, NEUTRAL_FIRST),
                                        FRAMES_PER_STILL, GAP_FRAMES), FPS)
            fold_answers = {}
            for index, (arm, overrides) in enumerate(compared.items()):
                params = write_params(os.path.join(work, f'arm{index}.yaml'),
                                      arm_parameters(shipped, overrides, models))
                fold_answers[arm] = evaluate_bag(bag, 'composed', params, 'max',
                                                 answers=True)['answers']
                answered[arm] += len(fold_answers[arm])
        # Both arms are scored on the frames both answered (a frame whose face
        # Face Mesh missed in one run only would otherwise count on one side).
        paired = set.intersection(*({a[0] for a in arm_answers}
                                    for arm_answers in fold_answers.values()))
        fold_scores = {}
        for arm, arm_answers in fold_answers.items():
            answers[arm] += [a for a in arm_answers if a[0] in paired]
            fold_scores[arm] = scores([a for a in arm_answers if a[0] in paired])
            print(f'fold {fold} {arm}: {fold_scores[arm]}', flush=True)
        fold_gains.append(fold_scores[AUTO]['accuracy_after_neutral']
                          - fold_scores[OFF]['accuracy_after_neutral'])
    return {'folds': folds, 'seed': seed,
            'performers_per_fold': [len(test_groups) for test_groups in performer_folds],
            'frames_per_image': FRAMES_PER_STILL, 'gap_frames': GAP_FRAMES, 'fps': FPS,
            'baseline_frames': buffer_params['baseline_frames'],
            'baseline_max_motion': buffer_params['baseline_max_motion'],
            'arms': {arm: scores(arm_answers) for arm, arm_answers in answers.items()},
            'answers_before_pairing': answered,
            'fold_gains': [round(g, 4) for g in fold_gains], 'machine': machine()}


def main(argv=None):
    """Run the sequence test, write its JSON and regenerate the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=SEQUENCES_JSON)
    options = parser.parse_args(argv)
    result = run(options.folds, options.seed)
    with open(options.json, 'w') as handle:
        json.dump(result, handle, indent=1)
    print(json.dumps(result['arms'], indent=1))
    # The neutral study renders the report (tools never import a study).
    return subprocess.run([sys.executable, '-m', 'fer_models.research.studies', 'neutral',
                           'render'], check=False).returncode


if __name__ == '__main__':
    sys.exit(main())
