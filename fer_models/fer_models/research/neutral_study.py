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

Usage: ./fer run python -m fer_models.research.neutral_study [run] [--json OUT] [--markdown OUT]
       ./fer run python -m fer_models.research.neutral_study ship | render
"""

import json
import os
import sys
import time

from fer_models.core.features import FeatureExtractor, NEUTRAL_REFERENCE
from fer_models.core.labels import NEUTRAL
from fer_models.research.extract import extract
from fer_models.research.metrics import machine, study_main
from fer_models.research.protocol import group_folds, LABELS
from fer_models.research.train import cross_validate
import numpy as np

FEATURE_TYPE = 'dlib68:coords+geometric'
RELATIVE_FEATURE_TYPE = FeatureExtractor(FEATURE_TYPE).spec.with_reference(NEUTRAL_REFERENCE).name
WINDOW_LENGTH = 8
EPOCHS = 150
CHECK_EVERY = 5
ABSOLUTE, RELATIVE = 'absolute', 'baseline-relative'
REPORTS = os.path.join('fer_models', 'reports')
DEFAULT_JSON = os.path.join(REPORTS, 'neutral_baseline.json')
DEFAULT_MARKDOWN = os.path.join(REPORTS, 'neutral_baseline.md')
SEQUENCES_JSON = os.path.join(REPORTS, 'neutral_sequences.json')
SHIPPED_MODEL = os.path.join('fer_models', 'models', 'landmark_neutral.onnx')
SHIPPED_NAME = 'landmark_neutral'


def baseline_relative(features, labels, groups):
    """
    Return (relative features, usable mask): each row minus its person's resting face.

    The resting face is the mean of the person's neutral rows other than the
    row itself; rows of a person with no other neutral row are not usable.
    """
    relative = np.zeros_like(features)
    usable = np.zeros(len(features), bool)
    for person in np.unique(groups):
        mine = np.flatnonzero(groups == person)
        neutral = mine[labels[mine] == NEUTRAL]
        for row in mine:
            others = neutral[neutral != row]
            if len(others):
                relative[row] = features[row] - features[others].mean(axis=0)
                usable[row] = True
    return relative, usable


def tfeid_arms():
    """
    Return ({arm: features}, targets, groups, images left out) of TFEID.

    Both arms hold the same usable images, in the same order.
    """
    landmarks = extract('taiwanese').detected()
    extractor = FeatureExtractor(FEATURE_TYPE)
    features = np.stack([extractor.frame(p, w, h)
                         for p, (w, h) in zip(landmarks.points, landmarks.sizes)])
    labels, groups = landmarks.labels, landmarks.groups
    relative, usable = baseline_relative(features, labels, groups)
    targets = np.array([LABELS.index(label) for label in labels])
    return ({ABSOLUTE: features[usable], RELATIVE: relative[usable]}, targets[usable],
            groups[usable], int((~usable).sum()))


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


def train_arm(table, targets, groups, train, seed, epochs=None):
    """
    Train one arm's MLP on the rows ``train``; return (model, epochs trained).

    Without ``epochs`` it stops early on the loss of an inner validation
    split of the training performers (a quarter of them, never test ones).
    """
    from fer_models.research.nets import fit_window_mlp

    if epochs is not None:
        return fit_window_mlp(table[train], targets[train], len(LABELS), epochs, seed)
    inner = group_folds(groups[train], 4, seed)[0]
    validation = train & np.isin(groups, inner)
    fit = train & ~validation
    return fit_window_mlp(table[fit], targets[fit], len(LABELS), EPOCHS, seed,
                          (table[validation], targets[validation]), CHECK_EVERY)


def export_arm(model, arm, path, model_name, extra_metadata):
    """Export one arm's model with its feature type; return the EmotionModel."""
    from fer_models.research.export import export_onnx

    feature_type = RELATIVE_FEATURE_TYPE if arm == RELATIVE else FEATURE_TYPE
    return export_onnx(model, path, model_name=model_name, labels=LABELS,
                       feature_type=feature_type, window_length=WINDOW_LENGTH,
                       feature_dim=FeatureExtractor(FEATURE_TYPE).dim,
                       extra_metadata=extra_metadata)


def export_fold_models(train_groups, out_dir, seed=0):
    """
    Train and export both arms on the performers ``train_groups``; return {arm: path}.

    For the sequence test: the models never see the held-out performers.
    """
    import torch

    torch.set_num_threads(1)
    arms, targets, groups, _ = tfeid_arms()
    train = np.isin(groups, train_groups)
    paths = {}
    for arm, table in arms.items():
        model, _ = train_arm(table, targets, groups, train, seed)
        paths[arm] = os.path.join(out_dir, f"{arm.split('-')[-1]}.onnx")
        export_arm(model, arm, paths[arm], f"neutral_study_{arm.split('-')[-1]}",
                   {'training_performers': ','.join(map(str, train_groups))})
    return paths


def ship(json_path=DEFAULT_JSON, out=SHIPPED_MODEL, seed=0):
    """Train the relative arm on every performer; write the ONNX model and its card."""
    import torch

    torch.set_num_threads(1)
    started = time.monotonic()
    with open(json_path) as handle:
        result = json.load(handle)
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


def load_sequences(path=SEQUENCES_JSON):
    """Return the sequence test's result (fer_ros.tools.neutral_sequences), or None."""
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def percent(value):
    """Return a fraction as a percentage with one decimal."""
    return f'{100 * value:.1f} %'


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
             'Generated by `./fer run python -m fer_models.research.neutral_study`: '
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
        'absolute windows and the absolute models refuse relative ones. Use it with '
        "`feature_buffer_node`'s `neutral_baseline: auto` and "
        f"`emotion_classifier_node`'s `model_path: {SHIPPED_NAME}.onnx`.", '',
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
        './fer run python -m fer_models.research.neutral_study          # CV, report',
        './fer run python -m fer_models.research.neutral_study ship     # this model + card',
        './fer run python -m fer_ros.tools.neutral_sequences            # sequence test',
        '```', ''])


def render(json_path=DEFAULT_JSON, markdown_path=DEFAULT_MARKDOWN):
    """Write the report from the study's and the sequence test's JSON."""
    with open(json_path) as handle:
        text = markdown(json.load(handle), load_sequences())
    with open(markdown_path, 'w') as handle:
        handle.write(text)
    return 0


def main(argv=None):
    """Run the study (default), ship the relative model or render the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['ship']:
        return ship()
    if argv[:1] == ['render']:
        return render()
    argv = argv[1:] if argv[:1] == ['run'] else argv
    return study_main(argv, __doc__.splitlines()[1], study,
                      lambda result: markdown(result, load_sequences()), DEFAULT_JSON,
                      DEFAULT_MARKDOWN)


if __name__ == '__main__':
    sys.exit(main())
