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
The finished appearance runs (``appearance``) as exported crop models, scored through onnxruntime.

``dataset_probabilities(model_path, name)`` is the hook for stacking and
calibration: (N, 7) probabilities over ``protocol.LABELS`` for every sample
of a landmark set, in its cached order. ``export_run`` writes a run's best
checkpoint as the crop model a node loads, with the shipped decision rule
(``BALANCED_DECISION``).
"""

import json
import os

from fer_models.core.crops import ALIGNED_CROP, BOX_CROP, CROP_SIZE, CropClassifier, square_crop
from fer_models.core.landmarks import bbox_of
from fer_models.research import protocol
from fer_models.research.aligned import load_source, source_images
from fer_models.research.appearance import run_training_prior, runs_dir, study_run_name
from fer_models.research.metrics import classification_report, time_calls_ms
from fer_models.research.nets import remove_training_prior, scale_logits
import numpy as np


SHIPPED_NAME = 'ean_union'
# Export every run with its training prior removed from the logits
# (nets.remove_training_prior): the rule with the better strict LODO
# mean in appearance_union.json's 'decision_rule' (a test keeps them equal).
BALANCED_DECISION = True
# The landmark set scored for each protocol target.
TARGET_SOURCES = {'fer2013': 'fer2013_test', 'taiwanese': 'taiwanese', 'ckplus48': 'ckplus48'}


def dataset_probabilities(model_path, name, root=None):
    """
    Return (N, 7) probabilities over protocol.LABELS of a crop model on a landmark set.

    name: fer2013_train, fer2013_test, taiwanese or ckplus48; rows follow the
    landmark cache (``extract(name)``), CK+48's contempt rows included. The
    crop follows the model's metadata: aligned_v1 models get the cached
    aligned crops; box models (the first ean.onnx) get the 48x48 dataset
    images as they are for FER2013 and CK+48 (already face crops, as that
    model was trained and scored) and ``square_crop`` around the detected
    face for TFEID.
    """
    from fer_models.research.extract import extract

    model = CropClassifier(model_path)
    if model.crop == BOX_CROP:
        landmarks = extract(name, root=root)
        crops = []
        for index, image in enumerate(source_images(name, root)):
            if name == 'taiwanese':
                width, height = landmarks.sizes[index]
                image = square_crop(image, bbox_of(landmarks.points[index], width, height),
                                    size=model.size)
            elif image.ndim == 3:
                image = image[:, :, 0]
            crops.append(image)
        crops = np.stack(crops)
    else:
        crops = load_source(name, model.size, root).images
    probabilities = np.concatenate([model.predict(crops[start:start + 512])
                                    for start in range(0, len(crops), 512)])
    order = [model.labels.index(label) for label in protocol.LABELS]
    return probabilities[:, order]


def score(model_path, target, root=None):
    """Return the classification_report of a crop model on one protocol target."""
    source = TARGET_SOURCES[target]
    table = load_source(source, root=root)
    usable = table.usable()
    probabilities = dataset_probabilities(model_path, source, root)[usable]
    report = classification_report(table.labels[usable],
                                   [protocol.LABELS[i] for i in probabilities.argmax(axis=1)],
                                   protocol.LABELS)
    report['detection_rate'] = round(float(table.found.mean()), 4)
    return report


def latency_ms(model_path, runs=500):
    """Return (median, p90) onnxruntime ms to classify one crop, 1 thread."""
    model = CropClassifier(model_path, threads=1)
    crop = np.random.default_rng(0).random((1, 1, model.size, model.size), dtype=np.float32)
    timings = time_calls_ms(lambda: model.predict(crop), runs)
    return round(float(np.median(timings)), 3), round(float(np.percentile(timings, 90)), 3)


def load_result(target, variant='', size=CROP_SIZE, seed=0, unfinished=False):
    """
    Return the result.json of a study's run (target None: the union run), or None if missing.

    unfinished: a run still training (no result.json, or one older than its
    best.pt) is read from its best checkpoint (``checkpoint_result``);
    otherwise it counts as missing.
    """
    return read_run(study_run_name(target, variant, size, seed), unfinished)


def read_run(name, unfinished=False):
    """Return the result of the run folder ``name`` (see load_result), or None."""
    folder = os.path.join(runs_dir(), name)
    path, best = os.path.join(folder, 'result.json'), os.path.join(folder, 'best.pt')
    previous = None
    if os.path.isfile(path):
        with open(path) as handle:
            previous = json.load(handle)
        if not (os.path.isfile(best) and os.path.getmtime(best) > os.path.getmtime(path)):
            return previous
    if not unfinished or not os.path.isfile(best):
        return None
    return checkpoint_result(best, previous)


def checkpoint_result(best, previous=None):
    """
    Return the result of a run still training, from its best.pt; write nothing.

    status 'training'; epochs and validation accuracy are the best
    checkpoint's; the training prior is the run's (its split and recipe).
    """
    import torch

    from fer_models.research.aligned import load_union
    from fer_models.research.appearance import epoch_rows, Recipe, recorded_prior, split

    checkpoint = torch.load(best, map_location='cpu', weights_only=False)
    state, recipe = checkpoint['state'], Recipe(**checkpoint['recipe'])
    prior = (previous or {}).get('training_prior')
    if prior is None:
        table = load_union(recipe.size)
        fit_rows, _, _ = split(table, checkpoint['target'], recipe.validation_share, recipe.seed)
        rows = epoch_rows(table, fit_rows, recipe.small_repeat)
        prior = recorded_prior(table.targets()[rows], recipe)
    return {'name': os.path.basename(os.path.dirname(best)), 'target': checkpoint['target'],
            'status': 'training', 'recipe': checkpoint['recipe'], 'epochs': state['epoch'],
            'best_epoch': state['best_epoch'],
            'validation_accuracy': round(float(state['best_accuracy']), 4),
            'checkpoint': best, 'training_prior': prior}


def run_size(result):
    """Return the crop side of a run (runs older than Recipe.size: CROP_SIZE)."""
    return int(result['recipe'].get('size', CROP_SIZE))


def decided_model(result, balanced=BALANCED_DECISION, temperature=1.0):
    """
    Return (model in eval mode, decision metadata) of a run's best checkpoint.

    balanced: remove the run's training prior from the logits first, so the
    model decides as if every expression were equally likely. temperature:
    then divide the logits by it (``lodo.held_out_temperatures`` fits one on
    held-out datasets), which leaves every answer as it is.
    """
    from fer_models.research.distill import load_model

    model, _ = load_model(result['checkpoint'])
    if not balanced:
        decision = {'decision_rule': 'training prior (logits as trained)'}
    else:
        prior = run_training_prior(result)
        remove_training_prior(model, prior)
        decision = {'decision_rule': 'balanced: log(training prior) subtracted from the '
                                     'logits (every expression equally likely)',
                    'training_prior': json.dumps(dict(zip(protocol.LABELS, prior)))}
    if temperature != 1.0:
        scale_logits(model, temperature)
        decision['temperature'] = str(temperature)
    return model, decision


def crop_metadata(size):
    """Return the fer.* metadata of the aligned_v1 crop of side ``size``."""
    return {'crop': ALIGNED_CROP,
            'crop_description': 'fer_models.core.crops.aligned_crop: eyes level, '
                                'inter-ocular distance 0.37 of the side, eye centre at '
                                f'(0.5, 0.37), grayscale, {size}x{size}',
            'input_normalisation': 'grayscale aligned crop, float32 pixel / 255 in [0, 1]; '
                                   'the graph standardises with the training mean and std'}


def training_data(target):
    """Return the training data of a run holding ``target`` out (None: the union run)."""
    return ('FER2013 train + TFEID + CK+48 (7 basic classes, contempt left out)'
            if target is None else f'all protocol datasets except {target}')


def export_run(result, path, balanced=BALANCED_DECISION, temperature=1.0):
    """
    Export a run's best checkpoint to ONNX with the aligned_v1 crop in its metadata.

    balanced, temperature: see ``decided_model``.
    """
    from fer_models.research.ean import export_crop_model

    model, decision = decided_model(result, balanced, temperature)
    size = run_size(result)
    export_crop_model(model, path, model_name=SHIPPED_NAME if result['target'] is None
                      else result['name'], labels=protocol.LABELS, size=size, extra_metadata={
                          **crop_metadata(size), 'training_data': training_data(result['target']),
                          'run': result['name'],
                          'validation_accuracy': result['validation_accuracy'],
                          'epochs': result['epochs'], 'status': result['status'],
                          **decision})
    return CropClassifier(path)


def model_summary(path):
    """Return size, parameters and latency of an exported crop model."""
    import onnx

    graph = onnx.load(path)
    parameters = sum(int(np.prod(t.dims)) for t in graph.graph.initializer)
    median, p90 = latency_ms(path)
    return {'onnx_kb': round(os.path.getsize(path) / 1024, 1),
            'parameters_in_graph': parameters, 'ms_per_crop_1_thread': median,
            'ms_per_crop_1_thread_p90': p90}
