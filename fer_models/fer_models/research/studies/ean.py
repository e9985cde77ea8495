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
The EAN study: the appearance path on FER2013 (teacher, ablations, iterative distillation).

Usage (``./fer train ean ...``)::

    ./fer train ean fit teacher --epochs 12          # teacher CNN, hard labels
    ./fer train ean fit ean_nokd --epochs 12         # EAN, hard labels (no KD)
    ./fer train ean fit ean_noatt --epochs 12        # EAN without attention
    ./fer train ean distill --teacher teacher --rounds 2 --epochs 12
    ./fer train ean report                           # study, ONNX export, model card
    ./fer train ean all --epochs 12                  # all of the above in order
    ./fer train ean time                             # seconds per batch and epoch

The runs are trained by ``fer_models.research.distill``. ``report`` reads the
finished runs, evaluates each on the FER2013 test split, CK+48 and TFEID,
measures parameters, MFLOPs, ONNX size and onnxruntime latency, exports the
student with the best *validation* accuracy to ``fer_models/models/ean.onnx``
and writes ``fer_models/reports/ean_study.{json,md}``, confusion matrices and
the model card ``fer_models/models/ean.md``. ``./fer train ean union ...`` and
``union-report`` belong to the appearance study (``studies.appearance``).
"""

import argparse
import datetime
import glob
import json
import math
import os
import re
import sys
import tempfile

from fer_models.core.crops import CROP_SIZE
from fer_models.research import protocol, render
from fer_models.research.distill import (
    accuracy, distill, fit, KINDS, load_model, predict_logits, runs_dir, teacher_checkpoint,
    time_batches)
from fer_models.research.ean import count_mflops, export_crop_model, INPUT_NORMALISATION
from fer_models.research.fer2013 import (
    FER2013_LABELS, load_ckplus48, load_fer2013, load_taiwanese)
from fer_models.research.metrics import (
    classification_report, format_report, machine, time_calls_ms)
from fer_models.research.nets import parameter_count
import numpy as np

# The appearance study's commands, listed here for --help (studies.__main__ routes them).
APPEARANCE_COMMANDS = {
    'union': 'aligned-crop student on FER2013 + TFEID + CK+48 (union and LODO runs)',
    'union-report': 'score the union and LODO runs against ean.onnx; ship on a win',
}

TRAINING_DATA = 'FER2013 train minus a 10 % stratified validation split (seed 0)'
TARGET_ACCURACY = 0.68
TARGET_PARAMETERS = 1_000_000
TARGET_LATENCY_MS = 3.0
DESCRIPTIONS = {
    'teacher': 'Teacher CNN (VGG-style, hard labels)',
    'ean_noatt': 'EAN without attention (hard labels)',
    'ean_nokd': 'EAN (attention, hard labels, no KD)',
}


def add_arguments(parser):
    """Add the report options to an argparse parser."""
    parser.add_argument('--out', default=os.path.join('fer_models', 'models', 'ean.onnx'),
                        help='ONNX path of the exported best student')
    parser.add_argument('--report-dir', default=os.path.join('fer_models', 'reports'))
    parser.add_argument('--card', default=os.path.join('fer_models', 'models', 'ean.md'))
    parser.add_argument('--crop-scale', type=float, default=1.2,
                        help='TFEID crop side / longer face-mesh box side')
    parser.add_argument('--latency-runs', type=int, default=500)
    parser.add_argument('--render-only', action='store_true',
                        help='rewrite the Markdown from the existing ean_study.json')


def variant_names():
    """Return the finished run names in report order (KD rounds last)."""
    finished = {os.path.basename(os.path.dirname(p))
                for p in glob.glob(os.path.join(runs_dir(), '*', 'result.json'))}
    rounds = sorted((n for n in finished if round_of(n)), key=round_of)
    return [n for n in ('teacher', 'ean_noatt', 'ean_nokd') if n in finished] + rounds


def round_of(name):
    """Return the distillation round of a run name (ean_kd_r<r>), else None."""
    match = re.fullmatch(r'ean_kd_r(\d+)', name)
    return int(match.group(1)) if match else None


def describe(name, result):
    """Return the readable name of a run."""
    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    return (f'EAN + KD round {round_of(name)} (T={result["temperature"]:g}, '
            f'alpha={result["alpha"]:g})')


def latency_ms(classifier, runs):
    """Return the median onnxruntime time (ms) to classify one crop."""
    crop = np.random.default_rng(0).random((1, 1, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    timings = time_calls_ms(lambda: classifier.predict(crop), runs)
    return round(float(np.median(timings)), 3), round(float(np.percentile(timings, 90)), 3)


def cross_dataset(model, crops, restrict=False):
    """Return a classification_report on a CropSet, over the labels it contains."""
    present = sorted(set(crops.targets.tolist()))
    logits = predict_logits(model, crops.images).numpy()
    if restrict:
        masked = np.full_like(logits, -np.inf)
        masked[:, present] = logits[:, present]
        logits = masked
    labels = [FER2013_LABELS[i] for i in present]
    return classification_report([FER2013_LABELS[t] for t in crops.targets],
                                 [FER2013_LABELS[p] for p in logits.argmax(axis=1)], labels)


def evaluate_variant(name, data, ckplus, taiwanese, report_dir, latency_runs):
    """Return the study row of one finished run (and write its confusion PNG)."""
    with open(os.path.join(runs_dir(), name, 'result.json')) as handle:
        result = json.load(handle)
    model, _ = load_model(os.path.join(runs_dir(), name, 'best.pt'))
    test = data[2]
    predictions = predict_logits(model, test.images).argmax(dim=1).numpy()
    truth = [FER2013_LABELS[t] for t in test.targets]
    report = classification_report(truth, [FER2013_LABELS[p] for p in predictions],
                                   FER2013_LABELS)
    render.confusion_figure(
        report, os.path.join(report_dir, f'ean_confusion_{name}.png'),
        f"{describe(name, result)}\nFER2013 test accuracy {report['accuracy']}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f'{name}.onnx')
        classifier = export_crop_model(model, path, model_name=name)
        onnx_bytes = os.path.getsize(path)
        median_ms, p90_ms = latency_ms(classifier, latency_runs)
    return {
        'name': name, 'description': describe(name, result), 'kind': result['kind'],
        'round': round_of(name), 'teacher': result.get('teacher'),
        'temperature': result.get('temperature'), 'alpha': result.get('alpha'),
        'epochs': result['epochs'], 'best_epoch': result['best_epoch'],
        'validation_accuracy': round(accuracy(model, data[1]), 4),
        'test_accuracy': report['accuracy'], 'test_macro_f1': report['macro_f1'],
        'test_report': report, 'parameters': parameter_count(model),
        'mflops': count_mflops(model), 'onnx_kb': round(onnx_bytes / 1024, 1),
        'onnx_ms_per_crop_1_thread': median_ms, 'onnx_ms_per_crop_1_thread_p90': p90_ms,
        'seconds_per_epoch': result['seconds_per_epoch'],
        'train_threads': result.get('threads', 1), 'history': result['history'],
        'ckplus48_6class': cross_dataset(model, ckplus)['accuracy'],
        'ckplus48_6class_restricted': cross_dataset(model, ckplus, True)['accuracy'],
        'taiwanese_7class': cross_dataset(model, taiwanese)['accuracy'],
    }


def write_study(options, data):
    """Evaluate all finished runs, export the best student, write the reports."""
    if getattr(options, 'render_only', False):
        study = render.read_json(os.path.join(options.report_dir, 'ean_study.json'))
        write_markdown(study, options)
        return study
    names = variant_names()
    if not names:
        raise SystemExit(f'no finished runs in {runs_dir()}: train first (./fer train ean all)')
    os.makedirs(options.report_dir, exist_ok=True)
    ckplus = load_ckplus48()
    taiwanese, taiwanese_images = load_taiwanese(scale=options.crop_scale)
    rows = [evaluate_variant(n, data, ckplus, taiwanese, options.report_dir,
                             options.latency_runs) for n in names]
    students = [r for r in rows if r['kind'] == 'ean']
    best = max(students, key=lambda r: r['validation_accuracy'])
    model, _ = load_model(os.path.join(runs_dir(), best['name'], 'best.pt'))
    exported = export_crop_model(
        model, options.out, model_name='ean',
        extra_metadata={'training_data': TRAINING_DATA,
                        'run': best['name'], 'validation_accuracy': best['validation_accuracy'],
                        'fer2013_test_accuracy': best['test_accuracy'],
                        'crop': f'square, side {options.crop_scale:g} x the longer side of '
                                'the MediaPipe face-mesh box, centred, grayscale, 48x48 '
                                '(fer_models.core.crops.square_crop)'})
    crops = {'ckplus48_6class': cross_dataset(model, ckplus),
             'ckplus48_6class_restricted': cross_dataset(model, ckplus, True),
             'taiwanese_7class': cross_dataset(model, taiwanese)}
    for key, report in crops.items():
        render.confusion_figure(
            report, os.path.join(options.report_dir, f'ean_confusion_{key}.png'),
            f"shipped EAN ({best['name']}) on {key}: accuracy {report['accuracy']}")
    median_ms, p90_ms = latency_ms(exported, options.latency_runs)
    study = {
        'date': datetime.date.today().isoformat(), 'machine': machine(),
        'data': {'fer2013_train': int(len(data[0].targets)),
                 'fer2013_validation': int(len(data[1].targets)),
                 'fer2013_test': int(len(data[2].targets)),
                 'ckplus48_crops_6_classes': int(len(ckplus.targets)),
                 'taiwanese_images': taiwanese_images,
                 'taiwanese_faces_found': int(len(taiwanese.targets)),
                 'taiwanese_crop_scale': options.crop_scale},
        'targets': {'fer2013_test_accuracy': TARGET_ACCURACY, 'parameters': TARGET_PARAMETERS,
                    'ms_per_crop': TARGET_LATENCY_MS},
        'variants': rows,
        'shipped': {'run': best['name'], 'path': options.out,
                    'onnx_kb': round(os.path.getsize(options.out) / 1024, 1),
                    'onnx_ms_per_crop_1_thread': median_ms,
                    'onnx_ms_per_crop_1_thread_p90': p90_ms,
                    'cross_dataset': crops},
    }
    render.write_json(os.path.join(options.report_dir, 'ean_study.json'), study)
    write_markdown(study, options)
    for row in rows:
        print(f"{row['description']}: test {row['test_accuracy']:.4f} (validation "
              f"{row['validation_accuracy']:.4f}), {row['parameters']} parameters, "
              f"{row['mflops']} MFLOPs, {row['onnx_kb']} KB, "
              f"{row['onnx_ms_per_crop_1_thread']} ms/crop")
    print(format_report(best['test_report']))
    print(f"shipped {best['name']} to {options.out}; reports in {options.report_dir}")
    return study


def epochs_summary(rows):
    """Return 'teacher 1 epoch, students 2 epochs'-style text of the runs' epochs."""
    teacher = [r['epochs'] for r in rows if r['kind'] == 'teacher']
    students = sorted({r['epochs'] for r in rows if r['kind'] != 'teacher'})
    parts = [f'teacher {teacher[0]} epoch(s)'] if teacher else []
    parts.append('students ' + '/'.join(str(e) for e in students) + ' epoch(s)')
    return ', '.join(parts)


def training_hours(rows):
    """Return the summed wall-clock hours of every epoch of every run."""
    return sum(h['seconds'] for r in rows for h in r['history']) / 3600


def convergence_summary(rows):
    """Return a sentence on which runs were still improving at their last epoch."""
    rising = [r['name'] for r in rows if r['best_epoch'] == r['epochs']]
    if len(rising) == len(rows):
        return ('Every run had its best validation accuracy at its last epoch: none has '
                'converged.')
    if not rising:
        return 'Every run peaked before its last epoch.'
    return ('Best validation accuracy at the last epoch (still improving): '
            + ', '.join(rising) + '.')


def write_markdown(study, options):
    """Write ean_study.md and the model card from a study dict."""
    best = next(r for r in study['variants'] if r['name'] == study['shipped']['run'])
    render.write_text(os.path.join(options.report_dir, 'ean_study.md'), study_markdown(study))
    render.write_text(options.card, model_card(study, best))


percent = render.percent


def table(rows):
    """Return the headline Markdown table."""
    return '\n'.join(render.table(
        ['variant', 'FER2013 test acc.', 'macro-F1', 'val. acc.', 'epochs (best)', 'params',
         'MFLOPs', 'ONNX KB', 'ms/crop (1 thr.)', 's/epoch (train thr.)', 'CK+48 6-cl.',
         'TFEID 7-cl.'], 'l' + 'r' * 11,
        [(r['description'], percent(r['test_accuracy']), f"{r['test_macro_f1']:.3f}",
          percent(r['validation_accuracy']), f"{r['epochs']} ({r['best_epoch']})",
          f"{r['parameters']:,}", r['mflops'], r['onnx_kb'], r['onnx_ms_per_crop_1_thread'],
          f"{r['seconds_per_epoch']:.0f} ({r['train_threads']})", percent(r['ckplus48_6class']),
          percent(r['taiwanese_7class'])) for r in rows]))


def headline_section(study):
    """Return the title, the headline table and the targets of the EAN study."""
    rows, shipped = study['variants'], study['shipped']
    best = next(r for r in rows if r['name'] == shipped['run'])
    gap = TARGET_ACCURACY - best['test_accuracy']
    return [
        '# EAN study: appearance path on FER2013 (seed: Kong et al. 2022)',
        '',
        f"Generated by `./fer train ean report` on {study['date']} from the runs of "
        '`./fer train ean ...` (fer_models/fer_models/research/distill.py, ean.py, '
        'studies/ean.py); raw numbers, per-class scores and training curves: '
        '`ean_study.json`.',
        '',
        '## Headline',
        '',
        table(rows),
        '',
        f"Shipped model: `{shipped['path']}` = run `{shipped['run']}` (of the EAN students "
        'with attention, the one with the best validation accuracy; the test split was never '
        'used for selection): '
        f"{percent(best['test_accuracy'])} FER2013 test, {best['parameters']:,} parameters, "
        f"{best['mflops']} MFLOPs, {shipped['onnx_kb']} KB, "
        f"{shipped['onnx_ms_per_crop_1_thread']} ms per crop median "
        f"(p90 {shipped['onnx_ms_per_crop_1_thread_p90']} ms), onnxruntime, 1 thread.",
        '',
        '## Against the targets (DESIGN.md section 7)',
        '',
        f"- accuracy ≥ {percent(TARGET_ACCURACY)}: **{percent(best['test_accuracy'])}** — "
        + ('met.' if gap <= 0 else f'missed by {100 * gap:.1f} percentage points.'),
        f"- parameters ≤ 1 M: {best['parameters']:,} — "
        + ('met.' if best['parameters'] <= TARGET_PARAMETERS else 'missed.'),
        f"- ≤ 3 ms per crop: {shipped['onnx_ms_per_crop_1_thread']} ms — "
        + ('met.' if shipped['onnx_ms_per_crop_1_thread'] <= TARGET_LATENCY_MS else 'missed.'),
        '',
    ]


def setup_section(study):
    """Return the setup section: data, input, augmentation, networks, machine, budget."""
    rows, data, m = study['variants'], study['data'], study['machine']
    return [
        '## Setup',
        '',
        '- Data: FER2013 (`fer2013.npz`), official train split minus a stratified 10 % '
        f"validation split (seed 0): {data['fer2013_train']} train, "
        f"{data['fer2013_validation']} validation; test = the official "
        f"{data['fer2013_test']}-image test split, evaluated once per finished run.",
        '- Input: 48×48 grayscale, pixel / 255; the network standardises with the training '
        'mean/std (buffers in the graph).',
        '- Augmentation: horizontal flip (p = 0.5), rotation ±10°, scale ±10 %, shift ±8 % '
        '(one batched affine warp, border padding).',
        '- Optimiser: AdamW, peak learning rate 3e-3, weight decay 5e-4, batch 128, linear '
        'warm-up over 10 % of the steps (at most one epoch), then cosine decay to zero; the '
        'checkpoint with the best validation accuracy is kept.',
        '- EAN: stride-2 3×3 stem (32 channels, 48→24 px), six depthwise-separable blocks '
        '(64, 128/2, 128, 256/2, 256, 512), each followed by local channel attention (global '
        'average pool → 1-D conv over channels, k = |log2(C)/2 + 1/2| made odd, i.e. 3 or 5 → '
        'sigmoid gate), residual where shapes allow, global average pool, dropout 0.2, linear.',
        '- Teacher: VGG-style CNN from scratch: stride-2 stem (32), 3×3 convs 64-64 | pool | '
        '128-128 | pool | 256, global average pool, dropout 0.4, linear.',
        '- Knowledge distillation: loss = α·CE(hard) + (1−α)·T²·KL(softmax(teacher/T) ‖ '
        'softmax(student/T)). Iterative: round r uses the best checkpoint of round r − 1 as '
        'teacher (round 1: the teacher CNN). Teacher logits are computed once per round on '
        'the un-augmented crops and reused for their flipped/jittered versions (a CPU budget '
        'choice: it makes a KD epoch as cheap as a plain one; the teacher was trained with '
        'the same augmentation).',
        f"- Machine: {m['cpu']}, {m['cores']} cores, no GPU, Python {m['python']}, torch "
        f"{m['torch']}, onnxruntime {m['onnxruntime']}. Seconds per epoch are wall-clock "
        'with the torch threads shown in the table; runs shared the two cores with each '
        'other or with other work, so they are not comparable across rows '
        '(`./fer train ean time` measures the cost on the machine at hand). Load '
        f"average while this report was made: {m['load_average_at_report']}.",
        f'- Epoch budget: {epochs_summary(rows)}, {training_hours(rows):.1f} h of training '
        'wall-clock in all on two CPU cores. All students (ablations and KD rounds) get the '
        'same number of epochs so they compare like with like. '
        + convergence_summary(rows),
        '',
    ]


def ablations_section(rows):
    """Return the ablations section: attention, distillation rounds, the teacher."""
    by_name = {r['name']: r for r in rows}
    rounds = [r for r in rows if r['round']]
    lines = ['## Ablations', '']
    if 'ean_nokd' in by_name and 'ean_noatt' in by_name:
        delta = by_name['ean_nokd']['test_accuracy'] - by_name['ean_noatt']['test_accuracy']
        extra = by_name['ean_nokd']['parameters'] - by_name['ean_noatt']['parameters']
        lines.append(f'- Attention (both without KD): {delta * 100:+.1f} points on FER2013 '
                     f'test for {extra} extra parameters.')
    if 'ean_nokd' in by_name and rounds:
        delta = rounds[0]['test_accuracy'] - by_name['ean_nokd']['test_accuracy']
        lines.append(f'- Knowledge distillation, round 1 vs no KD: {delta * 100:+.1f} points.')
    for previous, current in zip(rounds, rounds[1:]):
        delta = current['test_accuracy'] - previous['test_accuracy']
        lines.append(f"- Round {current['round']} vs round {previous['round']} (the round "
                     f"{previous['round']} student as teacher): {delta * 100:+.1f} points.")
    if 'teacher' in by_name and rounds:
        lines.append(f"- Teacher {percent(by_name['teacher']['test_accuracy'])} vs final student "
                     f"{percent(rounds[-1]['test_accuracy'])}.")
        best_round = max(rounds, key=lambda r: r['validation_accuracy'])
        if len(rounds) > 1 and best_round is rounds[0]:
            lines.append(
                '- Iteration did not pay off at this budget: round 1 has the best validation '
                'accuracy; from round 2 on the teacher is the previous student '
                f"({percent(rounds[0]['validation_accuracy'])} validation), weaker than the "
                f"teacher CNN ({percent(by_name['teacher']['validation_accuracy'])}), so later "
                'rounds distil from a weaker model.')
        students = [r['validation_accuracy'] for r in rows if r['kind'] != 'teacher']
        if by_name['teacher']['validation_accuracy'] < min(students):
            lines.append(
                f"- The teacher ({by_name['teacher']['epochs']} epoch(s)) is weaker than every "
                'student, so round 1 distils from a worse model: this study shows that the '
                'machinery works, not what KD adds with a proper teacher. Round 2 (teacher = '
                'the round-1 student) is the first round with a competent teacher.')
    return lines + [
        '- Differences of about 1 point are within run-to-run noise for runs this short '
        '(one seed each); treat them as indications, not findings.',
        '',
    ]


def cross_dataset_section(study, best):
    """Return the cross-dataset section and the shipped model's FER2013 test report."""
    data, cross = study['data'], study['shipped']['cross_dataset']
    return [
        '## Cross-dataset (shipped model, no fine-tuning)',
        '',
        f"- CK+48: {data['ckplus48_crops_6_classes']} crops of the 6 classes shared with "
        'FER2013 (contempt has no FER2013 class and is left out; CK+48 has no neutral), used '
        'as they are (already 48×48 face crops). Accuracy with the plain 7-way argmax '
        f"(a `neutral` answer counts as wrong): {percent(cross['ckplus48_6class']['accuracy'])}"
        '; argmax over the 6 present classes only: '
        f"{percent(cross['ckplus48_6class_restricted']['accuracy'])}.",
        f"- TFEID: the 256×256 colour images go through the pipeline's own detector "
        '(MediaPipe Face Mesh, `fer_models.core.landmarks.FaceMeshDetector`, static mode); the '
        f"square crop is {data['taiwanese_crop_scale']:g}× the longer side of the landmark box, "
        'converted to grayscale and resized to 48×48 (`fer_models.core.crops.square_crop`, the '
        'same function a node would use). Faces found in '
        f"{data['taiwanese_faces_found']} of {data['taiwanese_images']} images; 7-class "
        f"accuracy on them: {percent(cross['taiwanese_7class']['accuracy'])}.",
        '- Confusion matrices: `ean_confusion_ckplus48_6class.png`, '
        '`ean_confusion_taiwanese_7class.png`; per variant on FER2013 test: '
        '`ean_confusion_<run>.png`.',
        '',
        '## Shipped model on FER2013 test',
        '',
        '```',
        format_report(best['test_report']),
        '```',
        '',
    ]


def gap_section(best):
    """Return what it would take to reach the accuracy target."""
    gap = TARGET_ACCURACY - best['test_accuracy']
    lines = ['## What it would take to reach the target', '']
    if gap > 0:
        lines += [
            f'The best student is {100 * gap:.1f} points short of 68 %. The main cause is the '
            'training budget, not the model size: published FER2013 results of ≥ 68 % with small '
            'CNNs typically train for 100 epochs or more, these runs had '
            f"{best['epochs']} epochs and "
            + ('the validation accuracy was still rising at the last epoch'
               if best['best_epoch'] == best['epochs'] else
               f"the validation accuracy peaked at epoch {best['best_epoch']}")
            + ' (see `history` in the JSON). In order of expected gain:',
            '',
            '1. Train longer: resume with more epochs (the commands below continue from the '
            'cached checkpoints). `./fer train ean time` estimates seconds per epoch on the '
            'machine at hand; budget the teacher first, it is the bottleneck of the chain.',
            '2. A stronger teacher (e.g. wider/deeper VGG or ResNet-18 on 48×48 for 60+ '
            'epochs, about 72–73 % on FER2013 in the literature) before distilling; a weak '
            'teacher limits what KD can add.',
            '3. Ten-crop/flip test-time augmentation is worth about 1–2 points on FER2013 but '
            'multiplies the per-crop latency, so it is not used here.',
            '4. A full-resolution first stage (stride-1 stem) was dropped to fit the CPU '
            'budget; on a faster machine it usually adds a point or two on 48×48 inputs.',
        ]
    else:
        lines.append('The target is met.')
    return lines


def rerun_section():
    """Return the commands that re-run the study, and its references."""
    return [
        '',
        '## Re-running',
        '',
        '```',
        './fer train ean all --epochs N    # teacher, ablations, KD rounds, then this report',
        './fer train ean report            # only this report and the export',
        '```',
        '',
        'Runs resume from `~/.cache/fer_ros/ean/runs/<run>/last.pt`; a finished run is '
        'skipped unless its folder is deleted (or `--epochs` changes, which continues the '
        'run to the new epoch count).',
        '',
        '## References',
        '',
        '- Kong, Y. et al. (2022). Efficient attention network (EAN) for facial expression '
        'recognition with knowledge distillation. IET Image Processing 16(6).',
        '- Wang, Q. et al. (2020). ECA-Net: Efficient channel attention for deep '
        'convolutional neural networks. CVPR.',
        '- Hinton, G., Vinyals, O., Dean, J. (2015). Distilling the knowledge in a neural '
        'network. arXiv:1503.02531.',
        *render.bullets(render.DATASET_REFERENCES.values()),
        '',
    ]


def study_markdown(study):
    """Return the study report as Markdown (every number from ean_study.json)."""
    best = next(r for r in study['variants'] if r['name'] == study['shipped']['run'])
    return '\n'.join(headline_section(study) + setup_section(study)
                     + ablations_section(study['variants'])
                     + cross_dataset_section(study, best) + gap_section(best) + rerun_section())


def model_card(study, best):
    """Return the model card of the shipped EAN as Markdown."""
    shipped = study['shipped']
    cross = shipped['cross_dataset']
    per_class = best['test_report']['per_class']
    recalls = ', '.join(f"{label} {percent(per_class[label]['recall'])}"
                        for label in FER2013_LABELS)
    weakest = ', '.join(f"{label} {percent(per_class[label]['recall'])}" for label in sorted(
        FER2013_LABELS, key=lambda label: per_class[label]['recall'])[:2])
    return '\n'.join([
        '# Model card: ean.onnx (appearance path)',
        '',
        '## What it is',
        '',
        f"A {best['parameters']:,}-parameter convolutional network (EAN: depthwise-separable "
        'blocks with local channel attention, after Kong et al. 2022) that classifies a 48×48 '
        'grayscale face crop into 7 expressions: '
        f"{', '.join(FER2013_LABELS)} (output order). Trained run: `{shipped['run']}` "
        f"({best['description']}). Produced by `./fer train ean report`; full study in "
        '`fer_models/reports/ean_study.md`.',
        '',
        '## Input and output',
        '',
        f'- Input `crops`: float32 (N, 1, 48, 48): {INPUT_NORMALISATION}.',
        '- Crop: square, centred on the MediaPipe face-mesh box, side '
        f"{study['data']['taiwanese_crop_scale']:g}× its longer side "
        '(`fer_models.core.crops.square_crop`; `CropClassifier.classify_face(rgb, bbox)` does '
        'it all).',
        '- Output `probabilities`: float32 (N, 7), softmax in the graph.',
        '- Metadata (`fer.*`): model_name, labels, input, input_shape, input_normalisation, '
        'crop, training data, validation and test accuracy.',
        f"- Size {shipped['onnx_kb']} KB; {best['mflops']} MFLOPs; "
        f"{shipped['onnx_ms_per_crop_1_thread']} ms per crop (onnxruntime, 1 thread, median, "
        f"{study['machine']['cpu']}).",
        '',
        '## Training data and evaluation',
        '',
        '- FER2013 train minus a stratified 10 % validation split (seed 0): '
        f"{study['data']['fer2013_train']} images; model selection on the validation split "
        f"({study['data']['fer2013_validation']} images) only.",
        '- FER2013 test (7178 images, never used for any choice): accuracy '
        f"{percent(best['test_accuracy'])}, macro-F1 {best['test_macro_f1']:.3f}. "
        f'Recall per class: {recalls}.',
        '- Cross-dataset, no fine-tuning: CK+48 (6 classes shared with FER2013, posed, '
        f"near-apex) {percent(cross['ckplus48_6class']['accuracy'])} "
        f"({percent(cross['ckplus48_6class_restricted']['accuracy'])} when the argmax is "
        'limited to those 6 classes); TFEID (posed, Taiwanese performers, 7 classes, crops '
        f"made with the pipeline's face-mesh detector) "
        f"{percent(cross['taiwanese_7class']['accuracy'])}.",
        '- The design target (≥ 68 % on FER2013 test) is '
        + ('met.' if best['test_accuracy'] >= TARGET_ACCURACY else
           f"**not met** ({percent(best['test_accuracy'])}): the model was trained for only "
           f"{best['epochs']} epochs on a shared 2-core CPU; see the study for what remains."),
        '',
        '## Intended use',
        '',
        '- Research and prototyping of social-robot behaviour: an on-board, optional '
        'appearance cue that complements the landmark path, run inside the landmark node so '
        'that pixels never leave it.',
        '- Aggregate over time (smoothing, confidence threshold → `unknown`) before acting on '
        'it; a single-frame answer is often wrong.',
        '',
        '## Limits',
        '',
        f"- Accuracy is low: {percent(1 - best['test_accuracy'])} of FER2013 test crops are "
        'misclassified, and it drops further on other datasets (domain shift in pose, '
        'lighting, age, ethnicity, image quality). Weakest classes (recall): '
        f'{weakest}.',
        '- Trained on near-frontal, 48×48 low-resolution crops; profile views, occlusion '
        '(masks, hands), strong lighting and small faces degrade it. It assumes a face crop '
        'made like `square_crop` (other framings shift the input distribution).',
        '- Single-label, 7 basic categories: blends, subtle or culture-specific displays '
        'and contempt are not represented.',
        '',
        '## Ethical considerations',
        '',
        '- The model reads **displayed facial configurations**, not inner feelings: a smile '
        'is not proof of happiness, and a neutral face is not proof of calm. Do not use its '
        'output to infer emotions, intentions, honesty, mental health or personality, nor '
        'for decisions about people (hiring, policing, education, insurance, access).',
        '- FER2013 was collected by web image search and labelled quickly by crowd workers: '
        'labels are noisy (Goodfellow et al. estimate human accuracy at about 65 %), and web '
        'image search results are reported to skew towards adult, lighter-skinned faces. '
        'Expect unequal error rates across age, gender, skin tone and culture; '
        'these have not been measured here and should be before any deployment with real '
        'users.',
        '- People should know when a robot analyses their face. The pipeline runs on the '
        'robot, writes nothing to disk by default and publishes only labels, never images.',
        '',
        '## Data licences',
        '',
        'FER2013 (Goodfellow et al. 2013, ICML 2013 workshop challenge), CK+ (Lucey et al. '
        '2010) and TFEID (Chen & Yen 2007) are third-party research datasets used here for '
        'training/evaluation on this machine only; they are not redistributed with this '
        'repository.',
        '',
    ])


def main(argv=None):
    """Command line of ``./fer train ean``."""
    parser = argparse.ArgumentParser(prog='fer train ean',
                                     description='Appearance path (EAN) training.')
    protocol.add_run_options(parser)
    commands = parser.add_subparsers(dest='command', required=True)
    fit_parser = commands.add_parser('fit', help='train one model on hard labels')
    fit_parser.add_argument('name', choices=sorted(KINDS))
    distill_parser = commands.add_parser('distill', help='iterative teacher-student rounds')
    distill_parser.add_argument('--teacher', default='teacher',
                                help='run name or checkpoint of the first teacher')
    distill_parser.add_argument('--rounds', type=int, default=2)
    all_parser = commands.add_parser('all', help='teacher, ablations, distillation, report')
    all_parser.add_argument('--rounds', type=int, default=2)
    for sub in (fit_parser, distill_parser, all_parser):
        sub.add_argument('--epochs', type=int, default=12)
        sub.add_argument('--batch-size', type=int, default=128)
        sub.add_argument('--lr', type=float, default=3e-3, help='peak learning rate (AdamW)')
    for sub in (distill_parser, all_parser):
        sub.add_argument('--temperature', type=float, default=4.0)
        sub.add_argument('--alpha', type=float, default=0.5, help='weight of the hard-label CE')
    for name, text in APPEARANCE_COMMANDS.items():
        commands.add_parser(name, help=f'{text} (./fer train ean {name} --help)')
    time_parser = commands.add_parser('time', help='seconds per batch and epoch estimate')
    time_parser.add_argument('--batches', type=int, default=10)
    add_arguments(commands.add_parser('report', help='study report, ONNX export'))
    options = parser.parse_args(argv)
    if options.command in APPEARANCE_COMMANDS:
        parser.error(f"{options.command} is the appearance study's: run it as ./fer train ean "
                     f'{options.command} (python -m fer_models.research.studies.appearance)')
    import torch

    torch.set_num_threads(options.threads)
    data = load_fer2013(options.validation_share, options.seed)
    if options.command == 'time':
        for kind in ('teacher', 'ean', 'ean_noatt'):
            seconds = time_batches(kind, data, options.batches)
            batches = math.ceil(len(data[0].targets) / 128)
            print(f'{kind}: {1e3 * seconds:.0f} ms per batch of 128, about '
                  f'{seconds * batches:.0f} s per epoch ({batches} batches, '
                  f'{options.threads} thread(s))')
        return 0
    if options.command == 'report':
        write_study(options, data)
        return 0
    common = {'batch_size': options.batch_size, 'peak_lr': options.lr, 'seed': options.seed}
    if options.command == 'fit':
        fit(options.name, KINDS[options.name], data, options.epochs, **common)
    elif options.command == 'distill':
        distill(data, teacher_checkpoint(options.teacher), options.rounds, options.epochs,
                options.temperature, options.alpha, **common)
    else:
        for name in ('teacher', 'ean_nokd', 'ean_noatt'):
            fit(name, KINDS[name], data, options.epochs, **common)
        distill(data, teacher_checkpoint('teacher'), options.rounds, options.epochs,
                options.temperature, options.alpha, **common)
        write_study(parser.parse_args(['report']), data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
