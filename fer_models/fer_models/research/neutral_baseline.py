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
A per-person neutral baseline for the landmark path: both arms of TFEID, absolute and relative.

Each performer's own neutral images give their resting face: the mean of
their neutral frames' features (for a neutral image, of their *other*
neutral images, so that no image is its own baseline). The absolute arm
uses the features as the pipeline does by default; the baseline-relative
arm subtracts the resting face. Used by the neutral study
(``studies.neutral``) and by ``fer_ros.tools.neutral_sequences``.
"""

import json
import os

from fer_models.core.baseline import DEFAULT_MIN_NEUTRAL, REPLACE_MARGIN
from fer_models.core.features import FeatureExtractor, NEUTRAL_REFERENCE
from fer_models.core.labels import NEUTRAL
from fer_models.research.extract import extract
from fer_models.research.protocol import (
    FRAMES_PER_STILL, group_folds, held_out_appearance_run, LABELS, WINDOW_LENGTH)
import numpy as np


FEATURE_TYPE = 'dlib68:coords+geometric'
RELATIVE_FEATURE_TYPE = FeatureExtractor(FEATURE_TYPE).spec.with_reference(NEUTRAL_REFERENCE).name
EPOCHS = 150
CHECK_EVERY = 5
ABSOLUTE, RELATIVE = 'absolute', 'baseline-relative'
REPORTS = os.path.join('fer_models', 'reports')
SEQUENCES_JSON = os.path.join(REPORTS, 'neutral_sequences.json')
# The live track protocol's replays of off against auto (fer_ros.tools.track_protocol),
# and the appearance correction its auto arm ran with.
TRACKS_JSON = os.path.join(REPORTS, 'neutral_track_protocol.json')
TRACK_RESTING_JSON = os.path.join(REPORTS, 'neutral_track_resting.json')


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


def export_fold_models(train_groups, out_dir, seed=0, arms=(ABSOLUTE, RELATIVE)):
    """
    Train and export ``arms`` on the performers ``train_groups``; return {arm: path}.

    For the sequence tests: the models never see the held-out performers.
    """
    import torch

    torch.set_num_threads(1)
    tables, targets, groups, _ = tfeid_arms()
    train = np.isin(groups, train_groups)
    paths = {}
    for arm in arms:
        table = tables[arm]
        model, _ = train_arm(table, targets, groups, train, seed)
        paths[arm] = os.path.join(out_dir, f"{arm.split('-')[-1]}.onnx")
        export_arm(model, arm, paths[arm], f"neutral_study_{arm.split('-')[-1]}",
                   {'training_performers': ','.join(map(str, train_groups))})
    return paths


def load_sequences(path=SEQUENCES_JSON):
    """Return the sequence test's result (fer_ros.tools.neutral_sequences), or None."""
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def load_track_protocol(path=TRACKS_JSON, resting_path=TRACK_RESTING_JSON):
    """Return (the track protocol's replays of the baseline's arms, its correction) or Nones."""
    return load_sequences(path), load_sequences(resting_path)


# --- Both paths: the appearance correction and the pipeline's automatic baseline ----------

# The shipped recipe's held-out run first (the report's and the shipped
# correction's strength), then the other runs measured for comparison.
APPEARANCE_RUNS = (held_out_appearance_run('taiwanese'),) + tuple(
    run for run in ('kdwheel_lodo_taiwanese', 'kdfaceapi_lodo_taiwanese')
    if run != held_out_appearance_run('taiwanese'))
STRENGTHS = tuple(np.round(np.arange(0.0, 1.51, 0.1), 2))
NEUTRAL_FIRST, SHUFFLED = 'neutral first', 'shuffled'


def _rule_name(source, min_neutral, margin):
    return f'{source} ≥ {min_neutral:g}, margin {margin:g}'


# Rules for choosing resting frames compared offline: 'first' is the earlier
# rule (the first low-motion frames, kept); the others rank low-motion frames
# by a neutral score (source, at least min_neutral) and re-estimate when one
# more neutral by the margin comes: 'appearance' is the appearance model's
# probability of neutral (what the feature buffer sees), 'both' its mean
# with the absolute landmark model's (not built into the nodes).
# The rule the pipeline ships (feature_buffer_node's defaults, core.baseline).
SHIPPED_RULE = ('appearance', DEFAULT_MIN_NEUTRAL, REPLACE_MARGIN)
SHIPPED_CHOICE = _rule_name(*SHIPPED_RULE)
RESTING_CHOICES = {'first': None, **{_rule_name(*rule): rule for rule in (
    ('appearance', 0.2, 0.0), ('appearance', 0.0, 0.1), ('appearance', 0.2, 0.1),
    ('appearance', 0.4, 0.1), ('both', 0.2, 0.1), SHIPPED_RULE)}}


def tfeid_table():
    """Return (absolute features, labels, groups) of every detected TFEID image."""
    landmarks = extract('taiwanese')
    extractor = FeatureExtractor(FEATURE_TYPE)
    found = landmarks.found
    features = np.stack([extractor.frame(p, w, h) for p, (w, h), ok in zip(
        landmarks.points, landmarks.sizes, found) if ok])
    return features, landmarks.labels[found], landmarks.groups[found], found


def appearance_log_probabilities(run, found, temperature=1.0):
    """
    Return ((N, 7) log-probabilities over LABELS, run facts) of a LODO-TFEID run on TFEID.

    The run's best checkpoint (read only; a run still training is read from
    its best.pt) with its training prior removed and its logits divided by
    ``temperature``, as the pipeline's exported crop models decide
    (appearance_runs), on TFEID's aligned crops.
    """
    import torch

    from fer_models.research.aligned import load_source
    from fer_models.research.appearance_runs import decided_model, read_run, run_size
    from fer_models.research.distill import predict_logits

    result = read_run(run, unfinished=True)
    if result is None or result['target'] != 'taiwanese':
        raise ValueError(f'{run}: no run holding TFEID out')
    model, _ = decided_model(result, temperature=temperature)
    crops = load_source('taiwanese', run_size(result)).images[found]
    facts = {key: result.get(key) for key in ('name', 'status', 'epochs', 'best_epoch',
                                              'validation_accuracy')}
    if temperature != 1.0:
        facts['temperature'] = temperature
    return (torch.log_softmax(predict_logits(model, crops), dim=1).numpy().astype(np.float64),
            facts)


def resting_correction(model_path, strength, strength_from):
    """
    Return a crop model's entry of an appearance resting-correction file (core.baseline).

    {model name: {labels, typical, strength, ...}}: ``typical`` is the
    model's mean log-probabilities on the neutral faces of FER2013 test
    (faces no model here trained on), ``strength`` as given, with where it
    came from (``strength_from``) and the model file's sha256.
    """
    import hashlib

    from fer_models.core.baseline import LOG_FLOOR
    from fer_models.core.crops import CropClassifier
    from fer_models.research.aligned import load_source
    from fer_models.research.appearance_runs import dataset_probabilities

    model = CropClassifier(model_path)
    probabilities = dataset_probabilities(model_path, 'fer2013_test')  # protocol.LABELS order
    neutral = load_source('fer2013_test').labels == NEUTRAL
    typical = np.log(np.clip(probabilities[neutral], LOG_FLOOR, 1.0)).mean(axis=0)
    order = [LABELS.index(label) for label in model.labels]
    with open(model_path, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {model.model_name: {
        'labels': list(model.labels), 'typical': [round(float(v), 5) for v in typical[order]],
        'strength': strength, 'model_sha256': digest,
        'typical_from': f'mean log-probabilities on the {int(neutral.sum())} neutral faces '
                        'of FER2013 test (faces the model did not train on)',
        'strength_from': strength_from}}


def typical_resting(log_probabilities, labels, rows):
    """Return the mean log-probabilities of the neutral images among ``rows`` (r)."""
    return log_probabilities[rows & (labels == NEUTRAL)].mean(axis=0)


def corrected(log_probabilities, resting, typical, strength):
    """Return the predicted class of each row after the resting correction."""
    return (log_probabilities - strength * (resting - typical)).argmax(axis=1)


def fit_strength(log_probabilities, labels, groups, rows):
    """
    Return (strength, typical) fitted on the images ``rows`` of training persons.

    Each person's resting appearance is the mean of their other neutral
    images (baseline_relative); the strength with the best accuracy on
    their images wins (ties: the smaller).
    """
    typical = typical_resting(log_probabilities, labels, rows)
    relative, usable = baseline_relative(log_probabilities, labels, groups)
    resting = log_probabilities - relative
    targets = np.array([LABELS.index(label) for label in labels])
    scored = rows & usable
    accuracy = [float((corrected(log_probabilities[scored], resting[scored], typical, s)
                       == targets[scored]).mean()) for s in STRENGTHS]
    return float(STRENGTHS[int(np.argmax(accuracy))]), typical


def fit_track_strength(features, log_probabilities, labels, groups, persons, typical, seed=0):
    """
    Return the strength with the best accuracy on the tracks of training ``persons``.

    Their stills are played as tracks in both orders with the shipped rule,
    so the strength accounts for resting frames that are not at rest, which
    the labelled-rest fit (fit_strength) never sees.
    """
    scores = np.exp(log_probabilities[:, LABELS.index(NEUTRAL)])
    rule = RESTING_CHOICES[SHIPPED_CHOICE][1:]
    answers = [a for person_rows in person_orders(labels, groups, persons, seed).values()
               for rows in person_rows
               for a in play_track(rows, features, log_probabilities, scores, rule)
               if a[4] is not None]
    truth = np.array([LABELS.index(labels[a[0]]) for a in answers])
    log_p = np.stack([a[3] for a in answers])
    resting = np.stack([a[4] for a in answers])
    accuracy = [float((corrected(log_p, resting, typical, s) == truth).mean())
                for s in STRENGTHS]
    return float(STRENGTHS[int(np.argmax(accuracy))])


def person_orders(labels, groups, persons, seed=0):
    """Return {order: [row indices of one person's track, ...]} for both orders."""
    generator = np.random.default_rng(seed)
    orders = {NEUTRAL_FIRST: [], SHUFFLED: []}
    for person in persons:
        rows = np.flatnonzero(groups == person)
        neutral = labels[rows] == NEUTRAL
        orders[NEUTRAL_FIRST].append(np.concatenate([rows[neutral], rows[~neutral]]))
        orders[SHUFFLED].append(generator.permutation(rows))
    return orders


def play_track(rows, features, log_probabilities, neutral_scores=None, rule=None,
               frames_per_still=FRAMES_PER_STILL, window_length=WINDOW_LENGTH):
    """
    Play one person's stills as a face track through the pipeline's baseline logic.

    Each still is held ``frames_per_still`` frames; a window answers every
    frame once ``window_length`` frames are in. ``rule`` None is the earlier
    rule (no neutral scores: the first low-motion frames are kept); otherwise
    (min_neutral, replace margin), and ``neutral_scores`` (one per row) rank
    the resting frames.
    Returns per answered frame: (row, window mean of absolute features,
    relative window mean or None, appearance log-probabilities of the frame,
    the face's resting appearance or None).
    """
    from fer_models.core.baseline import NeutralBaseline, READY
    from fer_models.core.window import FaceWindows

    baseline = NeutralBaseline(min_neutral=0.0, replace_margin=0.0) if rule is None else \
        NeutralBaseline(min_neutral=rule[0], replace_margin=rule[1])
    windows = FaceWindows(window_length)
    answers = []
    for step, row in enumerate(np.repeat(rows, frames_per_still)):
        log_p = log_probabilities[row]
        score = None if rule is None else float(neutral_scores[row])
        baseline.update(features[row], score, log_p)
        frames = windows.push(0, features[row], now=step)
        if frames is None:
            continue
        ready = baseline.state == READY
        answers.append((row, frames.mean(axis=0),
                        baseline.relative(frames).mean(axis=0) if ready else None, log_p,
                        baseline.resting_log_probabilities if ready else None))
    return answers


def _window_probabilities(model, means):
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(means)[:, None, :],
                                     dtype=torch.float32)).numpy().astype(np.float64)


def track_predictions(answers, absolute_model, relative_model, strength, typical, weight):
    """
    Return {arm: predicted class per answered frame} of played tracks (play_track's answers).

    Arms: each path and their late fusion (appearance weight ``weight``),
    off (absolute features, raw appearance) and auto (relative features and
    the resting correction once the face's baseline is ready, as off before).
    """
    from fer_models.core.fusion import fuse

    absolute = _window_probabilities(absolute_model, [a[1] for a in answers])
    landmark_auto = absolute.copy()
    ready = np.array([a[2] is not None for a in answers])
    if ready.any():
        landmark_auto[ready] = _window_probabilities(
            relative_model, [a[2] for a in answers if a[2] is not None])
    log_p = np.stack([a[3] for a in answers])
    shifted = log_p.copy()
    for index, answer in enumerate(answers):
        if answer[4] is not None:
            shifted[index] -= strength * (answer[4] - typical)
    appearance = np.exp(log_p)
    appearance_auto = np.exp(shifted - shifted.max(axis=1, keepdims=True))
    appearance_auto /= appearance_auto.sum(axis=1, keepdims=True)
    arms = {('landmark', 'off'): absolute, ('landmark', 'auto'): landmark_auto,
            ('appearance', 'off'): appearance, ('appearance', 'auto'): appearance_auto,
            ('late', 'off'): fuse(absolute, appearance, weight),
            ('late', 'auto'): fuse(landmark_auto, appearance_auto, weight)}
    return {arm: p.argmax(axis=1) for arm, p in arms.items()}, ready


def both_paths(run, folds=5, seed=0, log=print, temperature=1.0):
    """
    Return what the per-person baseline buys on each path, TFEID by performer.

    ``run``: the LODO-TFEID appearance run (never saw a TFEID performer),
    its logits divided by ``temperature`` (the scale of its log-probabilities
    sets the correction's strength).
    Per fold of performers: both landmark arms are trained on the other
    performers, the correction's typical resting output and its strength
    are fitted on them (one strength on their stills with labelled rests,
    one on their stills played as tracks); the fold's performers are scored
    as stills with their labelled neutral images as the rest (upper bound,
    the stills' strength) and as tracks through the pipeline's baseline
    logic in two orders and several resting-frame rules (the tracks').
    """
    import torch

    from fer_models.core.fusion import DEFAULT_APPEARANCE_WEIGHT, fuse
    from fer_models.research.protocol import group_folds

    torch.set_num_threads(1)
    features, labels, groups, found = tfeid_table()
    log_p, run_facts = appearance_log_probabilities(run, found, temperature)
    targets = np.array([LABELS.index(label) for label in labels])
    relative, usable = baseline_relative(features, labels, groups)
    resting = log_p - baseline_relative(log_p, labels, groups)[0]
    weight = DEFAULT_APPEARANCE_WEIGHT
    stills = {}
    tracks = {}
    fitted = []
    fold_gains = {order: [] for order in (NEUTRAL_FIRST, SHUFFLED)}

    def tally(store, key, predicted, truth):
        entry = store.setdefault(key, {'correct': 0, 'frames': 0, 'neutral_correct': 0,
                                       'neutral_frames': 0})
        entry['correct'] += int((predicted == truth).sum())
        entry['frames'] += int(len(truth))
        neutral = truth == LABELS.index(NEUTRAL)
        entry['neutral_correct'] += int((predicted[neutral] == truth[neutral]).sum())
        entry['neutral_frames'] += int(neutral.sum())

    for fold, persons in enumerate(group_folds(groups, folds, seed)):
        test = np.isin(groups, persons)
        train = ~test
        absolute_model, _ = train_arm(features, targets, groups, train & usable, seed)
        relative_model, _ = train_arm(relative, targets, groups, train & usable, seed)
        still_strength, typical = fit_strength(log_p, labels, groups, train)
        strength = fit_track_strength(features, log_p, labels, groups,
                                      np.unique(groups[train]), typical, seed)
        fitted.append({'fold': fold, 'persons': [str(p) for p in persons],
                       'strength': strength, 'still_strength': still_strength,
                       'typical': typical.round(4).tolist()})
        log(f'fold {fold}: strength {strength} on tracks, {still_strength} on stills')
        neutral = LABELS.index(NEUTRAL)
        landmark_neutral = _window_probabilities(absolute_model, features)[:, neutral]
        neutral_scores = {'appearance': np.exp(log_p[:, neutral]),
                          'both': (np.exp(log_p[:, neutral]) + landmark_neutral) / 2}
        scored = test & usable
        truth = targets[scored]
        landmark = {'off': _window_probabilities(absolute_model, features[scored]),
                    'auto': _window_probabilities(relative_model, relative[scored])}
        shifted = log_p[scored] - still_strength * (resting[scored] - typical)
        appearance = {'off': np.exp(log_p[scored]),
                      'auto': np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)}
        for mode in ('off', 'auto'):
            tally(stills, f'landmark {mode}', landmark[mode].argmax(axis=1), truth)
            tally(stills, f'appearance {mode}', appearance[mode].argmax(axis=1), truth)
            tally(stills, f'late {mode}',
                  fuse(landmark[mode], appearance[mode], weight).argmax(axis=1), truth)
        for order, person_rows in person_orders(labels, groups, persons, seed).items():
            for name, choice in RESTING_CHOICES.items():
                scores = neutral_scores[choice[0]] if choice else None
                answers = [a for rows in person_rows for a in play_track(
                    rows, features, log_p, scores, choice and choice[1:])]
                predictions, ready = track_predictions(
                    answers, absolute_model, relative_model, strength, typical, weight)
                truth = targets[[a[0] for a in answers]]
                store = tracks.setdefault(order, {}).setdefault(name, {})
                for (path, mode), predicted in predictions.items():
                    tally(store, f'{path} {mode}', predicted, truth)
                store.setdefault('ready', {'frames': 0, 'ready': 0})
                store['ready']['frames'] += int(len(ready))
                store['ready']['ready'] += int(ready.sum())
                if name == SHIPPED_CHOICE:
                    fold_gains[order].append(round(float(
                        (predictions[('late', 'auto')] == truth).mean()
                        - (predictions[('late', 'off')] == truth).mean()), 4))
    return {'run': run, 'run_facts': run_facts, 'folds': folds, 'seed': seed,
            'images': int(len(labels)), 'scored_stills': int(usable.sum()),
            'performers': int(len(np.unique(groups))),
            'frames_per_still': FRAMES_PER_STILL, 'window_length': WINDOW_LENGTH,
            'appearance_weight': weight, 'strengths': list(STRENGTHS), 'fitted': fitted,
            'stills': stills, 'tracks': tracks, 'fold_gains_late': fold_gains}
