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
Several crop students in one ONNX graph, with optional flip test-time augmentation.

``export_ensemble(results, path, flip=..., combine=...)`` turns the best
checkpoints of finished appearance runs (their result.json dicts) into one
crop model: each member decides like ``appearance_runs.export_run`` (its
training prior removed), the crop is optionally mirrored inside the graph,
and the answers are averaged. A node loads it as any crop model
(``CropClassifier``: same input, same ``probabilities`` output, one
onnxruntime call per batch of faces); the ``fer.ensemble_*`` metadata says
what is inside.

Two ways to average, over every (member, view) pair:

* ``probability``: the mean of the probabilities;
* ``log_probability``: the softmax of the mean of the log-probabilities
  (a renormalised geometric mean; a confident member weighs more).

``combine_probabilities`` does the same on probabilities computed outside
the graph, which is how the selection study scores every candidate from
each member's answers once; a test holds the two equal.
"""

import json
import os
import re

from fer_models.core.crops import CROP_SIZE
from fer_models.research import protocol
from fer_models.research.appearance_runs import (
    crop_metadata, decided_model, run_size, training_data)
from fer_models.research.export import check_parity, write_onnx
import numpy as np

COMBINES = ('probability', 'log_probability')
# Probabilities are clipped here before their log (outside the graph only:
# inside it the members' log-softmax is exact).
MIN_PROBABILITY = 1e-12


def _ensemble_module(members, flip, combine):
    """Return the torch module of the ensemble (torch is imported only to export)."""
    import torch
    from torch import nn
    from torch.nn import functional

    class Ensemble(nn.Module):
        """Mean over members and views of crop-net answers; softmax output."""

        def __init__(self):
            super().__init__()
            self.members = nn.ModuleList(members)

        def forward(self, crops):
            # The mirrored crops join the batch: one pass per member.
            views = torch.cat([crops, torch.flip(crops, dims=[3])]) if flip else crops
            stacked = torch.stack([functional.log_softmax(member.logits(views), dim=-1)
                                   for member in self.members])
            # (members, views, N, classes): the views were stacked batch-wise.
            stacked = stacked.reshape(len(self.members), 2 if flip else 1, -1,
                                      stacked.shape[-1])
            if combine == 'log_probability':
                return torch.softmax(stacked.mean(dim=(0, 1)), dim=-1)
            return stacked.exp().mean(dim=(0, 1))

    return Ensemble().eval()


def combine_probabilities(per_member, combine):
    """
    Return (N, C) probabilities averaged over a list of (N, C) member (or view) answers.

    The graph's rule (see the module docstring), on answers computed outside it.
    """
    if combine not in COMBINES:
        raise ValueError(f"unknown combine '{combine}'; known: {', '.join(COMBINES)}")
    stacked = np.stack([np.asarray(p, np.float64) for p in per_member])
    if combine == 'probability':
        return stacked.mean(axis=0)
    mean = np.log(np.clip(stacked, MIN_PROBABILITY, 1.0)).mean(axis=0)
    exp = np.exp(mean - mean.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def check_members(results):
    """Raise ValueError unless the runs can share a graph: distinct, one crop side and target."""
    if not results:
        raise ValueError('an ensemble needs at least one run')
    names = [r['name'] for r in results]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"runs given twice: {', '.join(twice)}")
    sizes = {r['name']: run_size(r) for r in results}
    if len(set(sizes.values())) > 1:
        raise ValueError('the members take different crop sizes ('
                         + ', '.join(f'{n} {s} px' for n, s in sizes.items())
                         + '): one graph has one input')
    targets = {r['target'] for r in results}
    if len(targets) > 1:
        raise ValueError('the members hold out different datasets ('
                         + ', '.join(f"{r['name']} {r['target']}" for r in results) + ')')


def ensemble_name(results, flip):
    """Return the model name of an ensemble, e.g. ean_ensemble2_flip."""
    return f'ean_ensemble{len(results)}' + ('_flip' if flip else '')


def export_ensemble(results, path, *, flip=False, combine='probability', model_name=None,
                    seed=0):
    """
    Export finished runs (result.json dicts) as one averaging crop model; return CropClassifier.

    Every member decides as ``export_run`` does (balanced); ``flip`` mirrors
    each crop and averages both views. Raises ValueError for members that
    cannot share a graph (``check_members``) and export.ExportError when
    onnxruntime strays from PyTorch.
    """
    import torch

    from fer_models.core.crops import CropClassifier

    if combine not in COMBINES:
        raise ValueError(f"unknown combine '{combine}'; known: {', '.join(COMBINES)}")
    check_members(results)
    decided = [decided_model(result) for result in results]
    size = run_size(results[0])
    model = _ensemble_module([member for member, _ in decided], flip, combine)
    example = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(seed))
    write_onnx(model, example, path, 'crops', {
        'model_name': model_name or ensemble_name(results, flip),
        'labels': json.dumps(list(protocol.LABELS)), 'input': 'face_crop',
        'input_shape': json.dumps([1, size, size]), **crop_metadata(size),
        'training_data': training_data(results[0]['target']),
        'ensemble_members': json.dumps([r['name'] for r in results]),
        'ensemble_combine': combine,
        'flip_test_time_augmentation': json.dumps(bool(flip)),
        'decision_rule': 'balanced, per member: log(its training prior) subtracted from its '
                         'logits, then ' + ('the mean of the probabilities'
                                            if combine == 'probability' else
                                            'the softmax of the mean of the log-probabilities')
                         + ' over the members' + (' and the crop and its mirror' if flip else ''),
        'training_prior': json.dumps({r['name']: json.loads(decision['training_prior'])
                                      for r, (_, decision) in zip(results, decided)})})
    exported = CropClassifier(path)
    probe = torch.rand(5, 1, size, size, generator=torch.Generator().manual_seed(seed + 1))
    check_parity(model, probe, exported.predict(probe.numpy()))
    return exported


# A member of a candidate ensemble: a recipe variant ('plain' for the plain
# student) with the size and seed suffixes of its run names, e.g. kdwheel,
# plain_seed1, kdfaceapi_s64.
PLAIN = 'plain'
MEMBER_PATTERN = re.compile(r'^(?P<variant>[a-z]+?)(?:_s(?P<size>\d+))?(?:_seed(?P<seed>\d+))?$')
RUN_PATTERN = re.compile(r'^(?:(?P<variant>[a-z]+)_)?lodo_(?P<target>[a-z0-9]+)'
                         r'(?P<suffix>(?:_s\d+)?(?:_seed\d+)?)$')


def parse_member(member):
    """Return (variant, size, seed) of a member name; raise ValueError on a malformed one."""
    match = MEMBER_PATTERN.match(member)
    if not match:
        raise ValueError(f"member '{member}' is not <variant>[_s<size>][_seed<n>] (variant "
                         f"'{PLAIN}' for the plain student)")
    variant = '' if match['variant'] == PLAIN else match['variant']
    return variant, int(match['size'] or CROP_SIZE), int(match['seed'] or 0)


def member_run(member, target):
    """Return the run that stands for a member on a held-out ``target`` (study_run_name)."""
    from fer_models.research.appearance import study_run_name

    return study_run_name(target, *parse_member(member))


def discover_members(folder=None):
    """Return the members with a LODO run folder (best.pt) in the runs folder, sorted."""
    from fer_models.research.appearance import runs_dir

    folder = folder or runs_dir()
    members = set()
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        match = RUN_PATTERN.match(name)
        if match and match['variant'] != 'teacher' and \
                os.path.isfile(os.path.join(folder, name, 'best.pt')):
            members.add((match['variant'] or PLAIN) + match['suffix'])
    return sorted(members)


def run_answers(result, source, folder):
    """
    Return (N, 7) probabilities of a run (exported as it ships) on a source's crops and mirrors.

    Rows: the source's usable rows (protocol labels), in cached order; the
    crops at the run's size (``aligned.load_source``).
    """
    from fer_models.research.aligned import load_source
    from fer_models.research.appearance_runs import export_run

    table = load_source(source, run_size(result))
    crops = table.images[table.usable()]
    model = export_run(result, os.path.join(folder, f"{result['name']}.onnx"))
    mirrored = np.ascontiguousarray(crops[:, :, ::-1])
    batches = range(0, len(crops), 512)
    return (np.concatenate([model.predict(crops[i:i + 512]) for i in batches]),
            np.concatenate([model.predict(mirrored[i:i + 512]) for i in batches]))


def held_out_scores(source, probabilities):
    """
    Return {'all_classes': report, 'own_classes': report} of a source's usable rows.

    The generalisation study's rule (``lodo.score``): every image counts and
    an image in which MediaPipe found no face is an error. ``own_classes``
    restricts each answer to the classes the set has (CK+48 has no neutral).
    """
    from types import SimpleNamespace

    from fer_models.research.aligned import load_source
    from fer_models.research.lodo import own_classes_score, score

    table = load_source(source)
    usable = table.usable()
    rows = SimpleNamespace(found=table.found[usable], targets=table.targets()[usable])
    everything = np.ones(int(usable.sum()), bool)
    return {'all_classes': score(rows, everything, probabilities),
            'own_classes': own_classes_score(rows, everything, probabilities)}
