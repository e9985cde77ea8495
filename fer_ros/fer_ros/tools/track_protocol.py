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
The track-level protocol ("the robot's view"): held-out persons replayed through the real nodes.

Each held-out person's stills play as one face track (``./fer bag make
--track-column``: 12 frames a still at 15 fps, SYNTHETIC sequences), neutral
first or shuffled with a fixed seed per person, into a fresh composed
pipeline (``./fer bag eval``, rate max: nothing dropped, CPU time limits
only the speed) that runs ``config/fer.yaml`` with the arm's parameter
overrides and the models that never saw those persons
(``fer_models.research.track_protocol``: sets, orders, arms, scores, model
export). Results merge into ``fer_models/reports/track_protocol.json`` by
set, order and arm, so arms can be run one at a time; answers and exported
models are cached in ~/.cache/fer_ros/track_protocol. The track study
renders the report.

Usage:
  ./fer run python -m fer_ros.tools.track_protocol [--set tfeid-lodo ...]
      [--order neutral-first|shuffled ...] [--arm shipped ...] [--arm NAME='{"node": {...}}']
      [--appearance-run RUN|MODEL.onnx] [--models held-out|shipped]
      [--persons N] [--stills N] [--json OUT] [--no-render] [--models-only]
"""

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time

from fer_models.core.resources import shipped_model
from fer_models.research import render
from fer_models.research.metrics import machine
from fer_models.research.protocol import FRAMES_PER_STILL
from fer_models.research.track_protocol import (
    appearance_model, appearance_resting, appearance_spec, appearance_temperature,
    arm_parameters, ARMS, ArmUnavailable, cache_root, DEFAULT_ARMS, DEFAULT_JSON, fingerprint,
    FPS, GAP_FRAMES, order_stills, ORDERS, paired_difference, parse_arm, person_chunks,
    replay_appearance_run, scores, set_models, SETS, SHIPPED, still_image_criterion, stills_of,
    stored_appearance_run, TrackFrames, uses_baseline)
from fer_ros.runtime import default_params_file
from fer_ros.tools.bag_tools import evaluate_bag, make_bag, stills_frames
import yaml

FOLDS = 5
HELD_OUT, SHIPPED_MODELS = 'held-out', 'shipped'
# The shipped models, for a quick look (--models shipped): they saw every person here.
SHIPPED_FILES = {'landmark': 'landmark_default.onnx', 'landmark_neutral': 'landmark_neutral.onnx',
                 'appearance': 'ean_union.onnx'}


def shipped_params():
    """Return the shipped parameters (config/fer.yaml) as a dict."""
    with open(default_params_file()) as handle:
        return yaml.safe_load(handle)


def chunk_models(track_set, chunk, appearance, resting, options, log=print):
    """Return {role: facts or None} of the models that replay ``chunk``'s persons."""
    if options.models == SHIPPED_MODELS:
        return {role: {'path': shipped_model(name), 'model_name': name,
                       'source': 'shipped: it saw these persons, not held out'}
                for role, name in SHIPPED_FILES.items()}
    return set_models(track_set, chunk, appearance, options.seed, log, resting)


def set_appearance(track_set, options, temperature, log=print):
    """Return the facts of the set's appearance model (None: none, or shipped models)."""
    if options.models == SHIPPED_MODELS:
        return None
    return appearance_model(appearance_spec(track_set.name, options.appearance_run),
                            track_set.dataset, log, temperature)


def write_params(path, params):
    """Write an arm's parameter dict as a parameter file; return its path."""
    with open(path, 'w') as handle:
        yaml.safe_dump(params, handle, sort_keys=False)
    return path


def replay_arm(bag, rows, arm_params, work, index):
    """Replay a bag through a composed pipeline with ``arm_params``; return (frames, seconds)."""
    params_path = write_params(os.path.join(work, f'arm{index}.yaml'), arm_params)
    report = evaluate_bag(bag, 'composed', params_path, 'max', answers=True)
    answers = {frame: label for frame, _, label, _ in report['answers']}
    return (TrackFrames.of_replay(rows, FRAMES_PER_STILL, GAP_FRAMES, answers,
                                  report['frames_with_face']), report['seconds'])


def answers_path(key):
    """Return the cache file of one arm's replay of one chunk."""
    return os.path.join(cache_root(), 'answers', f'{key}.json')


def replay_key(set_name, order, rows, models, params):
    """
    Return the cache key of a replay: what it played, with which models and parameters.

    Only the models the parameters name count (an arm of the landmark path
    alone does not change with the appearance run).
    """
    named = json.dumps(params)
    return fingerprint(set_name, order, [r[1:] + (os.path.basename(r[0]),) for r in rows],
                       {role: {k: v for k, v in facts.items() if k != 'path'}
                        for role, facts in models.items()
                        if facts and json.dumps(facts['path']) in named},
                       params, FRAMES_PER_STILL, GAP_FRAMES, FPS)


def load_cached(key):
    """Return the cached TrackFrames of a replay key, or None."""
    path = answers_path(key)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return TrackFrames.from_json(json.load(handle))


def store(key, frames):
    """Cache one replay's frames."""
    os.makedirs(os.path.dirname(answers_path(key)), exist_ok=True)
    with open(answers_path(key), 'w') as handle:
        json.dump(frames.to_json(), handle)


def model_paths(models):
    """Return {role: path or None} of model facts."""
    return {role: facts and facts['path'] for role, facts in models.items()}


def run_order(track_set, order, chunks, arms, shipped, appearance, resting, options,
              log=print):
    """
    Replay every chunk of persons in one order for every arm; return {arm: entry}.

    An arm's frames are cached by what was replayed, so a second run of the
    same arm, or the shipped arm needed for pairing, is read from the cache.
    """
    stills = stills_of(track_set.dataset)
    parts = {arm: [] for arm in arms}
    reference = []
    seconds = dict.fromkeys(arms, 0.0)
    unavailable = {}
    model_facts = []
    appearance_used = {}
    for chunk_index, chunk in enumerate(chunks):
        models = chunk_models(track_set, chunk, appearance, resting, options, log)
        model_facts.append(models)
        rows = order_stills(stills, chunk, order, options.seed)
        if options.stills:
            rows = [row for person in chunk
                    for row in [r for r in rows if r[2] == person][:options.stills]]
        wanted = {}
        for arm in [SHIPPED] + [a for a in arms if a != SHIPPED]:
            overrides = arms.get(arm, ARMS[SHIPPED])
            try:
                params = arm_parameters(shipped, overrides, model_paths(models))
            except ArmUnavailable as reason:
                unavailable[arm] = str(reason)
                continue
            wanted[arm] = (params, replay_key(track_set.name, order, rows, models, params))
            appearance_used[arm] = (
                models['appearance'] if models['appearance'] and json.dumps(
                    models['appearance']['path']) in json.dumps(params) else None)
        with tempfile.TemporaryDirectory(prefix='fer_track_') as work:
            bag = None
            for index, (arm, (params, key)) in enumerate(wanted.items()):
                frames = load_cached(key)
                if frames is None and arm in arms:
                    if bag is None:
                        bag = os.path.join(work, 'bag')
                        make_bag(bag, stills_frames('', rows, FRAMES_PER_STILL, GAP_FRAMES),
                                 FPS)
                    log(f'{track_set.name} {order} chunk {chunk_index + 1}/{len(chunks)}: '
                        f'replaying arm {arm} ({len(rows)} stills)')
                    frames, took = replay_arm(bag, rows, params, work, index)
                    seconds[arm] += took
                    store(key, frames)
                if arm in arms:
                    parts[arm].append(frames)
                if arm == SHIPPED:
                    reference.append(frames)
    entries = {arm: {'unavailable': reason} for arm, reason in unavailable.items()
               if arm in arms}
    shipped_frames = (TrackFrames.concatenate(reference)
                      if reference and all(f is not None for f in reference) else None)
    for arm, arm_parts in parts.items():
        if arm in entries:
            continue
        frames = TrackFrames.concatenate(arm_parts)
        used = appearance_used[arm]
        entry = {'overrides': arms[arm], 'scores': scores(frames),
                 # The appearance model this arm ran (a running run changes between runs).
                 'appearance': used and {k: v for k, v in used.items() if k != 'path'},
                 'replay_seconds': round(seconds[arm], 1), 'machine': machine()}
        if shipped_frames is not None and arm != SHIPPED:
            difference, shared = paired_difference(frames, shipped_frames)
            entry['paired_vs_shipped'] = {'accuracy_difference': difference,
                                          'frames': shared}
        entries[arm] = entry
        log(f"{track_set.name} {order} {arm}: accuracy {entry['scores']['accuracy']}, "
            f"macro-F1 {entry['scores']['macro_f1']}, frames to right "
            f"{entry['scores']['frames_to_right']}")
    return entries, model_facts


def models_entry(model_facts):
    """Return the report's provenance of the models of every chunk (unique, without paths)."""
    unique = []
    for models in model_facts:
        described = {role: facts and {k: v for k, v in facts.items() if k != 'path'}
                     for role, facts in models.items()}
        if described not in unique:
            unique.append(described)
    return unique


def check_same_appearance_run(result, path, name, appearance_run, temperature):
    """
    Raise ValueError when ``result`` holds set ``name`` replayed with another appearance run.

    A set's arms are compared with each other and with its shipped arm, so
    they must share their models: a replay with another ``--appearance-run``,
    or after the shipped recipe (the set's own run) changed, belongs in
    another ``--json``.
    """
    previous = result.get('sets', {}).get(name)
    if previous is None:
        return
    stored, run = (stored_appearance_run(previous, name),
                   replay_appearance_run(name, appearance_run, temperature))
    if stored != run:
        raise ValueError(
            f'{path} holds {name} replayed with the appearance run {stored}, not {run}: its '
            'arms must share their models; write this replay to another --json, or move the '
            'old one out first')


def read_result(path):
    """Return the JSON at ``path``, or {} when there is none yet."""
    return render.read_json(path) if os.path.isfile(path) else {}


def merge_result(path, header, name, meta, order, arm_entries, models):
    """
    Merge one set's order of arms into the JSON at ``path``, under a lock; return the result.

    The file is read again at each merge, so invocations running at the same
    time (other sets or arms) keep each other's results.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # The lock lives in the cache, not beside the report in the repository.
    lock_path = os.path.join(cache_root(), 'locks', fingerprint(os.path.abspath(path)) + '.lock')
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = read_result(path)
        check_same_appearance_run(result, path, name, meta['appearance_run'],
                                  meta['appearance_temperature'])
        result.update(header)
        entry = result.setdefault('sets', {}).setdefault(name, {})
        entry.update({**meta, 'models': models})
        entry.setdefault('orders', {}).setdefault(order, {}).setdefault('arms', {}).update(
            arm_entries)
        with open(path, 'w') as handle:
            json.dump(result, handle, indent=1)
    return result


def run(options, log=print):
    """Run the requested sets, orders and arms, merging each order's results into the JSON."""
    arms = dict(parse_arm(text) for text in options.arm)
    shipped = shipped_params()
    header = {'frames_per_still': FRAMES_PER_STILL, 'gap_frames': GAP_FRAMES, 'fps': FPS,
              'seed': options.seed, 'folds': FOLDS,
              # A snapshot of the other criterion, beside which this one is read.
              'still_image_criterion': still_image_criterion()}
    for name in options.set:
        temperature = appearance_temperature(name, options.appearance_run,
                                             options.appearance_temperature)
        # Refused before anything is replayed, not after.
        check_same_appearance_run(read_result(options.json), options.json, name,
                                  options.appearance_run, temperature)
        track_set = SETS[name]
        persons = sorted({s[2] for s in stills_of(track_set.dataset)})
        if options.persons:
            persons = persons[:options.persons]
        chunks = person_chunks(persons, min(FOLDS, len(persons)), options.seed)
        appearance = set_appearance(track_set, options, temperature, log)
        # Held-out appearance models bring their own resting correction to auto arms.
        resting = (appearance_resting(appearance, log)
                   if any(uses_baseline(overrides) for overrides in arms.values()) else None)
        if options.models_only:
            for chunk in chunks:
                models = chunk_models(track_set, chunk, appearance, resting, options, log)
                log(f'{name}: models of {len(chunk)} persons: {models_entry([models])}')
            continue
        meta = {'dataset': track_set.dataset, 'split': track_set.split,
                'description': track_set.description, 'persons': len(persons),
                'models_source': options.models, 'appearance_run': options.appearance_run,
                'appearance_temperature': temperature,
                'appearance_model_run': replay_appearance_run(name, options.appearance_run,
                                                              temperature),
                'limits': {'persons': options.persons, 'stills': options.stills}}
        for order in options.order or track_set.orders:
            if order not in track_set.orders:
                log(f'{name}: order {order} is not played for this set (orders: '
                    f"{', '.join(track_set.orders)})")
                continue
            started = time.monotonic()
            arm_entries, model_facts = run_order(track_set, order, chunks, arms, shipped,
                                                 appearance, resting, options, log)
            merge_result(options.json, header, name, meta, order, arm_entries,
                         models_entry(model_facts))
            log(f'{name} {order}: {time.monotonic() - started:.0f} s')


def main(argv=None):
    """Replay the requested sets and arms, write the JSON, render the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--set', nargs='+', choices=tuple(SETS), default=['tfeid-lodo'])
    parser.add_argument('--order', nargs='+', choices=ORDERS, default=None,
                        help='orders to play (default: every order of the set)')
    parser.add_argument('--arm', nargs='+', default=list(DEFAULT_ARMS),
                        help=f"arms: {', '.join(ARMS)}, or NAME='{{\"node\": {{\"parameter\": "
                        "value}}}' (overrides of config/fer.yaml; node '/**' = every node)")
    parser.add_argument('--appearance-run', default=None,
                        help='appearance run name in ~/.cache/fer_ros/ean/union_runs or an ONNX '
                        "crop model (default: the set's own held-out run)")
    parser.add_argument('--appearance-temperature', type=float, default=None,
                        help="divide the appearance run's logits by this temperature at export "
                        '(e.g. the one ./fer train generalisation fusion --calibrate-appearance '
                        "fitted for the held-out dataset); default: the set's own run at the "
                        "shipped recipe's held-out temperature, an --appearance-run as trained")
    parser.add_argument('--models', choices=(HELD_OUT, SHIPPED_MODELS), default=HELD_OUT,
                        help='held-out models (default) or the shipped ones (they saw these '
                        'persons: for a quick look and the tool test only)')
    parser.add_argument('--persons', type=int, default=0, help='first N persons only (0: all)')
    parser.add_argument('--stills', type=int, default=0,
                        help="first N stills of each person's order only (0: all)")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=DEFAULT_JSON)
    parser.add_argument('--no-render', action='store_true', help='write the JSON only')
    parser.add_argument('--models-only', action='store_true',
                        help="train and export the sets' held-out models into the cache, no "
                        'replay')
    options = parser.parse_args(argv)
    try:
        run(options)
    except (ValueError, RuntimeError, OSError) as error:
        print(f'track_protocol: {error}', file=sys.stderr)
        return 2
    if options.no_render or options.models_only:
        return 0
    # The track study renders the report (tools never import a study).
    return subprocess.run([sys.executable, '-m', 'fer_models.research.studies', 'track',
                           'render', '--json', options.json], check=False).returncode


if __name__ == '__main__':
    sys.exit(main())
