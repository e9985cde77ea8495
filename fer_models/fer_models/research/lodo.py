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
Cross-dataset evaluation: every image of FER2013, TFEID and CK+48 under the protocol.

``Samples`` holds every image of the protocol datasets (``protocol``) with
its landmarks; ``evaluate_landmark_recipe`` scores a ``LandmarkRecipe``
leave-one-dataset-out (LODO) and in-dataset; ``calibration_of`` and
``fusion_of`` judge temperatures, thresholds and fusion modes on held-out
predictions only. Accuracy counts every image of a target set: an image in
which the pipeline finds no face is an error, as it would be on the robot.
"""

from dataclasses import dataclass
import os

from fer_models.core.features import FeatureExtractor, FeatureSpec
from fer_models.research import calibration
from fer_models.research.extract import cache_dir, extract
from fer_models.research.metrics import classification_report
from fer_models.research.nets import fit_window_mlp, remove_training_prior, training_prior
from fer_models.research.protocol import (
    DATASETS, in_dataset_splits, LABELS, leave_one_dataset_out, validation_split,
    WINDOW_LENGTH)
import numpy as np


# Calibrated answers below this precision are better said as "unknown".
THRESHOLD_PRECISION = 0.6
# LODO targets whose models, like the shipped one, trained on FER2013 train.
CALIBRATION_SOURCES = ('taiwanese', 'ckplus48')
# Landmark caches (fer_models.research.extract) of each protocol dataset.
SOURCES = {'fer2013': ('fer2013_train', 'fer2013_test'), 'taiwanese': ('taiwanese',),
           'ckplus48': ('ckplus48',)}


@dataclass
class Samples:
    """Every image of the protocol datasets, with its landmarks when a face was found."""

    datasets: np.ndarray  # (N,) protocol dataset name
    parts: np.ndarray  # (N,) 'train' / 'test' for FER2013, '' elsewhere
    groups: np.ndarray  # (N,) person group, prefixed with the dataset
    targets: np.ndarray  # (N,) index into protocol.LABELS
    found: np.ndarray  # (N,) bool, a face was detected
    points: np.ndarray  # (N, 468, 3) normalised landmarks (zeros where not found)
    sizes: np.ndarray  # (N, 2) image width, height
    files: np.ndarray  # (N,) file name or FER2013 index

    def __len__(self):
        """Return the number of images."""
        return len(self.targets)

    def detection_rates(self):
        """Return {dataset[/part]: (faces found, images)}."""
        rates = {}
        for dataset in DATASETS:
            for part in np.unique(self.parts[self.datasets == dataset]):
                rows = (self.datasets == dataset) & (self.parts == part)
                name = f'{dataset}/{part}' if part else dataset
                rates[name] = (int(self.found[rows].sum()), int(rows.sum()))
        return rates


def load_samples(root=None):
    """
    Return the Samples of FER2013 (train and test), TFEID and CK+48.

    CK+48's contempt images are left out: the models use the 7 basic classes.
    """
    columns = {key: [] for key in Samples.__dataclass_fields__}
    for dataset, names in SOURCES.items():
        for name in names:
            landmarks = extract(name, root=root)
            keep = np.isin(landmarks.labels, LABELS)
            part = name.rpartition('_')[2] if dataset == 'fer2013' else ''
            columns['datasets'].append(np.full(keep.sum(), dataset))
            columns['parts'].append(np.full(keep.sum(), part))
            columns['groups'].append(np.char.add(f'{dataset}:', landmarks.groups[keep]))
            columns['targets'].append(np.array([LABELS.index(label)
                                                for label in landmarks.labels[keep]]))
            columns['found'].append(landmarks.found[keep])
            columns['points'].append(landmarks.points[keep])
            columns['sizes'].append(landmarks.sizes[keep])
            columns['files'].append(landmarks.files[keep])
    return Samples(**{key: np.concatenate(parts) for key, parts in columns.items()})


def landmark_features(samples, feature_type):
    """
    Return (N, frame_dim) float32 per-frame features (zeros where no face), cached.

    The features are the core extractor's, as feature_buffer_node computes them.
    """
    spec = FeatureSpec.parse(feature_type)
    key = f'{spec.name}-{len(samples)}-{int(samples.found.sum())}-{samples.points[:64].sum():.6f}'
    path = os.path.join(cache_dir(), 'features', key.replace(':', '_').replace('+', '_') + '.npy')
    if os.path.isfile(path):
        return np.load(path)
    extractor = FeatureExtractor(spec)
    features = np.zeros((len(samples), spec.frame_dim), np.float32)
    for row in np.flatnonzero(samples.found):
        width, height = samples.sizes[row]
        features[row] = extractor.frame(samples.points[row], width, height)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, features)
    return features


@dataclass(frozen=True)
class LandmarkRecipe:
    """How a landmark model is trained: features, dataset balance, epochs, MLP size."""

    feature_type: str = 'dlib68:coords+geometric'
    balance_datasets: bool = False
    max_epochs: int = 60
    hidden: int = 128
    # Remove the training mix of classes from the logits after training
    # (nets.remove_training_prior): decide as if every expression were
    # equally likely, as the appearance path does.
    balanced_decision: bool = False

    @property
    def name(self):
        """Return a short name for tables."""
        balance = ', datasets balanced' if self.balance_datasets else ''
        epochs = '' if self.max_epochs == 60 else f', up to {self.max_epochs} epochs'
        decision = ', balanced decision' if self.balanced_decision else ''
        return f'{self.feature_type} MLP{self.hidden}{balance}{epochs}{decision}'


def balanced_rows(rows, datasets, cap=8):
    """
    Return training row indices in which smaller datasets are repeated.

    Each dataset is repeated up to the size of the largest one (at most
    ``cap`` times), so that a few thousand posed faces are not drowned by
    FER2013's tens of thousands.
    """
    present = np.unique(datasets[rows])
    largest = max(int((datasets[rows] == d).sum()) for d in present)
    out = []
    for dataset in present:
        mine = rows[datasets[rows] == dataset]
        out.append(np.tile(mine, int(min(cap, max(1, largest // len(mine))))))
    return np.concatenate(out)


def fit_landmark_model(recipe, features, targets, datasets, fit, validation, seed=0):
    """Train an MLP on the ``fit`` rows, early-stopped on ``validation``; return (model, epoch)."""
    rows = np.flatnonzero(fit)
    if recipe.balance_datasets:
        rows = balanced_rows(rows, datasets)
    held = np.flatnonzero(validation)
    model, epoch = fit_window_mlp(features[rows], targets[rows], len(LABELS), recipe.max_epochs,
                                  seed, (features[held], targets[held]), check_every=5,
                                  hidden=recipe.hidden)
    if recipe.balanced_decision:
        # Plain cross-entropy: the prior in the logits is the training mix (power 0).
        remove_training_prior(model, training_prior(targets[rows], 0.0, len(LABELS)))
    return model, epoch


def export_recipe_model(samples, recipe, calibration_entry, train, path, *, model_name, seed=0,
                        target=None, extra_metadata=None):
    """
    Train ``recipe`` on the ``train`` rows, calibrate it and export it; return its facts.

    The shipped way (``./fer train generalisation ship``): a validation split
    by person of the training rows stops training early; the temperature
    follows the recipe's calibration entry (``calibration_of``): fitted on
    the validation persons (method ``validation``), none, or the
    cross-dataset one, which for a model held out from ``target`` is the one
    fitted without that dataset. Writes the metadata the shipped model has.
    """
    from fer_models.research.export import export_onnx
    from fer_models.research.nets import TemperatureScaled

    features = landmark_features(samples, recipe.feature_type)
    fit, validation = validation_split(train & samples.found, samples.groups, seed=seed)
    model, epoch = fit_landmark_model(recipe, features, samples.targets, samples.datasets, fit,
                                      validation, seed)
    method = calibration_entry['method']
    if method == 'validation':
        temperature = calibration.fit_temperature(
            predict_probabilities(model, features[validation]), samples.targets[validation])
        fitted_on = 'validation persons'
    elif method == 'none':
        temperature, fitted_on = 1.0, 'none (uncalibrated was best on unseen datasets)'
    else:
        temperature = (calibration_entry['shipped_temperature'] if target is None else
                       calibration_entry['per_target'][target]['temperature_cross_dataset'])
        fitted_on = 'cross-dataset (LODO held-out sets)'
    spec = FeatureSpec.parse(recipe.feature_type)
    export_onnx(TemperatureScaled(model, temperature).eval(), path, model_name=model_name,
                labels=list(LABELS), feature_type=spec.name, window_length=WINDOW_LENGTH,
                feature_dim=spec.dim, extra_metadata={
                    'recipe': recipe.name, 'temperature': f'{temperature:.4f}',
                    'temperature_fitted_on': fitted_on, **(extra_metadata or {})})
    return {'model_name': model_name, 'recipe': recipe.name, 'best_epoch': epoch,
            'temperature': round(float(temperature), 4), 'temperature_fitted_on': fitted_on,
            'training_images': int(fit.sum()), 'validation_images': int(validation.sum())}


def predict_probabilities(model, features):
    """Return (N, 7) probabilities of per-frame features (a still held over the window)."""
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(features[:, None, :], dtype=torch.float32)).numpy()


def score(samples, test, probabilities, classes=None):
    """
    Return the classification report of ``test`` rows; no face counts as an error.

    ``probabilities``: (N, 7) over every sample (rows without a face ignored).
    ``classes``: label indices the answer is restricted to (the argmax over
    those columns only); every label when None.
    """
    rows = np.flatnonzero(test)
    candidates = probabilities[rows]
    if classes is not None:
        candidates = np.where(np.isin(np.arange(len(LABELS)), classes), candidates, -np.inf)
    predicted = np.where(samples.found[rows], candidates.argmax(axis=1), -1)
    names = [LABELS[p] if p >= 0 else 'no_face' for p in predicted]
    truth = [LABELS[t] for t in samples.targets[rows]]
    report = classification_report(truth, names, list(LABELS))
    detected = samples.found[rows]
    report['accuracy_on_detected'] = round(float(
        (predicted[detected] == samples.targets[rows][detected]).mean()), 4)
    return report


def own_classes(samples, test):
    """Return the label indices that occur among the targets of the ``test`` rows."""
    return np.unique(samples.targets[np.flatnonzero(test)])


def own_classes_score(samples, test, probabilities):
    """
    Return the report of ``test`` rows with answers restricted to their own classes.

    A held-out set without some class (CK+48 has no neutral) is scored
    over the classes it has: each image's answer is the most probable of
    those classes, so a model gains nothing from never answering a class
    the set lacks. A set with every class scores as ``score`` does.
    """
    return score(samples, test, probabilities, own_classes(samples, test))


def lacks_classes(samples, test):
    """Return True when the ``test`` rows lack some label (their own-class score differs)."""
    return len(own_classes(samples, test)) < len(LABELS)


def held_out_run(samples, recipe, features, target, seed=0):
    """
    Train a recipe without ``target`` (LODO); return (test, validation, probabilities, epoch).

    ``test`` and ``validation`` are row masks, ``probabilities`` (N, 7) over
    every sample and ``epoch`` the early-stopping epoch.
    """
    train, test = leave_one_dataset_out(samples.datasets, samples.parts, samples.groups, target)
    fit, validation = validation_split(train & samples.found, samples.groups, seed=seed)
    model, epoch = fit_landmark_model(recipe, features, samples.targets, samples.datasets, fit,
                                      validation, seed)
    return test, validation, predict_probabilities(model, features), epoch


def evaluate_landmark_recipe(samples, recipe, folds=5, seed=0, progress=print):
    """
    Return {'lodo': {target: report}, 'in_dataset': {dataset: report}} of a recipe.

    Also returns the LODO test probabilities of every sample scored (NaN
    elsewhere) and the validation probabilities of each split, for stacking
    and calibration.
    """
    features = landmark_features(samples, recipe.feature_type)
    usable = samples.found
    targets, groups = samples.targets, samples.groups
    result = {'recipe': recipe.__dict__ | {'name': recipe.name}, 'lodo': {}, 'in_dataset': {}}
    lodo_probabilities = np.full((len(samples), len(LABELS)), np.nan, np.float32)
    validation_sets = {}
    for target in DATASETS:
        test, validation, probabilities, epoch = held_out_run(samples, recipe, features, target,
                                                              seed)
        lodo_probabilities[test] = probabilities[test]
        validation_sets[target] = (np.flatnonzero(validation), probabilities[validation])
        result['lodo'][target] = score(samples, test, probabilities) | {'best_epoch': epoch}
        if lacks_classes(samples, test):
            result.setdefault('lodo_own_classes', {})[target] = own_classes_score(
                samples, test, probabilities)
        progress(f"{recipe.name}: LODO {target} {result['lodo'][target]['accuracy']:.3f} "
                 f'(epoch {epoch})')
    for dataset in DATASETS:
        pooled = np.full((len(samples), len(LABELS)), np.nan, np.float32)
        tested = np.zeros(len(samples), bool)
        for index, (train, test) in enumerate(in_dataset_splits(
                samples.datasets, samples.parts, groups, dataset, folds, seed)):
            fit, validation = validation_split(train & usable, groups, seed=seed + index)
            model, _ = fit_landmark_model(recipe, features, targets, samples.datasets, fit,
                                          validation, seed + index)
            pooled[test] = predict_probabilities(model, features[test])
            tested |= test
        result['in_dataset'][dataset] = score(samples, tested, pooled)
        accuracy = result['in_dataset'][dataset]['accuracy']
        progress(f'{recipe.name}: in-dataset {dataset} {accuracy:.3f}')
    result['lodo_mean'] = round(float(np.mean(
        [result['lodo'][d]['accuracy'] for d in DATASETS])), 4)
    return result, lodo_probabilities, validation_sets


def calibration_of(samples, lodo_probabilities, validation_sets):
    """
    Return the calibration entry of a recipe's LODO runs.

    Two temperatures are compared on each held-out dataset (detected faces):

    * ``validation``: fitted on that split's validation persons, who come from
      the training datasets (in-domain);
    * ``cross-dataset``: fitted on the held-out predictions of *other* LODO
      splits, i.e. on a dataset their model did not see, as the robot's users
      are. The held-out dataset itself is never used for its own fit.

    Only splits whose training side holds FER2013 train, as the shipped
    model's does, judge and feed the choice (``CALIBRATION_SOURCES``): a
    model trained on a few posed faces alone is confidently wrong on web
    faces in a way no temperature fixes, and says nothing about the shipped
    model. The method (``none`` = no temperature, ``validation`` or
    ``cross_dataset``) with the lowest ECE on those splits is the one shipped;
    the confidence threshold is the lowest at which their calibrated answers
    reach ``THRESHOLD_PRECISION``, chosen for each target on the other
    sources only and, for the shipped model, on all sources pooled.
    """
    held_out, by_method = {}, {'none': {}, 'validation': {}, 'cross_dataset': {}}
    entry = {'per_target': {}, 'threshold_precision_target': THRESHOLD_PRECISION,
             'sources': list(CALIBRATION_SOURCES)}
    for target in DATASETS:
        rows = (samples.datasets == target) & samples.found & ~np.isnan(
            lodo_probabilities[:, 0])
        held_out[target] = (lodo_probabilities[rows], samples.targets[rows])
    cross_dataset = cross_dataset_temperatures(held_out)
    for target in DATASETS:
        rows, validation_probabilities = validation_sets[target]
        raw, truth = held_out[target]
        temperatures = {'none': 1.0, 'validation': calibration.fit_temperature(
            validation_probabilities, samples.targets[rows]),
            'cross_dataset': cross_dataset[target]}
        row = {}
        for method, temperature in temperatures.items():
            tempered = calibration.apply_temperature(raw, temperature)
            by_method[method][target] = tempered
            row[f'temperature_{method}'] = round(temperature, 3)
            row[f'ece_{method}'] = round(calibration.expected_calibration_error(tempered, truth),
                                         4)
        entry['per_target'][target] = row

    def pooled_ece(method, targets):
        truth = np.concatenate([held_out[d][1] for d in targets])
        probabilities = np.concatenate([by_method[method][d] for d in targets])
        return round(calibration.expected_calibration_error(probabilities, truth), 4)

    for scope, targets in (('all', DATASETS), ('sources', CALIBRATION_SOURCES)):
        for method in by_method:
            entry[f'ece_{method}_{scope}'] = pooled_ece(method, targets)
    method = min(by_method, key=lambda m: entry[f'ece_{m}_sources'])
    entry['method'] = method
    for target in DATASETS:
        others = [d for d in CALIBRATION_SOURCES if d != target]
        threshold = calibration.threshold_for_precision(
            np.concatenate([by_method[method][d] for d in others]),
            np.concatenate([held_out[d][1] for d in others]), THRESHOLD_PRECISION)
        probabilities, truth = by_method[method][target], held_out[target][1]
        accepted = probabilities.max(axis=1) >= threshold
        entry['per_target'][target].update({
            'threshold': threshold, 'coverage_at_threshold': round(float(accepted.mean()), 4),
            'accuracy_of_accepted': round(float(
                (probabilities.argmax(axis=1) == truth)[accepted].mean()), 4)
            if accepted.any() else None})
    sources = np.concatenate([by_method[method][d] for d in CALIBRATION_SOURCES])
    sources_truth = np.concatenate([held_out[d][1] for d in CALIBRATION_SOURCES])
    entry['reliability_sources'] = calibration.reliability(sources, sources_truth)
    entry['confidence_threshold'] = calibration.threshold_for_precision(
        sources, sources_truth, THRESHOLD_PRECISION)
    if method == 'cross_dataset':
        entry['shipped_temperature'] = round(cross_dataset['all'], 4)
    elif method == 'none':
        entry['shipped_temperature'] = 1.0
    return entry


def probabilities_path(recipe):
    """Return the cache file of a recipe's LODO and validation probabilities."""
    name = recipe.name.replace(':', '_').replace('+', '_').replace(' ', '_').replace(',', '')
    return os.path.join(cache_dir(), 'generalisation', f'{name}.npz')


def model_probabilities(samples, model):
    """
    Return (N, 7) probabilities over protocol.LABELS of an exported landmark model.

    Each image is a still held over the model's window, as the feature buffer
    emits it; rows without a face are computed too and ignored by ``score``.
    The model's classes are reordered to the protocol's (a model may lack some).
    """
    features = landmark_features(samples, model.feature_type)
    window = np.repeat(features[:, None, :], model.window_length, axis=1)
    raw = model.predict(window.astype(np.float32))[0]
    probabilities = np.zeros((len(samples), len(LABELS)), np.float32)
    for column, label in enumerate(model.labels):
        if label in LABELS:
            probabilities[:, LABELS.index(label)] = raw[:, column]
    return probabilities


def evaluate_model_file(samples, path):
    """
    Return {dataset: report} of an exported landmark model on every protocol dataset.

    For a model trained before this protocol (the previous default, TFEID
    only): on the datasets it never saw these are its cross-dataset numbers.
    """
    from fer_models.core.onnx_model import EmotionModel

    probabilities = model_probabilities(samples, EmotionModel(path))
    return {dataset: score(samples, held_out_rows(samples, dataset), probabilities)
            for dataset in DATASETS}


def appearance_lodo_probabilities(samples, model_paths):
    """
    Return (N, 7) appearance probabilities of each target's rows by its LODO crop model.

    ``model_paths``: {target dataset: ONNX crop model trained without it}.
    FER2013 train rows (never a target) and rows without a detected face
    (no crop on the robot either) are NaN.
    """
    from fer_models.research.appearance_runs import dataset_probabilities

    out = np.full((len(samples), len(LABELS)), np.nan, np.float32)
    for dataset, path in model_paths.items():
        for source in SOURCES[dataset]:
            if source == 'fer2013_train':
                continue
            part = source.rpartition('_')[2] if dataset == 'fer2013' else ''
            keep = np.isin(extract(source).labels, LABELS)
            rows = (samples.datasets == dataset) & (samples.parts == part)
            out[rows] = dataset_probabilities(path, source)[keep]
    out[~samples.found] = np.nan
    return out


def own_class_answers(samples, probabilities):
    """Return (N,) answers, each the argmax over the classes its row's dataset has."""
    answers = probabilities.argmax(axis=1)
    for dataset in np.unique(samples.datasets):
        rows = samples.datasets == dataset
        if lacks_classes(samples, rows):
            answers[rows] = np.where(np.isin(np.arange(len(LABELS)), own_classes(samples, rows)),
                                     probabilities[rows], -np.inf).argmax(axis=1)
    return answers


def held_out_rows(samples, target):
    """Return the rows a LODO model without ``target`` is scored on (FER2013: its test part)."""
    rows = samples.datasets == target
    if target == 'fer2013':
        rows &= samples.parts == 'test'
    return rows


def never_scored(samples):
    """Return the rows no LODO model is scored on: FER2013 train."""
    return (samples.datasets == 'fer2013') & (samples.parts == 'train')


def cross_dataset_temperatures(held_out):
    """
    Return {dataset: temperature, 'all': temperature} fitted across datasets.

    ``held_out``: {dataset: (probabilities, truth)} of the answers of the
    models that never saw each dataset. Each dataset's temperature (lowest
    negative log-likelihood) is fitted on the held-out answers of the other
    CALIBRATION_SOURCES, as late fusion's weight is on other datasets: no
    dataset calibrates itself. FER2013's held-out answers never calibrate:
    they come from a model trained on 1.9 k posed faces meeting web faces,
    far more overconfident than anything that ships. ``'all'``: the
    temperature over every source, the one a model trained on every dataset
    would ship with.
    """
    def fitted(datasets):
        return calibration.fit_temperature(np.concatenate([held_out[d][0] for d in datasets]),
                                           np.concatenate([held_out[d][1] for d in datasets]))

    temperatures = {target: fitted([d for d in CALIBRATION_SOURCES if d != target])
                    for target in DATASETS}
    temperatures['all'] = fitted(CALIBRATION_SOURCES)
    return temperatures


def held_out_temperatures(samples, probabilities):
    """
    Return held-out probabilities temperature-scaled per held-out dataset, and the temperatures.

    ``probabilities``: (N, 7) answers of the models that never saw each row
    (NaN: none); the temperatures are ``cross_dataset_temperatures`` of them.
    """
    answered = ~np.isnan(probabilities[:, 0])
    rows = {target: answered & held_out_rows(samples, target) for target in DATASETS}
    temperatures = cross_dataset_temperatures(
        {target: (probabilities[r], samples.targets[r]) for target, r in rows.items()})
    scaled = np.array(probabilities, copy=True)
    for target, r in rows.items():
        scaled[r] = calibration.apply_temperature(probabilities[r], temperatures[target])
    return scaled, {name: round(value, 4) for name, value in temperatures.items()}


def fusion_of(samples, landmark, appearance, weights=np.linspace(0.0, 1.0, 11)):
    """
    Return the LODO scores of each fusion mode and the stacker fitted on all targets.

    For each held-out dataset, whatever is learnt (late fusion's appearance_weight,
    the stacker) is fitted on the *other* datasets' held-out predictions,
    which came from models that did not train on them either. ``fixed``
    holds the same under the fixed criterion: datasets lacking a class
    (CK+48) scored over their own classes, the weights chosen that way.
    """
    present = samples.found & ~np.isnan(landmark[:, 0]) & ~np.isnan(appearance[:, 0])
    inputs = np.zeros((len(samples), 2 * len(LABELS)))
    inputs[present] = calibration.stacking_inputs(landmark[present], appearance[present])
    targets = samples.targets

    def late(weight):
        return (1 - weight) * np.nan_to_num(landmark) + weight * np.nan_to_num(appearance)

    def accuracy(probabilities, rows, fixed=False):
        answers = own_class_answers(samples, probabilities) if fixed else probabilities.argmax(
            axis=1)
        return float((answers[rows] == targets[rows]).mean())

    modes = {name: {} for name in ('landmark', 'appearance', 'late', 'stacked')}
    fixed_modes = {name: {} for name in modes}
    held_out_probabilities = {name: {} for name in modes}
    chosen_weights, fixed_weights = {}, {}
    for target in DATASETS:
        test = held_out_rows(samples, target)
        others = present & ~test & ~never_scored(samples)
        weight = max(weights, key=lambda w: accuracy(late(w), others))
        chosen_weights[target] = float(weight)
        fixed_weight = max(weights, key=lambda w: accuracy(late(w), others, fixed=True))
        fixed_weights[target] = float(fixed_weight)
        stacker = calibration.fit_stacker(inputs[others], targets[others], len(LABELS))
        stacked = np.full_like(landmark, np.nan)
        stacked[present] = calibration.stack(inputs[present], *stacker)
        blended = np.where(present[:, None], late(weight), np.nan)
        for name, probabilities in (('landmark', landmark), ('appearance', appearance),
                                    ('late', blended), ('stacked', stacked)):
            modes[name][target] = score(samples, test, np.nan_to_num(probabilities))
            held_out_probabilities[name][target] = (np.nan_to_num(probabilities[test]),
                                                    targets[test])
            if name == 'late':
                probabilities = np.where(present[:, None], late(fixed_weight), np.nan)
            fixed_modes[name][target] = own_classes_score(samples, test,
                                                          np.nan_to_num(probabilities))
    everything = present & ~never_scored(samples)
    weights_all, bias_all = calibration.fit_stacker(inputs[everything], targets[everything],
                                                    len(LABELS))
    # The shipped weight: the best mean over the three held-out datasets (each
    # counts once, whatever its size), as the selection criterion weighs them.
    held_out = [present & held_out_rows(samples, d) for d in DATASETS]
    shipped_appearance_weight = max(
        weights, key=lambda w: np.mean([accuracy(late(w), rows) for rows in held_out]))
    fixed_appearance_weight = max(weights, key=lambda w: np.mean(
        [accuracy(late(w), rows, fixed=True) for rows in held_out]))
    calibration_of_modes = {}
    for name, by_target in held_out_probabilities.items():
        # As for the landmark recipes: pooled over the held-out datasets whose
        # people have labelled frames close to a robot's view (TFEID, CK+48).
        probabilities = np.concatenate([by_target[d][0] for d in CALIBRATION_SOURCES])
        truth = np.concatenate([by_target[d][1] for d in CALIBRATION_SOURCES])
        calibration_of_modes[name] = {
            'ece_sources': round(calibration.expected_calibration_error(probabilities, truth),
                                 4),
            'confidence_threshold': calibration.threshold_for_precision(
                probabilities, truth, THRESHOLD_PRECISION),
            'reliability_sources': calibration.reliability(probabilities, truth)}
    return {
        'shipped_appearance_weight': round(float(shipped_appearance_weight), 2),
        'fixed': {'appearance_weight': round(float(fixed_appearance_weight), 2),
                  'appearance_weights_chosen_on_other_datasets': fixed_weights,
                  'modes': {name: {'lodo': reports, 'lodo_mean': round(float(np.mean(
                      [reports[d]['accuracy'] for d in DATASETS])), 4)}
                      for name, reports in fixed_modes.items()}},
        'calibration': calibration_of_modes, 'threshold_precision': THRESHOLD_PRECISION,
        'modes': {name: {'lodo': reports, 'lodo_mean': round(float(np.mean(
            [reports[d]['accuracy'] for d in DATASETS])), 4)} for name, reports in modes.items()},
        'appearance_weights_chosen_on_other_datasets': chosen_weights,
        'stacker': {'labels': list(LABELS), 'inputs': ['landmark', 'appearance'],
                    'weights': weights_all.round(6).tolist(), 'bias': bias_all.round(6).tolist(),
                    'fitted_on': 'the leave-one-dataset-out held-out predictions of both paths '
                                 'on FER2013 test, TFEID and CK+48'},
    }


def per_face_cost_ms(landmark_model_path, appearance_model_path, runs=300):
    """
    Return the median CPU ms per face and frame of each path's own work (1 thread).

    Landmark path: features of one frame, the window and the ONNX model;
    appearance path: the face crop and the crop model. MediaPipe itself,
    shared by both, is left out. Measured on scikit-image's astronaut.
    """
    from fer_models.core.crops import CropClassifier
    from fer_models.core.landmarks import detect_single_face
    from fer_models.core.onnx_model import EmotionModel
    from fer_models.research.metrics import time_calls_ms
    from skimage import data

    image = data.astronaut()
    face = detect_single_face(image)
    model = EmotionModel(landmark_model_path, threads=1)
    extractor = FeatureExtractor(model.feature_type)
    frames = np.repeat(extractor.frame(face.points, image.shape[1], image.shape[0])[None],
                       model.window_length, axis=0)

    def landmark_path():
        extractor.frame(face.points, image.shape[1], image.shape[0])
        model.predict(extractor.window(frames)[None])

    crop_model = CropClassifier(appearance_model_path, threads=1)
    return {name: round(float(np.median(time_calls_ms(work, runs))), 3) for name, work in (
        ('landmark', landmark_path),
        ('appearance', lambda: crop_model.classify_face(image, face.bbox, face.points)))}
