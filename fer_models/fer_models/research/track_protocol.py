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
The track-level protocol ("the robot's view"): held-out persons replayed as face tracks.

A robot sees a person for seconds, not one still. Each held-out person's
stills are played as one face track (``./fer bag make --track-column``),
``protocol.FRAMES_PER_STILL`` frames a still at ``FPS``, in one of two orders:
``neutral-first`` (the person's neutral stills, then the others in the
dataset's order) or ``shuffled`` (every still of the person in an order
drawn with a fixed seed for that person). The sequences are SYNTHETIC: a
still held for a number of frames is not video.

This module is the ROS-free part: the sets (``SETS``), the orders, the
layout of a track's frames in a bag, the arms (parameter overrides per
node, ``arm_parameters``), the scores of a replay's answers
(``TrackFrames``, ``scores``) and the models a set's replay needs
(``set_models``). ``fer_ros.tools.track_protocol`` replays the tracks
through the real nodes; ``studies.track`` renders the report.
"""

import copy
from dataclasses import dataclass
import hashlib
import json
import os
import shutil
import tempfile
import zlib

from fer_models.core.baseline import AUTO, OFF
from fer_models.core.labels import NEUTRAL
from fer_models.research.metrics import classification_report
from fer_models.research.protocol import (
    group_folds, held_out_appearance_run, held_out_appearance_temperature, LABELS)
import numpy as np

GAP_FRAMES = 12
FPS = 15.0
NEUTRAL_FIRST, SHUFFLED = 'neutral-first', 'shuffled'
ORDERS = (NEUTRAL_FIRST, SHUFFLED)
# A labelled frame without an /emotion answer (no face found, or no window yet).
NO_ANSWER = 'no_answer'
UNKNOWN = 'unknown'
LODO, PERSON = 'lodo', 'person'
REPORTS = os.path.join('fer_models', 'reports')
DEFAULT_JSON = os.path.join(REPORTS, 'track_protocol.json')
GENERALISATION_JSON = os.path.join(REPORTS, 'generalisation.json')
# The sets replay the shipped recipe's held-out runs, so the shipped arm
# measures the shipped recipe.
DEFAULT_APPEARANCE_RUN = held_out_appearance_run('taiwanese')


@dataclass(frozen=True)
class TrackSet:
    """A set of held-out persons, the split their models come from and the orders played."""

    name: str
    dataset: str  # protocol dataset whose persons are replayed
    split: str  # LODO: models never saw the dataset; PERSON: folds by person
    orders: tuple
    appearance_run: str  # the appearance run that never saw these persons ('' = none)
    description: str


SETS = {
    'tfeid-lodo': TrackSet(
        'tfeid-lodo', 'taiwanese', LODO, ORDERS, DEFAULT_APPEARANCE_RUN,
        'every TFEID performer; models that never saw TFEID (landmark: the shipped recipe '
        "on FER2013 train + CK+48, as the generalisation study's LODO; appearance: the "
        'LODO-TFEID run)'),
    'tfeid-person': TrackSet(
        'tfeid-person', 'taiwanese', PERSON, ORDERS, DEFAULT_APPEARANCE_RUN,
        '5 folds by performer; landmark models (absolute and relative, the neutral '
        "study's recipe) trained on the fold's other TFEID performers (in-dataset by "
        'person); appearance: the LODO-TFEID run, which saw no TFEID performer at all '
        '(stricter than in-dataset)'),
    'ckplus48-lodo': TrackSet(
        'ckplus48-lodo', 'ckplus48', LODO, (SHUFFLED,), held_out_appearance_run('ckplus48'),
        'every CK+48 subject; models that never saw CK+48. CK+48 has no neutral images: '
        'played shuffled only'),
}

# Arms: parameter overrides per node of config/fer.yaml ('/**': every node).
# The held-out models are filled in by arm_parameters; an arm never names a
# model file unless it means to.
SHIPPED = 'shipped'
ARMS = {
    SHIPPED: {},
    'baseline-auto': {'/**': {'neutral_baseline': AUTO}},
    # The landmark path alone, without and with its per-person baseline.
    'fusion-landmark': {'emotion_classifier_node': {'fusion': 'landmark'}},
    'fusion-landmark-baseline-auto': {'/**': {'neutral_baseline': AUTO},
                                      'emotion_classifier_node': {'fusion': 'landmark'}},
    'fusion-appearance': {'emotion_classifier_node': {'fusion': 'appearance'}},
    'smoothing-none': {'emotion_classifier_node': {'smoothing': 'none'}},
}
# The arms run by default: the shipped defaults.
DEFAULT_ARMS = (SHIPPED,)
CLASSIFIER, LANDMARK_NODE, EVERY_NODE = 'emotion_classifier_node', 'landmark_node', '/**'
FEATURE_BUFFER = 'feature_buffer_node'


class ArmUnavailable(ValueError):
    """Raised when a set lacks a model an arm needs."""


def stills_of(dataset, root=None):
    """Return [(image path, label, person)] of a protocol dataset's 7-class stills."""
    from fer_models.research.datasets import load_dataset

    return [(r.path, r.label, r.group) for r in load_dataset(dataset, root)
            if r.label in LABELS]


def person_seed(seed, person):
    """Return the seed of one person's shuffled order (stable across runs and machines)."""
    return [int(seed), zlib.crc32(str(person).encode())]


def order_stills(stills, persons, order, seed=0):
    """
    Return the rows (image, label, person) of ``persons``' tracks in one order.

    ``neutral-first``: each person's neutral stills, then their others, in
    the dataset's order; ``shuffled``: each person's stills permuted with
    ``person_seed(seed, person)``. Persons follow ``persons``.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order '{order}'; known: {', '.join(ORDERS)}")
    rows = []
    for person in persons:
        mine = [s for s in stills if s[2] == person]
        if order == NEUTRAL_FIRST:
            mine = [s for s in mine if s[1] == NEUTRAL] + [s for s in mine if s[1] != NEUTRAL]
        else:
            mine = [mine[i] for i in np.random.default_rng(
                person_seed(seed, person)).permutation(len(mine))]
        rows += mine
    return rows


def frame_layout(rows, frames_per_still, gap_frames):
    """
    Yield, for every frame of a bag of stills, the index of its row or None (a blank frame).

    rows: (image, label) or (image, label, track). Blank frames follow
    every still, except between consecutive stills of one track: those play
    as one face track (one person changing expression).
    """
    for index, (_, _, *track) in enumerate(rows):
        yield from [index] * frames_per_still
        following = rows[index + 1] if index + 1 < len(rows) else None
        if track and following is not None and tuple(following[2:]) == tuple(track):
            continue
        yield from [None] * gap_frames


def changes(rows):
    """
    Return a bool per row: an expression change (a label other than the previous still's).

    The first still of a track follows no still of that person and is no change.
    """
    return [index > 0 and row[2:] == rows[index - 1][2:] and row[1] != rows[index - 1][1]
            for index, row in enumerate(rows)]


@dataclass
class TrackFrames:
    """The labelled frames of replayed tracks and the answers the pipeline gave them."""

    still: np.ndarray  # (F,) global index of the frame's still
    offset: np.ndarray  # (F,) frame number within its still (0 = first)
    truth: np.ndarray  # (F,) true label
    answer: np.ndarray  # (F,) label answered, UNKNOWN, or NO_ANSWER
    face: np.ndarray  # (F,) bool: the landmark node found a face
    change: np.ndarray  # (S,) bool per still: an expression change

    @classmethod
    def of_replay(cls, rows, frames_per_still, gap_frames, answers, faces=None):
        """
        Return the frames of one replayed bag.

        answers: {bag frame index: label}; faces: bag frame indices in which
        the landmark node found a face (None: every answered frame).
        """
        layout = list(frame_layout(rows, frames_per_still, gap_frames))
        frames = [(i, row) for i, row in enumerate(layout) if row is not None]
        seen = set(answers) if faces is None else set(faces)
        offsets, count = [], {}
        for _, row in frames:
            offsets.append(count.get(row, 0))
            count[row] = offsets[-1] + 1
        return cls(np.array([row for _, row in frames], int), np.array(offsets, int),
                   np.array([rows[row][1] for _, row in frames], object),
                   np.array([answers.get(i, NO_ANSWER) for i, _ in frames], object),
                   np.array([i in seen for i, _ in frames], bool),
                   np.array(changes(rows), bool))

    @classmethod
    def concatenate(cls, parts):
        """Return the frames of several replays as one (stills renumbered)."""
        shifts = np.cumsum([0] + [len(p.change) for p in parts[:-1]])
        return cls(np.concatenate([p.still + s for p, s in zip(parts, shifts)]),
                   *(np.concatenate([getattr(p, name) for p in parts])
                     for name in ('offset', 'truth', 'answer', 'face', 'change')))

    def to_json(self):
        """Return a JSON-able dict (the tool's cache of one arm's replay)."""
        return {name: getattr(self, name).tolist() for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data):
        """Return the frames of ``to_json``'s dict."""
        kinds = {'still': int, 'offset': int, 'truth': object, 'answer': object, 'face': bool,
                 'change': bool}
        return cls(**{name: np.array(data[name], kind) for name, kind in kinds.items()})


def change_latencies(frames):
    """
    Return, per expression change, the frames from its first frame to the first right answer.

    None: never answered right within the still.
    """
    out = []
    for still in np.flatnonzero(frames.change):
        mine = frames.still == still
        right = frames.offset[mine][frames.answer[mine] == frames.truth[mine]]
        out.append(int(right.min()) if len(right) else None)
    return out


def scores(frames, labels=LABELS):
    """
    Return the track scores of replayed frames.

    Every labelled frame counts: no answer and ``unknown`` are wrong.
    ``frames_to_right``: over expression changes, frames from the change to
    the first right answer (median and mean over changes answered right
    within their still; ``never``: share of changes not answered right
    within the still).
    """
    report = classification_report(list(frames.truth), list(frames.answer), labels)
    latencies = change_latencies(frames)
    answered = [v for v in latencies if v is not None]
    return {
        'frames': int(len(frames.truth)), 'stills': int(len(frames.change)),
        'accuracy': report['accuracy'], 'macro_f1': report['macro_f1'],
        'face_found': round(float(frames.face.mean()), 4) if len(frames.face) else None,
        'no_answer': round(float(np.mean(frames.answer == NO_ANSWER)), 4),
        'unknown': round(float(np.mean(frames.answer == UNKNOWN)), 4),
        'recall': {label: report['per_class'][label]['recall'] for label in labels
                   if report['per_class'][label]['support']},
        'frames_to_right': {
            'changes': len(latencies),
            'median': float(np.median(answered)) if answered else None,
            'mean': round(float(np.mean(answered)), 2) if answered else None,
            'never': round(1 - len(answered) / len(latencies), 4) if latencies else None},
    }


def paired_difference(frames, reference):
    """
    Return (accuracy difference, frames) of ``frames`` minus ``reference`` on shared frames.

    Shared: frames in which both runs' landmark node found a face, so that a
    face Face Mesh missed in one run only does not count on one side.
    """
    if len(frames.truth) != len(reference.truth) or np.any(frames.truth != reference.truth):
        raise ValueError('the two replays are not of the same frames')
    both = frames.face & reference.face
    if not both.any():
        return None, 0
    right = frames.answer[both] == frames.truth[both]
    reference_right = reference.answer[both] == reference.truth[both]
    return round(float(right.mean() - reference_right.mean()), 4), int(both.sum())


def person_chunks(persons, folds, seed=0):
    """Return the persons in ``folds`` groups (the folds of a PERSON set), shuffled by ``seed``."""
    return [list(chunk) for chunk in group_folds(np.asarray(persons), folds, seed)]


def arm_parameters(shipped, overrides, models):
    """
    Return the parameter-file dict of one arm: the shipped one with overrides and held-out models.

    shipped: config/fer.yaml as a dict; overrides: {node or '/**': {parameter:
    value}}; models: {'landmark': absolute model path, 'landmark_neutral':
    relative model path or None, 'appearance': crop model path or None,
    'appearance_resting': its resting correction or None}.
    The classifier reads the landmark model of the arm's neutral_baseline
    mode. The landmark node runs the appearance model unless the arm's
    fusion is ``landmark`` and its baseline off (nothing would read it); with no
    appearance model the classifier decides by the landmark path (``fusion:
    landmark``). Raises ArmUnavailable when the arm needs a model the set
    lacks.
    """
    params = copy.deepcopy(shipped)
    for node, values in overrides.items():
        params.setdefault(node, {}).setdefault('ros__parameters', {}).update(values)
    classifier = params[CLASSIFIER]['ros__parameters']
    mode = params[EVERY_NODE]['ros__parameters'].get('neutral_baseline', OFF)
    if 'model_path' not in overrides.get(CLASSIFIER, {}):
        role = 'landmark_neutral' if mode == AUTO else 'landmark'
        if not models.get(role):
            raise ArmUnavailable(f'neutral_baseline {mode} needs a {role} model, which this '
                                 'set has not')
        classifier['model_path'] = models[role]
    if mode == AUTO and 'absolute_model_path' not in overrides.get(CLASSIFIER, {}):
        # Faces whose baseline is not ready yet are read by the absolute model.
        classifier['absolute_model_path'] = models['landmark']
    if 'appearance_model_path' not in overrides.get(LANDMARK_NODE, {}):
        # Under auto the feature buffer picks resting frames by the appearance
        # path's P(neutral), whatever the classifier's fusion.
        unused = classifier.get('fusion') == 'landmark' and mode == OFF
        params[LANDMARK_NODE]['ros__parameters']['appearance_model_path'] = (
            '' if unused else models.get('appearance') or '')
    appearance = params[LANDMARK_NODE]['ros__parameters']['appearance_model_path']
    if (mode == AUTO and appearance and models.get('appearance_resting')
            and 'appearance_resting_path' not in overrides.get(FEATURE_BUFFER, {})):
        # The shipped correction belongs to the shipped model: a held-out one brings its own.
        params.setdefault(FEATURE_BUFFER, {}).setdefault('ros__parameters', {})[
            'appearance_resting_path'] = models['appearance_resting']
    if not appearance:
        if classifier.get('fusion') == 'appearance':
            raise ArmUnavailable('fusion appearance needs an appearance model, which this set '
                                 'has not')
        classifier['fusion'] = 'landmark'
    return params


def parse_arm(text):
    """Return (name, overrides) of a command-line arm 'NAME=JSON' or a known arm's name."""
    name, _, overrides = text.partition('=')
    if not overrides:
        if name not in ARMS:
            raise ValueError(f"unknown arm '{name}'; known: {', '.join(ARMS)} (or give "
                             "NAME='{\"node\": {\"parameter\": value}}')")
        return name, ARMS[name]
    value = json.loads(overrides)
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f"arm '{name}': overrides must be {{node: {{parameter: value}}}}")
    return name, value


def fingerprint(*parts):
    """Return a short hash of JSON-able parts (cache keys of models and replays)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[
        :12]


# ------------------------------------------------------------------- models

def cache_root():
    """Return the folder of the protocol's exported models and replay answers."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'track_protocol')


def shipped_landmark_recipe(generalisation_json=GENERALISATION_JSON):
    """Return (LandmarkRecipe, calibration entry) of the shipped landmark model."""
    from fer_models.research.lodo import LandmarkRecipe

    with open(generalisation_json) as handle:
        study = json.load(handle)
    entry = study['chosen_landmark_recipe']
    recipe = LandmarkRecipe(**{k: v for k, v in entry.items()
                               if k in LandmarkRecipe.__dataclass_fields__})
    chosen = next(r for r in study['landmark'] if r['recipe']['name'] == recipe.name)
    return recipe, chosen['calibration']


def export_landmark(samples, train, path, model_name, seed=0, target=None,
                    extra_metadata=None):
    """
    Train the shipped landmark recipe on the ``train`` rows and export it; return its facts.

    As ``./fer train generalisation ship`` does (via ``lodo.export_recipe_model``),
    on a split's training side only.
    """
    from fer_models.research.lodo import export_recipe_model

    recipe, calibration_entry = shipped_landmark_recipe()
    return export_recipe_model(samples, recipe, calibration_entry, train, path,
                               model_name=model_name, seed=seed, target=target,
                               extra_metadata=extra_metadata)


def _cached(path, build):
    """Return the facts of a cached model (``path`` + .json), building it first if missing."""
    facts_path = path + '.json'
    if os.path.isfile(path) and os.path.isfile(facts_path):
        with open(facts_path) as handle:
            return json.load(handle)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    facts = build()
    facts['path'] = path
    with open(facts_path, 'w') as handle:
        json.dump(facts, handle, indent=1)
    return facts


def landmark_models(track_set, held_out, seed=0, log=print):
    """
    Return {'landmark': facts, 'landmark_neutral': facts or None} for held-out persons.

    LODO: the shipped recipe trained without the set's dataset, and no
    relative model (only TFEID has per-person neutral images). PERSON: both
    arms of the neutral study's recipe (``neutral_baseline``) trained on the
    dataset's other persons, as the protocol's in-dataset split does (the
    shipped recipe on every other image would cost 150 epochs over FER2013
    per fold, about 20 CPU minutes each on this machine).
    """
    folder = os.path.join(cache_root(), track_set.name)
    if track_set.split == LODO:
        path = os.path.join(folder, f'landmark_lodo_{track_set.dataset}.onnx')

        def build():
            from fer_models.research.lodo import load_samples
            from fer_models.research.protocol import leave_one_dataset_out

            samples = load_samples()
            train, _ = leave_one_dataset_out(samples.datasets, samples.parts, samples.groups,
                                             track_set.dataset)
            log(f'{track_set.name}: training the landmark model without {track_set.dataset}')
            return export_landmark(samples, train, path, f'landmark_lodo_{track_set.dataset}',
                                   seed, target=track_set.dataset, extra_metadata={
                                       'training_data': 'protocol datasets except '
                                                        f'{track_set.dataset}'})
        facts = _cached(path, build)
        if 'still_accuracy' not in facts:
            facts = _update_facts(path, still_accuracy=held_out_still_accuracy(
                path, track_set.dataset))
        return {'landmark': facts, 'landmark_neutral': None}
    key = fingerprint(sorted(map(str, held_out)), seed)
    paths = {'landmark': os.path.join(folder, f'landmark_without_{key}.onnx'),
             'landmark_neutral': os.path.join(folder, f'landmark_neutral_without_{key}.onnx')}
    if not all(os.path.isfile(path + '.json') for path in paths.values()):
        log(f'{track_set.name}: training both landmark arms without {len(held_out)} persons')
        for role, facts in fold_models(held_out, paths, seed).items():
            _cached(paths[role], lambda: facts)
    return {role: _cached(path, None) for role, path in paths.items()}


def held_out_still_accuracy(path, dataset):
    """
    Return a landmark model's accuracy on the stills of a dataset it never saw.

    The generalisation study's LODO accuracy of the same split (every image
    counts, no face is an error): a check that the held-out model is the
    study's recipe.
    """
    from fer_models.research.lodo import evaluate_model_file, load_samples

    return evaluate_model_file(load_samples(), path)[dataset]['accuracy']


def _update_facts(path, **values):
    """Add values to a cached model's facts; return them."""
    with open(path + '.json') as handle:
        facts = {**json.load(handle), **values}
    with open(path + '.json', 'w') as handle:
        json.dump(facts, handle, indent=1)
    return facts


def fold_models(held_out, paths, seed=0):
    """
    Train both neutral-study arms on TFEID without ``held_out``; move them to ``paths``.

    Returns {'landmark': facts, 'landmark_neutral': facts}.
    """
    from fer_models.research.neutral_baseline import (
        ABSOLUTE, export_fold_models, FEATURE_TYPE, RELATIVE, tfeid_arms)

    groups = tfeid_arms()[2]
    train_groups = np.setdiff1d(np.unique(groups), np.asarray(held_out, dtype=groups.dtype))
    facts = {}
    with tempfile.TemporaryDirectory() as work:
        produced = export_fold_models(train_groups, work, seed)
        for role, arm in (('landmark', ABSOLUTE), ('landmark_neutral', RELATIVE)):
            os.makedirs(os.path.dirname(paths[role]), exist_ok=True)
            shutil.move(produced[arm], paths[role])
            facts[role] = {'model_name': os.path.basename(paths[role]),
                           'recipe': f'neutral study, {arm} arm ({FEATURE_TYPE}, MLP, early '
                                     'stopping on an inner split by performer)',
                           'training_data': f'TFEID, {len(train_groups)} performers (the '
                                            'others held out)'}
    return facts


def appearance_spec(name, appearance_run):
    """Return what a replay of set ``name`` runs: ``--appearance-run`` if given, else its own."""
    return SETS[name].appearance_run if appearance_run is None else appearance_run


def appearance_temperature(name, appearance_run, temperature=None):
    """
    Return the temperature a replay of set ``name`` exports its appearance run at.

    ``temperature`` when given; else the shipped recipe's held-out
    temperature for the set's own run (so its shipped arm measures the
    shipped calibration), and 1 (as trained) for an ``--appearance-run``.
    """
    if temperature is not None:
        return temperature
    return held_out_appearance_temperature(SETS[name].dataset) if appearance_run is None else 1.0


def with_temperature(run, temperature):
    """Return a run's name as a replay identifies its model: with its temperature, if any."""
    return run if temperature in (None, 1.0) else f'{run} at temperature {temperature:g}'


def replay_appearance_run(name, appearance_run, temperature=None):
    """Return the appearance model a replay of set ``name`` uses, as replays identify it."""
    return with_temperature(appearance_spec(name, appearance_run),
                            appearance_temperature(name, appearance_run, temperature))


def stored_appearance_run(entry, name):
    """Return the appearance model a stored replay of set ``name`` used (replay_appearance_run)."""
    if 'appearance_model_run' in entry:
        return entry['appearance_model_run']
    # Replays written before that field: the run named in their models.
    models = entry.get('models') or [{}]
    appearance = models[0].get('appearance') or {}
    if 'name' in appearance:
        return with_temperature(appearance['name'], appearance.get('temperature'))
    return replay_appearance_run(name, entry.get('appearance_run'), 1.0)  # before temperatures


def appearance_model(spec, target, log=print, temperature=1.0):
    """
    Return the facts of an appearance model for persons of ``target``, exported if needed.

    spec: an ONNX path (used as it is; one this module exported keeps its
    run's facts, so its replays hit the cache), or a run name in the appearance runs
    folder: its result.json when the run finished, else its current best.pt
    (``appearance_runs.read_run``: status ``training``), exported with the
    shipped decision rule.
    None when ``spec`` is empty or names no run. Raises ValueError when the
    run saw ``target``. temperature: divides a run's logits at export (see
    ``appearance_runs.decided_model``).
    """
    from fer_models.research.appearance import runs_dir
    from fer_models.research.appearance_runs import export_run, read_run

    if not spec:
        return None
    if spec.endswith('.onnx'):
        if not os.path.isfile(spec):
            raise ValueError(f'appearance model {spec} not found')
        if os.path.isfile(spec + '.json'):  # exported here from a run: its facts
            return _cached(spec, None)
        from fer_models.core.crops import CropClassifier

        model = CropClassifier(spec)
        return {'path': os.path.abspath(spec), 'model_name': model.model_name,
                'source': 'ONNX file given on the command line (its training data: see its '
                          'metadata; the protocol trusts that it never saw the held-out persons)'}
    best = os.path.join(runs_dir(), spec, 'best.pt')
    if not os.path.isfile(best):
        return None
    result = read_run(spec, unfinished=True)
    if result['target'] != target:
        raise ValueError(f"appearance run {spec} held out {result['target']}, not {target}: "
                         'it saw these persons')
    stamp = os.stat(best)
    key = fingerprint(result['status'], result['epochs'], stamp.st_size, stamp.st_mtime_ns,
                      *(() if temperature == 1.0 else (temperature,)))
    path = os.path.join(cache_root(), 'appearance', f'{spec}-{key}.onnx')

    def build():
        log(f"exporting appearance run {spec} ({result['status']})")
        with tempfile.TemporaryDirectory() as work:
            checkpoint = os.path.join(work, 'best.pt')
            shutil.copyfile(result['checkpoint'], checkpoint)  # the run may rewrite it
            export_run({**result, 'checkpoint': checkpoint}, path, temperature=temperature)
        facts = {key: result.get(key) for key in ('name', 'target', 'status', 'epochs',
                                                  'best_epoch', 'validation_accuracy')}
        return {**facts, 'temperature': temperature} if temperature != 1.0 else facts
    return _cached(path, build)


def appearance_resting(appearance, log=print):
    """
    Return the facts of a resting correction for a held-out appearance model, written if needed.

    Fitted as ``./fer train neutral ship-resting`` fits the shipped model's:
    the model's own typical resting output, with the strength of the shipped
    correction, so that a ``neutral_baseline: auto`` arm replays the shipped
    baseline on both paths with the held-out model in the shipped one's place.
    None without an appearance model.
    """
    if not appearance:
        return None
    stamp = os.stat(appearance['path'])
    path = os.path.join(cache_root(), 'appearance', fingerprint(
        appearance['path'], stamp.st_size, stamp.st_mtime_ns) + '.resting.json')

    def build():
        from fer_models.core.baseline import load_resting_corrections, RESTING_FILE
        from fer_models.core.crops import CropClassifier
        from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL
        from fer_models.core.resources import shipped_model
        from fer_models.research.neutral_baseline import resting_correction

        shipped = CropClassifier(shipped_model(DEFAULT_APPEARANCE_MODEL)).model_name
        strength = load_resting_corrections(shipped_model(RESTING_FILE))[shipped].strength
        log('fitting the resting correction of the appearance model '
            f"{appearance.get('name') or appearance.get('model_name') or appearance['path']}")
        models = resting_correction(appearance['path'], strength,
                                    f'the shipped correction of {shipped} ({RESTING_FILE})')
        with open(path, 'w') as handle:
            json.dump({'models': models}, handle, indent=1)
        (name, entry), = models.items()
        return {'model_name': name, 'strength': strength, 'typical_from': entry['typical_from'],
                'strength_from': entry['strength_from']}
    return _cached(path, build)


def uses_baseline(overrides):
    """Return True when an arm's overrides turn the per-person baseline on."""
    return overrides.get(EVERY_NODE, {}).get('neutral_baseline') == AUTO


def set_models(track_set, held_out, appearance, seed=0, log=print, resting=None):
    """
    Return {'landmark', 'landmark_neutral', 'appearance', 'appearance_resting'} facts.

    For held-out persons. appearance: the facts of ``appearance_model``, and
    resting those of its ``appearance_resting`` (None: no arm needs it),
    resolved once for the whole set (a running run's best checkpoint may
    change between chunks).
    """
    return {**landmark_models(track_set, held_out, seed, log), 'appearance': appearance,
            'appearance_resting': resting}


# ---------------------------------------------------------------- criterion

CRITERION_SET = 'tfeid-lodo'


def track_criterion(result, arm=SHIPPED):
    """
    Return the track criterion of an arm: its mean frame accuracy over CRITERION_SET's orders.

    Neutral-first and shuffled count alike. None until the arm has a score
    in every order of the set.
    """
    accuracies = arm_accuracies(result.get('sets', {}), CRITERION_SET, arm)
    return None if accuracies is None else round(float(np.mean(accuracies)), 4)


def arm_accuracies(sets, name, arm):
    """Return an arm's frame accuracy in each order of set ``name`` (None: not in every one)."""
    orders = sets.get(name, {}).get('orders', {})
    accuracies = [orders.get(order, {}).get('arms', {}).get(arm, {}).get('scores', {}).get(
        'accuracy') for order in SETS[name].orders]
    return None if None in accuracies else accuracies


def still_image_criterion(generalisation_json=GENERALISATION_JSON):
    """
    Return the still-image criterion of the shipped pipeline (generalisation.json's fusion).

    The strict LODO mean and LODO TFEID of the shipped fusion mode, as of now.
    """
    from fer_models.core.fusion import DEFAULT_FUSION

    with open(generalisation_json) as handle:
        fusion = json.load(handle).get('fusion')
    if not fusion or DEFAULT_FUSION not in fusion['modes']:
        return None
    mode = fusion['modes'][DEFAULT_FUSION]
    return {'fusion': DEFAULT_FUSION, 'strict_lodo_mean': mode['lodo_mean'],
            'lodo_tfeid': mode['lodo']['taiwanese']['accuracy']}
