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
Every committed report and model card is what its committed JSON renders to.

The studies render through ``fer_models.research.render``; these tests
re-render each report from the JSON next to it (no dataset, no training, no
ROS) and compare it with the committed file, so a change of the renderer or
of a study's text that would change a report's content fails here.
"""

import copy
import os
import shutil
from types import SimpleNamespace

from fer_models.research import render
from fer_models.research.neutral_baseline import load_sequences, load_track_protocol
from fer_models.research.protocol import DATASETS
from fer_models.research.studies import (
    affect, appearance, ean, faceapi, fusion, generalisation, head_pose, landmark, neutral,
    student, track)
import pytest

pytestmark = pytest.mark.pure

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORTS = os.path.join(PACKAGE, 'reports')
MODELS = os.path.join(PACKAGE, 'models')


def committed(folder, name):
    with open(os.path.join(folder, name)) as handle:
        return handle.read()


def study(name):
    return render.read_json(os.path.join(REPORTS, name))


def test_tables_percentages_and_empty_cells():
    assert render.percent(0.1234) == '12.3 %'
    assert render.percent(None) == 'n/a'
    assert render.percent(None, missing='—') == '—'
    assert render.points(-0.012) == '-1.2 points'
    assert render.table(['a', 'b', 'c'], 'lrr', [(1, '', 'x')]) == [
        '| a | b | c |', '| --- | ---: | ---: |', '| 1 | | x |']
    assert render.reliability_table([[0.0, 0.1, 0, 0.0, 0.0], [0.9, 1.0, 12, 0.95, 0.9]]) == [
        '| confidence bin | answers | mean confidence | observed accuracy |',
        '| --- | ---: | ---: | ---: |', '| 0.9–1.0 | 12 | 0.95 | 0.90 |']


def test_the_generated_part_keeps_what_stands_around_it(tmp_path):
    path = tmp_path / 'report.md'
    path.write_text('# Head\n\n<!-- b -->\nold\n<!-- e -->\nhand-written tail\n')
    render.write_generated_part(str(path), 'new', '<!-- b -->', '<!-- e -->', '# New\n')
    assert path.read_text() == '# Head\n\n<!-- b -->\nnew\n<!-- e -->\nhand-written tail\n'


def test_landmark_study(tmp_path):
    shutil.copy(os.path.join(REPORTS, 'landmark_study.md'), tmp_path)
    landmark.write_report(study('landmark_study.json'), str(tmp_path / 'landmark_study.md'),
                          str(tmp_path))
    assert committed(tmp_path, 'landmark_study.md') == committed(REPORTS, 'landmark_study.md')


def test_ean_study_and_its_model_card(tmp_path):
    ean.write_markdown(study('ean_study.json'),
                       SimpleNamespace(report_dir=str(tmp_path), card=str(tmp_path / 'ean.md')))
    assert committed(tmp_path, 'ean_study.md') == committed(REPORTS, 'ean_study.md')
    assert committed(tmp_path, 'ean.md') == committed(MODELS, 'ean.md')


@pytest.mark.parametrize('variant', ['', 'kdwheel', 'kdfaceapi'])
def test_appearance_studies_and_the_shipped_card(tmp_path, variant):
    stem = appearance.report_stem(variant)
    result = study(f'{stem}.json')
    appearance.write_markdown(result, str(tmp_path), str(tmp_path))
    assert committed(tmp_path, f'{stem}.md') == committed(REPORTS, f'{stem}.md')
    if variant == appearance.shipped_variant(MODELS):  # its card is the shipped model's
        assert committed(tmp_path, 'ean_union.md') == committed(MODELS, 'ean_union.md')


def test_generalisation_and_the_landmark_model_card():
    result = study('generalisation.json')
    figures = [f'generalisation_landmark_lodo_{dataset}.png' for dataset in DATASETS]
    assert generalisation.markdown(result, figures) == committed(REPORTS, 'generalisation.md')
    assert generalisation.model_card(result) == committed(MODELS, 'landmark_default.md')


def test_neutral_baseline():
    sequences = load_sequences(os.path.join(REPORTS, 'neutral_sequences.json'))
    track = load_track_protocol(os.path.join(REPORTS, 'neutral_track_protocol.json'),
                                os.path.join(REPORTS, 'neutral_track_resting.json'))
    assert neutral.markdown(study('neutral_baseline.json'), sequences, *track) == committed(
        REPORTS, 'neutral_baseline.md')


def test_track_protocol():
    text = track.markdown(study('track_protocol.json'))
    assert text == committed(REPORTS, 'track_protocol.md')
    assert "A candidate's replay" not in text


@pytest.mark.parametrize('variant', ['kdfaceapi', 'kdfaceapi_calibrated', 'kdpair', 'kdwheel'])
def test_a_candidates_track_replay_says_it_is_not_the_shipped_defaults(variant):
    name = f'track_protocol_{variant}.json'
    text = track.markdown(study(name), name)
    assert text == committed(REPORTS, f'track_protocol_{variant}.md')
    assert "A candidate's replay, not the shipped defaults" in text
    assert f'--json fer_models/reports/{name}' in text


def test_fusion_on_tfeid():
    assert fusion.markdown(study('fusion_study.json')) == committed(REPORTS, 'fusion_study.md')


def test_head_pose():
    assert head_pose.markdown(study('head_pose.json')) == committed(REPORTS, 'head_pose.md')


def test_appearance_student():
    assert student.markdown(study('appearance_student.json')) == committed(
        REPORTS, 'appearance_student.md')


def test_the_student_study_selects_nothing_on_partial_data():
    selection = copy.deepcopy(study('appearance_student.json')['selection'])
    selection['chosen'] = None
    selection['not_finished'] = ['lodo_fer2013']
    text = '\n'.join(student.selection_markdown(selection))
    assert '**Nothing is selected**' in text and '`lodo_fer2013`' in text


def test_valence_and_arousal():
    assert affect.markdown(study('valence_arousal.json')) == committed(REPORTS,
                                                                       'valence_arousal.md')


def test_faceapi_teacher():
    result = study('faceapi_teacher.json')
    text = faceapi.markdown(result['conversion_check'], result['accuracy'], result['union'])
    assert text == committed(REPORTS, 'faceapi_teacher.md')


def test_a_changed_number_changes_the_report():
    result = study('generalisation.json')
    changed = copy.deepcopy(result)
    changed['fusion']['modes']['late']['lodo_mean'] += 0.01
    figures = ['a.png']
    assert generalisation.markdown(changed, figures) != generalisation.markdown(result, figures)


def test_the_generalisation_report_gives_both_criteria():
    result = study('generalisation.json')
    figures = ['a.png']
    text = generalisation.markdown(result, figures)
    assert 'mean LODO (fixed)' in text and 'CK+48, six classes' in text
    changed = copy.deepcopy(result)
    changed['landmark'][0]['lodo_own_classes']['ckplus48']['accuracy'] += 0.01
    assert generalisation.markdown(changed, figures) != text


def test_fusion_candidates_are_ranked_by_each_criterion():
    result = study('generalisation.json')
    candidates = result['fusion_candidates']
    assert len(candidates) >= 2
    text = '\n'.join(generalisation.fusion_candidates_section(result))
    by_fixed = max(candidates, key=lambda k: candidates[k]['fixed']['late']['lodo_mean'])
    assert f'Best by the fixed criterion: **{by_fixed}**' in text
    # Swapping two candidates' fixed scores swaps the verdict.
    runner_up = sorted(candidates, key=lambda k: candidates[k]['fixed']['late']['lodo_mean'])[-2]
    swapped = copy.deepcopy(result)
    first, second = (swapped['fusion_candidates'][k]['fixed']['late'] for k in (by_fixed,
                                                                                runner_up))
    first['lodo_mean'], second['lodo_mean'] = second['lodo_mean'], first['lodo_mean']
    assert f'Best by the fixed criterion: **{runner_up}**' in '\n'.join(
        generalisation.fusion_candidates_section(swapped))
