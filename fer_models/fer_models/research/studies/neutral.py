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
Does a per-person neutral baseline help? TFEID, subject-independently.

Each performer's own neutral images give their resting face: the mean of
their neutral frames' features (for a neutral image, of their *other*
neutral images, so that no image is its own baseline). Two arms are trained
and scored on the same images with the same 5 folds by performer:
absolute features (as the pipeline uses by default) and baseline-relative
features (frame minus the performer's resting face). TFEID is the only
dataset here with several labelled images of each person, including
neutral ones; CK+48 holds no neutral frames and FER2013 no person ids.

``ship`` trains the relative arm on every performer and writes
``models/landmark_neutral.onnx`` (feature type ``.../neutral``, for
``feature_buffer_node``'s ``neutral_baseline: auto``) and its model card.
The pipeline's automatic baseline is measured on replayed sequences by
``fer_ros.tools.neutral_sequences``, whose JSON this report includes.

Usage: ./fer train neutral [run] [--json OUT] [--markdown OUT]
       ./fer train neutral ship | render
"""

import os
import sys
import time

from fer_models.research import render
from fer_models.research.landmark_training import cross_validate
from fer_models.research.metrics import machine
from fer_models.research.neutral_baseline import (
    ABSOLUTE, CHECK_EVERY, EPOCHS, export_arm, FEATURE_TYPE, load_sequences, RELATIVE, REPORTS,
    tfeid_arms, train_arm)
from fer_models.research.protocol import LABELS
import numpy as np

DEFAULT_JSON = os.path.join(REPORTS, 'neutral_baseline.json')
DEFAULT_MARKDOWN = os.path.join(REPORTS, 'neutral_baseline.md')
SHIPPED_MODEL = os.path.join('fer_models', 'models', 'landmark_neutral.onnx')
SHIPPED_NAME = 'landmark_neutral'


def study(folds=5, seed=0):
    """Return both arms' reports on the same TFEID images."""
    import torch

    torch.set_num_threads(1)
    arms, targets, groups, left_out = tfeid_arms()
    result = {'images': int(len(targets)), 'left_out': left_out,
              'performers': int(len(np.unique(groups))), 'folds': folds, 'seed': seed,
              'feature_type': FEATURE_TYPE, 'arms': {}, 'best_epochs': {}}
    for arm, table in arms.items():
        result['arms'][arm], result['best_epochs'][arm] = cross_validate(
            table, targets, groups, list(LABELS), folds, EPOCHS, seed,
            early_stopping=True, check_every=CHECK_EVERY)
    result['machine'] = machine()
    return result


def ship(json_path=DEFAULT_JSON, out=SHIPPED_MODEL, seed=0):
    """Train the relative arm on every performer; write the ONNX model and its card."""
    import torch

    torch.set_num_threads(1)
    started = time.monotonic()
    result = render.read_json(json_path)
    epochs = max(1, int(np.median(result['best_epochs'][RELATIVE])))
    arms, targets, groups, _ = tfeid_arms()
    model, _ = train_arm(arms[RELATIVE], targets, groups, np.ones(len(targets), bool), seed,
                         epochs)
    exported = export_arm(model, RELATIVE, out, SHIPPED_NAME, {
        'training_data': "taiwanese, relative to each performer's mean neutral features",
        'cv_accuracy': f"{result['arms'][RELATIVE]['accuracy_mean']:.4f}"})
    facts = {'epochs': epochs, 'seed': seed, 'images': len(targets),
             'performers': int(len(np.unique(groups))), 'onnx_bytes': os.path.getsize(out),
             'parameters': int(sum(p.numel() for p in model.parameters())),
             'train_seconds': round(time.monotonic() - started, 1), 'machine': machine()}
    sequences = load_sequences()
    with open(os.path.splitext(out)[0] + '.md', 'w') as card:
        card.write(model_card(result, sequences, facts, exported))
    print(f'{out}: {facts}')
    return 0


percent = render.percent


def arms_table(arms):
    """Return the Markdown rows of the TFEID arms: accuracy, macro-F1, recall per class."""
    lines = ['| arm | accuracy (pooled) | mean ± std over folds | macro-F1 | '
             + ' | '.join(LABELS) + ' |',
             '| --- | ---: | ---: | ---: |' + ' ---: |' * len(LABELS)]
    for name, report in arms.items():
        recalls = ' | '.join(f"{report['per_class'][label]['recall']:.2f}" for label in LABELS)
        lines.append(f"| {name} | {percent(report['accuracy'])} | "
                     f"{percent(report['accuracy_mean'])} ± {percent(report['accuracy_std'])} "
                     f"| {report['macro_f1']:.3f} | {recalls} |")
    return lines


def sequences_section(sequences):
    """Return the Markdown of the sequence test (fer_ros.tools.neutral_sequences)."""
    if sequences is None:
        return ['## Automatic baseline on replayed sequences', '',
                'Not run yet: `./fer run python -m fer_ros.tools.neutral_sequences`.', '']
    arms = sequences['arms']
    lines = [
        '## Automatic baseline on replayed sequences (SYNTHETIC: built from stills)', '',
        'Generated by `./fer run python -m fer_ros.tools.neutral_sequences`. '
        "**Synthetic sequences**: each TFEID performer's stills played as one face track "
        '(`./fer bag make --track-column performer`): their neutral stills first, then '
        f"their other expressions in the dataset's order, {sequences['frames_per_image']} "
        f"frames per still at {sequences['fps']:g} fps, blank frames only between "
        'performers. Real faces do not jump between expressions like this, and a still '
        'holds perfectly still, which makes collecting the baseline easier than on a '
        'live camera.', '',
        f"Split: {sequences['folds']} folds by performer; for each fold both arms' models "
        'are trained on the other performers (early stopping on an inner split of them) and '
        f"the fold's {min(sequences['performers_per_fold'])}–"
        f"{max(sequences['performers_per_fold'])} performers are replayed through "
        'the real nodes by `./fer bag eval` (composed, rate max, the shipped '
        '`config/fer.yaml` with `fusion: landmark` and no appearance model, so that only '
        'the landmark path differs). `off`: absolute features and the absolute model; '
        f"`auto`: `neutral_baseline: auto` ({sequences['baseline_frames']} frames, max "
        f"motion {sequences['baseline_max_motion']:g}) and the relative model; rows "
        '`auto, N frames` repeat `auto` with another `baseline_frames`. All arms '
        f"are scored on the {sequences['arms']['off']['answers']} labelled frames all "
        'answered (before pairing: ' + ', '.join(
            f'{arm} {count}' for arm, count in sequences['answers_before_pairing'].items())
        + '); '
        '`unknown` counts as wrong, so the frames `auto` spends collecting count against it.',
        '',
        '| arm | all labelled frames | expression stills after the neutral ones | '
        'answers while collecting | neutral recall | frames answered |',
        '| --- | ---: | ---: | ---: | ---: | ---: |']
    for arm, scores in arms.items():
        lines.append(f"| {arm} | {percent(scores['accuracy_all'])} | "
                     f"{percent(scores['accuracy_after_neutral'])} | "
                     f"{scores['answers_collecting']} | "
                     f"{scores['neutral_recall']:.2f} | {scores['answers']} |")
    gain = arms['auto']['accuracy_after_neutral'] - arms['off']['accuracy_after_neutral']
    lines += ['', f'auto minus off on the expression stills: **{100 * gain:+.1f} points** '
              f"(per fold: {', '.join(f'{100 * g:+.1f}' for g in sequences['fold_gains'])}).",
              '', f"Machine: {sequences['machine']['cpu']}, {sequences['machine']['cores']} "
              f"cores, load average {sequences['machine']['load_average_at_report'][0]} at the "
              'end (another job shared the CPU; answers do not depend on speed at rate max), '
              f"{sequences['machine']['date'][:10]}.", '', '## Default', '',
              'The pipeline keeps `neutral_baseline: off`. The gain above is measured on the '
              'landmark path alone, with models trained on TFEID only, on stills played as '
              'sequences. The shipped default (`fusion: late`, where the landmark path that '
              'the baseline changes has weight 0.4 against 0.6 for the appearance path) '
              'cannot be compared on the same footing: its models saw every TFEID '
              'performer, and no other dataset here has both person ids and neutral frames. '
              'Turning `auto` on also means trading `landmark_default.onnx` (three datasets, '
              'chosen by leave-one-dataset-out accuracy) for a model trained on TFEID alone, '
              'and a live camera (faces that move, talk and arrive smiling) is not measured.',
              '']
    return lines


def markdown(result, sequences=None):
    """Return the report text."""
    arms = result['arms']
    gain = arms[RELATIVE]['accuracy'] - arms[ABSOLUTE]['accuracy']
    lines = ['# Per-person neutral baseline on TFEID', '',
             '## Labelled neutral images as the baseline (upper bound)', '',
             'Generated by `./fer train neutral`: '
             f"{result['images']} TFEID images of {result['performers']} performers "
             f"({result['left_out']} neutral images of performers with a single neutral image "
             f"left out), {result['folds']}-fold by performer, feature type "
             f"`{result['feature_type']}`, the same MLP recipe in both arms (early stopping "
             'on an inner split by performer). CK+48 has no neutral frames and FER2013 no '
             'person ids, so TFEID is the only dataset here that can test this.', '',
             *arms_table(arms), '',
             f'Baseline-relative minus absolute: **{100 * gain:+.1f} points**. This is an '
             "in-dataset number (the baseline uses each performer's own labelled neutral "
             'images, which a robot does not have): it bounds what an automatic baseline '
             'can gain.', '', *sequences_section(sequences)]
    return '\n'.join(lines)


def model_card(result, sequences, facts, exported):
    """Return the Markdown model card of the shipped relative model."""
    relative = result['arms'][RELATIVE]
    sequence_line = ('not measured yet' if sequences is None else
                     f"{percent(sequences['arms']['auto']['accuracy_after_neutral'])} with `auto` "
                     f"against {percent(sequences['arms']['off']['accuracy_after_neutral'])}"
                     " with `off` and the absolute model, on held-out performers' expression "
                     'stills (SYNTHETIC sequences built from stills)')
    return '\n'.join([
        f'# Model card: `{SHIPPED_NAME}.onnx`', '',
        "Landmark-path classifier for **baseline-relative** features: each frame's "
        "`dlib68:coords+geometric` features minus the same face's resting (neutral) "
        f'features. Feature type `{exported.feature_type}`: the classifier refuses it for '
        'absolute windows and the absolute models refuse relative ones. The pipeline '
        'runs it when `neutral_baseline: auto` is set (once, for every node: '
        "`ros2 launch fer_ros fer.launch.py neutral_baseline:=auto` or the parameter file's "
        "`/**` section) and the classifier's `model_path` is left empty; with "
        '`neutral_baseline: off` the classifier refuses it.', '',
        '## What it reads, and what it does not', '',
        "It reads how a face's **displayed** configuration differs from that face at "
        'rest. FER reads displayed expressions, not feelings: a smile is not happiness, '
        'and a resting face is not an absence of feeling. It must not be used to make '
        "decisions about people; it is meant to make a robot's behaviour more responsive.", '',
        '## Data', '',
        f"- TFEID (Taiwanese Facial Expression Image Database), {facts['images']} images of "
        f"{facts['performers']} performers (posed, frontal, studio light, young adult "
        'Taiwanese), read from `../shared/data/taiwanese`, never copied here.',
        "- Baseline while training: the mean features of the performer's labelled neutral "
        'images (for a neutral image, of their other neutral images); the neutral images of '
        'performers with a single one are left out. CK+48 has no neutral frames and '
        'FER2013 no person ids, so neither can train it.',
        '- Landmarks: MediaPipe Face Mesh in tracking mode on each still, as the landmark '
        'node sees it.', '',
        '## Model', '',
        f'- Window of {exported.window_length} frames × {exported.feature_dim} features; '
        'time-average, standardisation inside the graph, 151-128-128-7 MLP, softmax.',
        f"- {facts['parameters']:,} parameters, {facts['onnx_bytes'] / 1024:.0f} KiB ONNX; "
        f"trained {facts['epochs']} epochs (median of the folds' early-stopping epochs), "
        f"seed {facts['seed']}, {facts['train_seconds']} s on "
        f"{facts['machine']['cpu']} ({facts['machine']['cores']} cores), torch "
        f"{facts['machine'].get('torch')}, onnxruntime {facts['machine'].get('onnxruntime')}, "
        f"{facts['machine']['date'][:10]}.", '',
        '## Measured (subject-independent)', '',
        f"- TFEID, {result['folds']}-fold by performer, labelled neutral images as the "
        f"baseline: **{percent(relative['accuracy'])}** (absolute features, same recipe: "
        f"{percent(result['arms'][ABSOLUTE]['accuracy'])}). In-dataset: an upper bound.",
        f'- Automatic baseline in the pipeline: {sequence_line}.',
        '- Details: [neutral baseline report](../reports/neutral_baseline.md).', '',
        '## Limits', '',
        '- Trained on one ethnicity and age range, posed and frontal; expect less elsewhere.',
        '- Only as good as the baseline: a face that shows an expression while its baseline '
        'is collected gets that expression as its "neutral".',
        '- Never measured on real video: the sequence test replays stills.', '',
        '## Reproduce', '',
        '```bash',
        './fer train neutral                                            # CV, report',
        './fer train neutral ship                                       # this model + card',
        './fer run python -m fer_ros.tools.neutral_sequences            # sequence test',
        '```', ''])


def render_report(json_path=DEFAULT_JSON, markdown_path=DEFAULT_MARKDOWN):
    """Write the report from the study's and the sequence test's JSON."""
    render.write_text(markdown_path, markdown(render.read_json(json_path), load_sequences()))
    return 0


def main(argv=None):
    """Run the study (default), ship the relative model or render the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['ship']:
        return ship()
    if argv[:1] == ['render']:
        return render_report()
    argv = argv[1:] if argv[:1] == ['run'] else argv
    return render.study_main(argv, __doc__.splitlines()[1], study,
                             lambda result: markdown(result, load_sequences()), DEFAULT_JSON,
                             DEFAULT_MARKDOWN)


if __name__ == '__main__':
    sys.exit(main())
