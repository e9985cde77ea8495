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
Training of the appearance path on FER2013: teacher, EAN, iterative distillation.

Usage (``./fer train ean ...``, the EAN study ``studies.ean``)::

    ./fer train ean fit teacher --epochs 12          # teacher CNN, hard labels
    ./fer train ean fit ean_nokd --epochs 12         # EAN, hard labels (no KD)
    ./fer train ean fit ean_noatt --epochs 12        # EAN without attention
    ./fer train ean distill --teacher teacher --rounds 2 --epochs 12
    ./fer train ean report                           # study, ONNX export, model card data
    ./fer train ean all --epochs 12                  # all of the above in order

Every run lives in ``~/.cache/fer_ros/ean/runs/<name>/`` (``last.pt`` after
every epoch, ``best.pt`` by validation accuracy, ``result.json``); running
the same command again resumes an interrupted run and skips a finished one.
Model selection uses a validation split held out of FER2013 train; the test
split is only evaluated once a run is finished, for the report.

Distillation: round r trains a fresh EAN with the KD loss against the best
checkpoint of round r - 1 (round 1: ``--teacher``). The teacher's logits are
computed once per round on the un-augmented training crops and reused for
their augmented versions (flip and small affine jitter keep the expression,
and the teacher was trained to be invariant to them): on two shared CPU
cores this makes a KD epoch cost what a plain student epoch costs.
"""

import math
import os
import time

from fer_models.research.ean import build_model, kd_loss
from fer_models.research.nets import parameter_count
from fer_models.research.training_loop import Loop, new_best, RunFolder
import numpy as np
import torch
from torch.nn import functional

KINDS = {'teacher': 'teacher', 'ean_nokd': 'ean', 'ean_noatt': 'ean_noatt'}


def runs_dir():
    """Return the folder of training runs (outside the repository)."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'ean', 'runs')


def to_tensor(images):
    """Return (N, 1, 48, 48) float32 in [0, 1] from (N, 48, 48) uint8."""
    return torch.as_tensor(images, dtype=torch.float32)[:, None] / 255.0


def augment(batch, generator, rotation_deg=10.0, scale=0.1, shift=0.08):
    """
    Return (randomly flipped and affinely jittered batch, flip mask).

    One batched affine_grid/grid_sample: rotation, scale and shift drawn
    uniformly per crop, horizontal flip with probability 1/2.
    """
    n = batch.shape[0]

    def uniform(limit):
        return (torch.rand(n, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(rotation_deg))
    zoom = 1 + uniform(scale)
    flip = torch.rand(n, generator=generator) < 0.5
    sign = torch.where(flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / zoom * sign
    theta[:, 0, 1] = -torch.sin(angle) / zoom
    theta[:, 1, 0] = torch.sin(angle) / zoom * sign
    theta[:, 1, 1] = torch.cos(angle) / zoom
    theta[:, 0, 2] = uniform(shift)
    theta[:, 1, 2] = uniform(shift)
    grid = functional.affine_grid(theta, list(batch.shape), align_corners=False)
    return functional.grid_sample(batch, grid, padding_mode='border', align_corners=False), flip


def predict_logits(model, images, batch_size=512):
    """Return the logits of (N, 48, 48) uint8 crops (eval mode)."""
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            outputs.append(model.logits(to_tensor(images[start:start + batch_size])))
    return torch.cat(outputs) if outputs else torch.zeros(0, 7)


def accuracy(model, crops):
    """Return the accuracy of a model on a CropSet."""
    predictions = predict_logits(model, crops.images).argmax(dim=1).numpy()
    return float((predictions == crops.targets).mean())


def learning_rate(step, total_steps, warmup_steps, peak):
    """Return the learning rate: linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * peak * (1 + math.cos(math.pi * min(1.0, progress)))


def load_model(path):
    """Return (model in eval mode, checkpoint dict) of a saved checkpoint."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    model = build_model(checkpoint['kind'], mean=checkpoint['mean'], std=checkpoint['std'])
    model.load_state_dict(checkpoint['model'])
    return model.eval(), checkpoint


def format_duration(seconds):
    """Return seconds as h:mm:ss."""
    seconds = int(max(0, seconds))
    return f'{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}'


def teacher_soft_targets(teacher_path, images, log=print):
    """Return the logits of a checkpoint on (N, 48, 48) uint8 crops."""
    teacher, _ = load_model(teacher_path)
    started = time.monotonic()
    logits = predict_logits(teacher, images)
    log(f'teacher logits of {len(images)} crops: {time.monotonic() - started:.0f} s')
    return logits


def _progress(name, epochs, steps_per_epoch, total_steps, done_at_start):
    """Return the progress hook of a run: a line every 50 batches and at an epoch's end."""
    run_started = time.monotonic()

    def line(epoch, step, loss, elapsed):
        if (step + 1) % 50 and step + 1 != steps_per_epoch:
            return None
        per_step = elapsed / (step + 1)
        done = (epoch - 1 - done_at_start) * steps_per_epoch + step + 1
        remaining = (total_steps - (epoch - 1) * steps_per_epoch - step - 1)
        run_rate = (time.monotonic() - run_started) / done
        return (f'{name} epoch {epoch}/{epochs} batch {step + 1}/{steps_per_epoch} '
                f'loss {loss:.4f} {1e3 * per_step:.0f} ms/batch, '
                f'epoch ETA {format_duration(per_step * (steps_per_epoch - step - 1))}, '
                f'run ETA {format_duration(run_rate * remaining)}')

    return line


def fit(name, kind, data, epochs, *, teacher=None, temperature=4.0, alpha=0.5, batch_size=128,
        peak_lr=3e-3, weight_decay=5e-4, seed=0, max_batches=None, directory=None, log=print):
    """
    Train (or resume, or skip if finished) one run; return its result dict.

    data: (train, validation, test) CropSets. teacher: checkpoint path for
    the KD loss (None: cross-entropy only). max_batches limits batches per
    epoch (smoke tests, timing). The epochs run in ``training_loop.Loop``.
    """
    train, validation, test = data
    folder = RunFolder(directory or os.path.join(runs_dir(), name))
    result = folder.finished()
    if result and result.get('epochs') == epochs and max_batches is None:
        log(f'{name}: finished earlier (test accuracy {result["test_accuracy"]:.4f}); '
            f'delete {folder.directory} to retrain')
        return result
    mean = float(train.images.mean() / 255.0)
    std = float(train.images.std() / 255.0)
    torch.manual_seed(seed)
    model = build_model(kind, mean=mean, std=std)
    optimiser = torch.optim.AdamW(model.parameters(), lr=peak_lr, weight_decay=weight_decay)
    config = {'name': name, 'kind': kind, 'epochs': epochs, 'batch_size': batch_size,
              'peak_lr': peak_lr, 'weight_decay': weight_decay, 'seed': seed,
              'teacher': teacher, 'temperature': temperature if teacher else None,
              'alpha': alpha if teacher else None, 'train_size': len(train.targets),
              'validation_size': len(validation.targets)}
    state = {'epoch': 0, 'history': [], 'best_accuracy': -1.0, 'best_epoch': 0}
    checkpoint = folder.resume() if max_batches is None else None
    if checkpoint:
        if checkpoint['kind'] != kind or checkpoint['config'].get('teacher') != teacher:
            raise ValueError(f'{folder.last} belongs to another configuration; delete '
                             f'{folder.directory}')
        model.load_state_dict(checkpoint['model'])
        optimiser.load_state_dict(checkpoint['optimiser'])
        state = checkpoint['state']
        log(f"{name}: resuming after epoch {state['epoch']} of {epochs}")
    soft = teacher_soft_targets(teacher, train.images, log) if teacher else None
    images = torch.as_tensor(train.images)
    targets = torch.as_tensor(train.targets)
    steps_per_epoch = math.ceil(len(targets) / batch_size)
    if max_batches:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    total_steps = steps_per_epoch * epochs
    warmup_steps = min(steps_per_epoch, max(1, total_steps // 10))
    generator = torch.Generator().manual_seed(seed + 1000 * state['epoch'])

    def loss(logits, rows):
        if soft is None:
            return functional.cross_entropy(logits, targets[rows])
        return kd_loss(logits, soft[rows], targets[rows], temperature, alpha)

    Loop(model, optimiser, folder, batch_size, steps_per_epoch,
         order=lambda: torch.randperm(len(targets), generator=generator),
         batch=lambda rows: augment(images[rows].float()[:, None] / 255.0, generator)[0],
         learning_rate=lambda epoch, step: learning_rate(
             (epoch - 1) * steps_per_epoch + step, total_steps, warmup_steps, peak_lr),
         loss=loss, validate=lambda: accuracy(model, validation), judge=new_best,
         checkpoint=lambda state: {'kind': kind, 'mean': mean, 'std': std, 'config': config,
                                   'model': model.state_dict(),
                                   'optimiser': optimiser.state_dict(), 'state': state},
         keep_going=lambda state: state['epoch'] < epochs,
         summary=lambda epoch, accuracy, seconds, state: (
             f'{name} epoch {epoch}/{epochs}: validation accuracy {accuracy:.4f} '
             f"(best {state['best_accuracy']:.4f} at epoch {state['best_epoch']}), "
             f'{seconds:.0f} s'),
         progress=_progress(name, epochs, steps_per_epoch, total_steps, state['epoch']),
         log=log).run(state)
    best, _ = load_model(folder.best)
    result = {**config, 'best_epoch': state['best_epoch'],
              'validation_accuracy': round(state['best_accuracy'], 4),
              'test_accuracy': round(accuracy(best, test), 4),
              'parameters': parameter_count(best), 'history': state['history'],
              'seconds_per_epoch': round(float(np.median(
                  [h['seconds'] for h in state['history']])), 1),
              'threads': torch.get_num_threads(), 'checkpoint': folder.best}
    if max_batches is None:
        folder.write_result(result)
    log(f"{name}: best validation accuracy {result['validation_accuracy']:.4f} at epoch "
        f"{result['best_epoch']}, test accuracy {result['test_accuracy']:.4f}")
    return result


def distill(data, teacher, rounds, epochs, temperature, alpha, seed=0, root=None, **options):
    """
    Run iterative teacher-student rounds; return the list of round results.

    Round r is the run ``ean_kd_r<r>`` (in ``root`` if given, else runs_dir()).
    """
    results = []
    for round_index in range(1, rounds + 1):
        name = f'ean_kd_r{round_index}'
        result = fit(name, 'ean', data, epochs, teacher=teacher, temperature=temperature,
                     alpha=alpha, seed=seed + round_index,
                     directory=os.path.join(root, name) if root else None, **options)
        result['round'] = round_index
        results.append(result)
        teacher = result['checkpoint']
    return results


def teacher_checkpoint(name):
    """Return the best.pt of a run name, or ``name`` itself if it is a file."""
    if os.path.isfile(name):
        return name
    path = os.path.join(runs_dir(), name, 'best.pt')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'no checkpoint {path}: train it first (./fer train ean fit '
                                f'{name})')
    return path


def time_batches(kind, data, batches=10, batch_size=128):
    """Return seconds per training batch of a fresh model (after one warm-up batch)."""
    train = data[0]
    model = build_model(kind)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    images = torch.as_tensor(train.images[:batch_size * (batches + 1)])
    targets = torch.as_tensor(train.targets[:batch_size * (batches + 1)])
    model.train()
    started = None
    for index in range(batches + 1):
        if index == 1:
            started = time.monotonic()
        rows = slice(index * batch_size, (index + 1) * batch_size)
        crops, _ = augment(images[rows].float()[:, None] / 255.0, generator)
        loss = functional.cross_entropy(model.logits(crops), targets[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return (time.monotonic() - started) / batches
