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
The one training loop of the appearance path, with hooks.

``Loop.run`` trains epoch after epoch: each epoch draws its order of rows,
makes each batch's augmented crops, sets the learning rate and takes a step
on the loss; then it scores validation accuracy, judges the epoch and writes
the run's checkpoints. What differs between recipes is a hook:

* ``loss``: cross-entropy, or the distillation loss against a teacher's
  soft labels (knowledge distillation);
* ``judge``: records the epoch in the state and says whether it is a new
  best (``new_best``: best validation accuracy; ``appearance.plateau_step``:
  learning-rate cuts and plateau stopping);
* ``checkpoint`` and ``best_checkpoint``: what ``last.pt`` (every epoch)
  and ``best.pt`` (on a new best) hold; ``RunFolder`` writes them
  atomically and resumes from them;
* ``order``, ``batch``, ``learning_rate``: sampling, augmentation, schedule;
* ``keep_going``: the budget (epoch count, cap, wall-clock minutes).

``distill.fit`` (FER2013 runs) and ``appearance.fit`` (union and LODO runs)
are built on it.
"""

from dataclasses import dataclass
import json
import os
import time
from typing import Callable, Optional

import torch


class RunFolder:
    """A run's folder: ``last.pt`` every epoch, ``best.pt`` on a new best, ``result.json``."""

    def __init__(self, directory):
        """Create the folder if needed."""
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.last = os.path.join(directory, 'last.pt')
        self.best = os.path.join(directory, 'best.pt')
        self.result = os.path.join(directory, 'result.json')

    def finished(self):
        """Return the run's result.json, or None before its first end."""
        if not os.path.isfile(self.result):
            return None
        with open(self.result) as handle:
            return json.load(handle)

    def resume(self):
        """Return the checkpoint of the last finished epoch, or None."""
        if not os.path.isfile(self.last):
            return None
        return torch.load(self.last, map_location='cpu', weights_only=False)

    def save(self, checkpoint, best=None):
        """Write ``last.pt`` (and ``best.pt`` when given), each atomically."""
        if best is not None:
            save_atomically(best, self.best)
        save_atomically(checkpoint, self.last)

    def write_result(self, result):
        """Write result.json."""
        with open(self.result, 'w') as handle:
            json.dump(result, handle, indent=1)


def save_atomically(checkpoint, path):
    """Save a checkpoint so that a crash never leaves half a file."""
    torch.save(checkpoint, path + '.tmp')
    os.replace(path + '.tmp', path)


def new_best(state, accuracy):
    """Judge an epoch by validation accuracy alone; return True on a new best."""
    if accuracy > state['best_accuracy']:
        state['best_accuracy'], state['best_epoch'] = accuracy, state['epoch']
        return True
    return False


@dataclass
class Loop:
    """One run's model, optimiser and hooks; ``run`` trains it."""

    model: torch.nn.Module
    optimiser: torch.optim.Optimizer
    folder: RunFolder
    batch_size: int
    steps: int  # batches per epoch
    order: Callable[[], torch.Tensor]  # the rows of one epoch, in training order
    batch: Callable[[torch.Tensor], torch.Tensor]  # augmented (N, 1, S, S) crops of rows
    learning_rate: Callable[[int, int], float]  # (epoch, step) -> learning rate
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, rows) -> loss
    validate: Callable[[], float]  # validation accuracy
    judge: Callable[[dict, float], bool]  # (state, accuracy) -> new best?
    checkpoint: Callable[[dict], dict]  # state -> last.pt content
    keep_going: Callable[[dict], bool]  # state -> train another epoch?
    summary: Callable[[int, float, float, dict], str]  # (epoch, accuracy, seconds, state)
    progress: Optional[Callable[[int, int, float, float], Optional[str]]] = None
    history: Callable[[dict], dict] = lambda state: {}  # extra history entries of an epoch
    best_checkpoint: Callable[[dict], dict] = lambda checkpoint: checkpoint  # best.pt content
    log: Callable[[str], None] = print

    def train_epoch(self, epoch, order):
        """Take one step per batch of ``order``; return (mean loss, seconds)."""
        self.model.train()
        started = time.monotonic()
        loss_sum, seen = 0.0, 0
        for step in range(self.steps):
            rows = order[step * self.batch_size:(step + 1) * self.batch_size]
            crops = self.batch(rows)
            for group in self.optimiser.param_groups:
                group['lr'] = self.learning_rate(epoch, step)
            loss = self.loss(self.model.logits(crops), rows)
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
            loss_sum += loss.item() * len(rows)
            seen += len(rows)
            line = self.progress and self.progress(epoch, step, loss_sum / seen,
                                                   time.monotonic() - started)
            if line:
                self.log(line)
        return loss_sum / seen, time.monotonic() - started

    def run(self, state):
        """Train epochs while ``keep_going``; return the state (epoch, history, best)."""
        while self.keep_going(state):
            epoch = state['epoch'] + 1
            train_loss, seconds = self.train_epoch(epoch, self.order())
            accuracy = self.validate()
            state['epoch'] = epoch
            state['history'].append({'epoch': epoch, **self.history(state),
                                     'train_loss': round(train_loss, 4),
                                     'validation_accuracy': round(accuracy, 4),
                                     'seconds': round(seconds, 1)})
            improved = self.judge(state, accuracy)
            checkpoint = self.checkpoint(state)
            self.folder.save(checkpoint, self.best_checkpoint(checkpoint) if improved else None)
            self.log(self.summary(epoch, accuracy, seconds, state))
        return state
