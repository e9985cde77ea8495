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

"""``./fer eval`` and ``./fer annotate`` run what config/fer.yaml ships; readable annotations."""

import json
import os

import cv2
from fer_models.core.annotate import draw_faces, FaceAnnotation, FONT, text_scale
from fer_models.core.fusion import fuse
from fer_models.research import annotate, evaluate, pipeline_params
import numpy as np
import pytest
from skimage import data
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED_YAML = os.path.join(REPO, 'config', 'fer.yaml')


def shipped(node):
    with open(SHIPPED_YAML) as handle:
        return yaml.safe_load(handle)[node]['ros__parameters']


@pytest.fixture(scope='module')
def astronaut():
    return data.astronaut()


def test_the_default_parameters_are_the_shipped_yaml():
    params = pipeline_params.load()
    classifier, landmark = shipped('emotion_classifier_node'), shipped('landmark_node')
    assert open(params.source).read() == open(SHIPPED_YAML).read()
    assert params.fusion == classifier['fusion']
    assert params.appearance_weight == classifier['appearance_weight']
    assert params.model_path == classifier['model_path']
    assert params.stacker_path == classifier['stacker_path']
    assert params.confidence_threshold == classifier['confidence_threshold']
    assert params.max_head_angle_deg == classifier['max_head_angle_deg']
    assert params.appearance_model_path == landmark['appearance_model_path']
    assert params.min_input_size == landmark['min_input_size']


def test_eval_by_default_fuses_both_paths_as_the_yaml_says(astronaut):
    params = pipeline_params.load()
    assert params.effective_fusion() == 'late', 'update this test with the shipped fusion mode'
    probabilities = {}
    for name, pipeline in (('shipped', None), ('landmark', 'landmark'),
                           ('appearance', 'appearance')):
        classifier = evaluate.StillImageClassifier(pipeline_params.with_pipeline(params, pipeline))
        try:
            probabilities[name] = classifier.classify(astronaut)[1]
        finally:
            classifier.close()
    expected = fuse(probabilities['landmark'], probabilities['appearance'],
                    shipped('emotion_classifier_node')['appearance_weight'])
    np.testing.assert_allclose(probabilities['shipped'], expected, atol=1e-6)
    assert not np.allclose(probabilities['shipped'], probabilities['landmark'], atol=1e-3)


def run_eval(tmp_path, astronaut, *options):
    cv2.imwrite(str(tmp_path / 'astronaut.png'), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    (tmp_path / 'labels.csv').write_text('file,label\nastronaut.png,happy\n')
    out = tmp_path / 'report.json'
    code = evaluate.main(['--images', str(tmp_path), '--labels', str(tmp_path / 'labels.csv'),
                          '--json', str(out), *options])
    return code, json.loads(out.read_text()) if code == 0 else None


def test_the_eval_report_says_which_pipeline_and_parameters_ran(tmp_path, astronaut):
    code, report = run_eval(tmp_path, astronaut)
    assert code == 0
    classifier = shipped('emotion_classifier_node')
    assert report['pipeline'] == classifier['fusion']
    assert report['params']['appearance_weight'] == classifier['appearance_weight']
    assert os.path.basename(report['appearance_model']) == shipped('landmark_node')[
        'appearance_model_path']
    assert report['params']['source'].endswith(os.path.join('config', 'fer.yaml'))
    code, report = run_eval(tmp_path, astronaut, '--pipeline', 'landmark')
    assert code == 0 and report['pipeline'] == 'landmark' and report['appearance_model'] is None


def test_eval_reads_a_users_params_file_and_refuses_what_stills_cannot_run(
        tmp_path, astronaut, capsys):
    with open(SHIPPED_YAML) as handle:
        params = yaml.safe_load(handle)
    params['emotion_classifier_node']['ros__parameters']['fusion'] = 'appearance'
    user_yaml = tmp_path / 'robot.yaml'
    user_yaml.write_text(yaml.safe_dump(params))
    code, report = run_eval(tmp_path, astronaut, '--params-file', str(user_yaml))
    assert code == 0 and report['pipeline'] == 'appearance'
    assert report['params']['source'] == str(user_yaml)
    # A still has no history: neutral_baseline auto reads it exactly as off.
    params['/**']['ros__parameters']['neutral_baseline'] = 'auto'  # config/fer.yaml's place
    user_yaml.write_text(yaml.safe_dump(params))
    auto_code, auto_report = run_eval(tmp_path, astronaut, '--params-file', str(user_yaml))
    assert auto_code == 0 and auto_report['model_name'] == 'landmark_default'
    assert auto_report['params']['neutral_baseline'] == 'auto'
    assert auto_report['per_image'] == report['per_image']
    params['/**']['ros__parameters']['neutral_baseline'] = 'sometimes'
    user_yaml.write_text(yaml.safe_dump(params))
    assert run_eval(tmp_path, astronaut, '--params-file', str(user_yaml))[0] == 2
    assert "neutral_baseline 'sometimes' is not one of off, auto" in capsys.readouterr().err


@pytest.mark.parametrize('size', [(160, 160), (1280, 720)])
def test_caption_text_is_readable_and_scales_with_the_image(size):
    width, height = size
    scale = text_scale(width, height)
    (_, text_height), _ = cv2.getTextSize('face 1: happy 0.27', FONT, scale, 1)
    assert text_height >= 11
    assert text_height >= 0.03 * min(width, height)


@pytest.mark.parametrize('side, footer', [
    (160, ''),  # landmark_node's debug image of a small frame: no footer, no enlargement
    (annotate.MIN_SIDE_PX, 'late fusion, appearance weight 0.6 (fer.yaml)'),
    (1280, 'late fusion, appearance weight 0.6 (fer.yaml)')])
def test_every_line_is_drawn_whole_and_tall_enough(side, footer):
    image = np.zeros((side, side, 3), np.uint8)
    face = FaceAnnotation((side * 0.1, side * 0.02, side * 0.8, side * 0.9),
                          np.full((478, 3), 0.5), 1, 'happy', 0.27, (2.0, 4.0, 0.0))
    drawn = draw_faces(image, [face], footer)
    rows = np.flatnonzero(np.all(drawn == 255, axis=2).any(axis=1))
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    assert len(runs) == 2 + bool(footer), rows
    # Ink of each line: most of the text height (the band keeps lines apart).
    assert all(len(run) >= 0.6 * max(11, 0.035 * side) for run in runs), [len(r) for r in runs]


def test_annotate_enlarges_a_small_face_and_says_which_pipeline_ran(tmp_path, astronaut, capsys):
    folder = tmp_path / 'in'
    folder.mkdir()
    small = cv2.resize(astronaut[:256, 96:352], (160, 160), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / 'small.png'), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    assert annotate.main(['--images', str(folder), '--out', str(tmp_path / 'out')]) == 0
    written = cv2.imread(str(tmp_path / 'out' / 'small.png'))
    assert written.shape[0] >= annotate.MIN_SIDE_PX and written.shape[1] >= annotate.MIN_SIDE_PX
    output = capsys.readouterr().out
    assert f'pipeline: {pipeline_params.load().summary()}' in output
    assert 'small.png: no face' not in output
