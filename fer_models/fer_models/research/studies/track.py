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
The robot's view: how often the live pipeline is right over a held-out person's face track.

Renders ``fer_models/reports/track_protocol.md`` from the JSON that
``fer_ros.tools.track_protocol`` writes (the replays need the ROS nodes, so
this study only renders; a study never imports a tool). The protocol, sets,
orders, arms and scores are ``fer_models.research.track_protocol``'s.

Usage: ./fer train track render [--json IN] [--markdown OUT]
       (replays: ./fer run python -m fer_ros.tools.track_protocol --help)
"""

import argparse
import json
import os
import sys

from fer_models.research import render
from fer_models.research.protocol import LABELS, selection_outcome, TIE_POINTS
from fer_models.research.track_protocol import (
    arm_accuracies, ARMS, CRITERION_SET, DEFAULT_JSON, NEUTRAL_FIRST, SETS, SHIPPED,
    track_criterion)

DEFAULT_JSON_NAME = os.path.basename(DEFAULT_JSON)

DEFAULT_MARKDOWN = os.path.join('fer_models', 'reports', 'track_protocol.md')
TOOL = './fer run python -m fer_ros.tools.track_protocol'
percent = render.percent


def frames_text(value):
    """Return a number of frames, or an em dash."""
    return '—' if value is None else f'{value:g}'


def arm_rows(orders):
    """Return the table rows of one set: one per order and arm."""
    rows = []
    for order, entry in orders.items():
        for arm, result in entry['arms'].items():
            if 'unavailable' in result:
                rows.append([order, arm, f"not run: {result['unavailable']}"] + [''] * 9)
                continue
            scores = result['scores']
            changes = scores['frames_to_right']
            paired = result.get('paired_vs_shipped')
            rows.append([
                order, f'**{arm}**' if arm == SHIPPED else arm, appearance_state(result),
                percent(scores['accuracy']),
                f"{scores['macro_f1']:.3f}", frames_text(changes['median']),
                frames_text(changes['mean']), percent(changes['never']),
                percent(scores['no_answer']), percent(scores['unknown']),
                '' if not paired or paired['accuracy_difference'] is None else
                f"{render.points(paired['accuracy_difference'])} ({paired['frames']})",
                f"{scores['frames']} / {changes['changes']}"])
    return render.table(['order', 'arm', 'appearance model', 'frame accuracy', 'macro-F1',
                         'frames to right, median', 'mean', 'change never right', 'no answer',
                         'unknown', 'vs shipped, paired (frames)', 'frames / changes'],
                        'lll' + 'r' * 9, rows)


def appearance_state(result):
    """Return which appearance model an arm ran: its run's status and epochs, or none."""
    if 'appearance' not in result:
        return 'see models'
    used = result['appearance']
    if not used:
        return 'none'
    if 'epochs' in used:
        return f"{used['status']}, {used['epochs']} epochs"
    return f"`{used.get('model_name')}`"


def recall_rows(orders):
    """Return per-class recall of each order's arms (the classes present in the set)."""
    labels = [label for label in LABELS if any(
        label in result['scores']['recall'] for entry in orders.values()
        for result in entry['arms'].values() if 'scores' in result)]
    rows = [[order, arm, *(render.percent(result['scores']['recall'].get(label), missing='—')
                           for label in labels)]
            for order, entry in orders.items() for arm, result in entry['arms'].items()
            if 'scores' in result]
    return render.table(['order', 'arm', *labels], 'll' + 'r' * len(labels), rows)


def landmark_text(facts):
    """Return a landmark model's description: name, recipe, epoch, temperature, data."""
    details = [facts[key] if key != 'best_epoch' else f'epoch {facts[key]}'
               for key in ('recipe', 'best_epoch', 'training_data', 'source') if key in facts]
    if 'temperature' in facts:
        details.append(f"T={facts['temperature']}")
    if 'still_accuracy' in facts:
        details.append(f"{percent(facts['still_accuracy'])} on the held-out set's stills, "
                       'as in the generalisation study')
    return f"`{facts.get('model_name')}` ({', '.join(details)})"


def model_lines(models):
    """Return bullets describing a set's held-out models (one set of facts per distinct model)."""
    lines = []

    def kind(described):
        return {role: facts and {k: v for k, v in facts.items()
                                 if k not in ('model_name', 'training_data')}
                for role, facts in described.items()}

    # Folds whose models differ only by name and by how many persons they saw: one line.
    if len(models) > 1 and all(kind(m) == kind(models[0]) for m in models):
        models = models[:1]
        folds_prefix = 'every fold (its own models, trained without its persons), e.g. '
    else:
        folds_prefix = None
    for index, described in enumerate(models):
        prefix = folds_prefix or (f'fold {index + 1}: ' if len(models) > 1 else '')
        parts = [f"landmark {landmark_text(described['landmark'])}"]
        neutral = described.get('landmark_neutral')
        parts.append('relative landmark model ' + (
            landmark_text(neutral) if neutral else
            'none (no training dataset of this split has per-person neutral images)'))
        appearance = described.get('appearance')
        if not appearance:
            parts.append('appearance: none (landmark path only)')
        elif 'epochs' in appearance:
            parts.append(f"appearance: run `{appearance['name']}` ({appearance['status']}, "
                         f"{appearance['epochs']} epochs, validation "
                         f"{percent(appearance['validation_accuracy'])}"
                         + (f", logits divided by the temperature {appearance['temperature']:g}"
                            if 'temperature' in appearance else '') + ')')
        else:
            parts.append(f"appearance `{appearance['model_name']}` ({appearance['source']})")
        resting = described.get('appearance_resting')
        if resting:
            parts.append('its resting correction for `neutral_baseline: auto` arms: '
                         f"{resting['typical_from']}, strength {resting['strength']:g} "
                         f"({resting['strength_from']})")
        lines.append(prefix + '; '.join(parts))
    return render.bullets(lines)


def set_section(name, entry):
    """Return the section of one set."""
    limits = entry['limits']
    description = entry['description']
    lines = [f"{description[0].upper()}{description[1:]}. {entry['persons']} persons"
             + (f" (limited: the first {limits['persons'] or 'all'} persons, the first "
                f"{limits['stills'] or 'all'} stills of each)" if any(limits.values()) else '')
             + f"; models: {entry['models_source']}.", '']
    lines += model_lines(entry.get('models', []))
    if name.startswith('ckplus48'):
        lines += ['', 'CK+48 has no neutral images (its stills are the last, near-apex frames '
                  'of posed sequences). A baseline (`neutral_baseline: auto`) would collect its '
                  "resting face from the track's first low-motion frames, which here are "
                  'expressions: every later frame would be read relative to an expression, '
                  'not to rest. So the set is played shuffled only, and a baseline arm here '
                  'measures how much a baseline hurts a track that never starts neutral, not '
                  'what it gains.']
    orders = entry.get('orders', {})
    lines += ['', *arm_rows(orders), '', 'Recall per class (every labelled frame):', '',
              *recall_rows(orders), '']
    return render.section(f'`{name}`', lines, level=3)


# Arms that differ only by neutral_baseline (off, auto): what the baseline buys.
BASELINE_PAIRS = (('both paths (late fusion)', SHIPPED, 'baseline-auto'),
                  ('landmark path', 'fusion-landmark', 'fusion-landmark-baseline-auto'))


def baseline_rows(sets):
    """Return the rows of the per-person baseline's gain, for every set and order measured."""
    rows = []
    for name, entry in sets.items():
        for order, arms in entry.get('orders', {}).items():
            for path, off, auto in BASELINE_PAIRS:
                entries = [arms['arms'].get(arm, {}) for arm in (off, auto)]
                if not all('scores' in e for e in entries):
                    continue
                accuracies = [e['scores']['accuracy'] for e in entries]
                if comparable(*entries):
                    gain, note = accuracies[1] - accuracies[0], ''
                elif off == SHIPPED and entries[1].get('paired_vs_shipped'):
                    # Replayed with another checkpoint of a training run than the
                    # shipped row now shows: its pairing with its own shipped replay.
                    gain = entries[1]['paired_vs_shipped']['accuracy_difference']
                    accuracies[0], note = None, ' (paired with its own shipped replay)'
                else:
                    continue
                rows.append([f'`{name}`', order, path, render.percent(accuracies[0], '—'),
                             percent(accuracies[1]), f'**{render.points(gain)}**{note}'])
    return rows


def comparable(entry, other):
    """Return True when two arms ran the same appearance model, or one ran none."""
    used = [e.get('appearance') for e in (entry, other)]
    return None in used or used[0] == used[1]


# Where a synthetic, stills-based track cannot judge a setting, and the decision taken.
LIMITS = [
    '**Smoothing**: a still is held unchanged for 12 frames, so a synthetic track has no '
    'frame-to-frame noise for smoothing to remove and measures only its lag; `smoothing-none` '
    'scoring higher here is expected and is not evidence for video. The shipped EMA stays until '
    'a protocol on real video (with the noise of a moving face) can weigh lag against flicker.',
]


def criterion_section(result):
    """Return the section defining the second selection criterion and its current values."""
    still = result.get('still_image_criterion')
    track = track_criterion(result)
    lines = [
        "Two criteria select the pipeline's defaults, read side by side:", '',
        *render.bullets([
            '**Still images: the strict leave-one-dataset-out mean** (generalisation report). '
            'It decides anything that changes the answer to a single still: the models, the '
            'fusion mode and its weight.',
            f'**Tracks: the frame accuracy on `{CRITERION_SET}`, neutral-first and shuffled '
            'weighted alike** (this report, shipped defaults with held-out models). It decides '
            'settings that act only over time (the baseline mode and its resting-frame choice, '
            'smoothing), provided the still-image answers do not change (a still has no '
            'history, so such a setting must leave the still-image criterion as it is). For '
            'anything else it breaks ties: a difference of the still-image mean within '
            f'retraining noise ({TIE_POINTS} points) goes to the track criterion.',
            'Where a setting needs a model that only TFEID can train (the relative landmark '
            f'model of `neutral_baseline: auto`), `{CRITERION_SET}` cannot run it: '
            '`tfeid-person` (in-dataset by person) stands in, and the report says so.']), '',
        'Now: still-image strict LODO mean '
        + (f"{percent(still['strict_lodo_mean'])} (LODO TFEID {percent(still['lodo_tfeid'])}, "
           f"`{still['fusion']}` fusion, snapshot of generalisation.json at the replay)"
           if still else 'not available')
        + '; track criterion of the shipped defaults '
        + (f'**{percent(track)}**' if track is not None else 'not measured yet') + '.']
    rows = criterion_rows(result.get('sets', {}))
    if rows:
        lines += ['', 'The track criterion of every arm measured in both orders (`tfeid-person`: '
                  'the in-dataset stand-in):', '',
                  *render.table(['set', 'arm', 'neutral-first', 'shuffled', '**mean**',
                                 'vs shipped'], 'llrrrr', rows)]
    lines += ['', 'What the criterion cannot decide yet, and why the shipped settings stay:', '',
              *render.bullets(LIMITS + [baseline_limit(result.get('sets', {}))])]
    return render.section('Selection: how the two criteria are weighed', lines)


def baseline_limit(sets):
    """Return the bullet on why ``neutral_baseline`` stays as shipped, with its stand-in's gain."""
    means = arm_means(sets, 'tfeid-person')
    # Every arm that turns the baseline on over the shipped settings (baseline-auto and
    # variants of it, e.g. with a resting correction of the held-out appearance model).
    autos = [arm for arm in means if arm.startswith('baseline-auto')]
    if SHIPPED in means and autos:
        off = means[SHIPPED][1]
        outcomes = []
        for arm in autos:
            gain = render.points(means[arm][1] - off)
            outcomes.append(f'`{arm}` ' + {
                'win': f'gains {gain}', 'tie': f'ties, {gain}, within the {TIE_POINTS}-point '
                'noise', 'loss': f'loses, {gain}'}[selection_outcome(means[arm][1], off)])
        measured = '; '.join(outcomes) + ' (see below)'
    else:
        measured = 'it was not replayed for this report'
    return ('**`neutral_baseline: auto`**: it cannot run on `tfeid-lodo` (no training dataset '
            'without TFEID has per-person neutral images for its relative landmark model); on '
            f"the in-dataset stand-in `tfeid-person` {measured}. Once a face's "
            'baseline is ready the landmark path reads with a TFEID-only relative model whose '
            'accuracy on people of other datasets is unmeasured, and in-dataset numbers '
            'overstate held-out ones by 13 to 21 points in the generalisation report. The '
            'default stays `off`; `auto` is one setting for a robot that meets the same people '
            'again and again.')


def arm_means(sets, name):
    """Return {arm: (accuracy per order, their mean)} of the arms a set ran in every order."""
    orders = sets.get(name, {}).get('orders', {})
    if set(orders) != set(SETS[name].orders):
        return {}
    means = {}
    for arm in orders[SETS[name].orders[0]]['arms']:
        accuracies = arm_accuracies(sets, name, arm)
        if accuracies is not None:
            means[arm] = (accuracies, sum(accuracies) / len(accuracies))
    return means


def criterion_rows(sets):
    """Return per set and arm: frame accuracy in each order, their mean and its gain."""
    rows = []
    for name in ('tfeid-lodo', 'tfeid-person'):
        means = arm_means(sets, name)
        if not means:
            continue
        first = sets[name]['orders'][SETS[name].orders[0]]['arms']
        for arm, (accuracies, mean) in means.items():
            gain = ('' if arm == SHIPPED or SHIPPED not in means
                    or not comparable(first[arm], first[SHIPPED]) else
                    render.points(mean - means[SHIPPED][1]))
            rows.append([f'`{name}`', arm, *(percent(a) for a in accuracies),
                         f'**{percent(mean)}**', gain])
    return rows


def reproduce_commands(sets, source=DEFAULT_JSON_NAME):
    """Return the tool's command lines that replay every set and arm of the report."""
    commands = []
    json_option = [] if source == DEFAULT_JSON_NAME else [
        f'--json {os.path.join(os.path.dirname(DEFAULT_JSON), source)}']
    for name in [name for name in SETS if name in sets]:
        entry = sets[name]
        arms = {}
        for order in entry.get('orders', {}).values():
            for arm, measured in order['arms'].items():
                arms.setdefault(arm, arm if arm in ARMS else
                                f"{arm}='{json.dumps(measured['overrides'])}'")
        options = [f'--set {name}', f"--arm {' '.join(arms.values())}"]
        if entry.get('appearance_run') is not None:
            options.append(f"--appearance-run '{entry['appearance_run']}'")
        if entry.get('appearance_temperature', 1.0) != 1.0:
            options.append(f"--appearance-temperature {entry['appearance_temperature']:g}")
        if entry['models_source'] != 'held-out':
            options.append(f"--models {entry['models_source']}")
        commands.append(f"{TOOL} {' '.join(options + json_option)}")
    return commands + [f"./fer train track render {' '.join(json_option)}".rstrip()]


def candidate_notice(sets):
    """Return the warning lines of a report whose sets ran another appearance run."""
    others = {name: f"`{entry['appearance_run']}`" + (
        f" (logits divided by the temperature {entry['appearance_temperature']:g})"
        if entry.get('appearance_temperature', 1.0) != 1.0 else '')
        for name, entry in sets.items() if entry.get('appearance_run') is not None}
    if not others:
        return []
    return ["**A candidate's replay, not the shipped defaults**: " + '; '.join(
        f"`{name}` ran with the appearance model {run} instead of its set's own run"
        for name, run in others.items()) + '. `shipped` there means `config/fer.yaml` as '
        'shipped at the replay (the date below) with that model; the shipped defaults are '
        'measured in `track_protocol.md`.',
        '']


def markdown(result, source=DEFAULT_JSON_NAME):
    """Return the report text of the JSON ``result`` (file name ``source``)."""
    sets = result.get('sets', {})
    machines = [arm['machine'] for entry in sets.values()
                for order in entry.get('orders', {}).values() for arm in order['arms'].values()
                if 'machine' in arm]
    machine = machines[-1] if machines else None
    lines = [
        "# The robot's view: held-out persons as face tracks through the live nodes", '',
        f'Generated by `./fer train track render` from `{source}`; replays by '
        f'`{TOOL}` (see `--help`: sets, orders, arms).', '',
        *candidate_notice(sets),
        *render.section('Protocol', [
            *render.bullets([
                "**SYNTHETIC sequences**: each held-out person's stills play as one face track "
                f"(`./fer bag make --track-column`), {result['frames_per_still']} frames a still "
                f"at {result['fps']:g} fps, {result['gap_frames']} blank frames between persons "
                '(a new track each). A still held for 12 frames is not video: nothing moves '
                'within a still, and expressions switch in one frame.',
                f"**Orders**: `{NEUTRAL_FIRST}` (the person's neutral stills, then the others "
                "in the dataset's order) and `shuffled` (every still of the person in an order "
                f"drawn with seed {result['seed']} and the person's id).",
                '**Through the real nodes**: a fresh composed pipeline (`./fer bag eval --mode '
                'composed --rate max`: the next frame goes when the landmark node answered the '
                'previous one, so nothing is dropped and CPU time only limits the speed) runs '
                '`config/fer.yaml` as shipped, with only the model paths pointed at models '
                "that never saw the replayed persons and the arm's parameter overrides.",
                '**Arms**: parameter overrides per node (`shipped`: none). Arms are compared '
                'with the shipped arm on the frames in which both runs found a face (paired).',
                '**Scores**: every labelled frame counts, no answer (no face, or no window '
                'yet: the first 7 frames of every track fill the 8-frame window) and '
                '`unknown` are wrong. Frame accuracy; macro-F1 over the classes present; for '
                'each expression change (a still whose label differs from the previous still '
                'of the track), the frames from its first frame to the first right answer '
                '(median and mean over the changes answered right within the still; 0 = right '
                'on its first frame) and the share of changes never answered right within the '
                'still.',
                '**Sets**: ' + '; '.join(f'`{name}`: {s.description}'
                                         for name, s in SETS.items()) + '.']),
            '']),
        *criterion_section(result), '']
    gains = baseline_rows(sets)
    if gains:
        lines += render.section('What the per-person baseline buys', [
            'Frame accuracy of the same arm with `neutral_baseline` off and auto (every '
            'labelled frame; the appearance model each row ran is in the tables below). An '
            'auto arm replayed without an appearance model (`none` below) chose its resting '
            "frames by the earlier rule (the track's first low-motion frames), not by the "
            "appearance path's P(neutral).", '',
            *render.table(['set', 'order', 'path', 'off', 'auto', 'auto − off'], 'lllrrr',
                          gains), ''])
    lines += ['## Results', '']
    for name in SETS:
        if name in sets:
            lines += set_section(name, sets[name])
    missing = [name for name in SETS if name not in sets]
    if missing:
        lines += ['Not run yet: ' + ', '.join(f'`{name}`' for name in missing)
                  + f' (`{TOOL} --set NAME`).', '']
    lines += render.section('Reproduce', render.code_block(reproduce_commands(sets, source),
                                                           'bash'))
    lines += ['']
    if machine:
        lines += [f"Machine: {machine['cpu']}, {machine['cores']} cores, CPU only, load average "
                  f"{machine['load_average_at_report'][0]} at the last replay (training runs "
                  'shared the CPU; at rate max answers do not depend on speed), '
                  f"{machine['date'][:10]}.", '']
    return '\n'.join(lines)


def main(argv=None):
    """Render the report from the tool's JSON."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('command', nargs='?', choices=('render',), default='render')
    parser.add_argument('--json', default=DEFAULT_JSON)
    parser.add_argument('--markdown', default=None,
                        help='report path (default: beside the JSON, .md)')
    options = parser.parse_args(argv)
    markdown_path = options.markdown or os.path.splitext(options.json)[0] + '.md'
    render.write_text(markdown_path, markdown(render.read_json(options.json),
                                              os.path.basename(options.json)))
    print(f'wrote {markdown_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
