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

"""Training and offline evaluation on real TFEID images (a few seconds)."""

import json
import os

from fer_models.core.fusion import DEFAULT_APPEARANCE_WEIGHT
from fer_models.core.onnx_model import EmotionModel
from fer_models.research import evaluate, pipeline_params
from fer_models.research.datasets import data_root, load_dataset
from fer_models.research.landmark_training import train_landmark
import pytest
from stills import labels_csv, RELIABLE_STILLS

TFEID = os.path.join(data_root(), 'taiwanese')
pytestmark = pytest.mark.skipif(not os.path.isdir(TFEID), reason=f'TFEID not found in {TFEID}')


def test_datasets_are_read_with_groups():
    records = load_dataset('taiwanese')
    assert len(records) == 988
    assert len({r.group for r in records}) == 23
    assert {r.label for r in records} == {'neutral', 'happy', 'sad', 'surprise', 'fear',
                                          'disgust', 'angry'}
    with pytest.raises(ValueError, match='unknown dataset'):
        load_dataset('mnist')


def test_smoke_training_exports_a_working_model(tmp_path):
    out = str(tmp_path / 'smoke.onnx')
    report = train_landmark('taiwanese', 'dlib68:coords+geometric', 4, folds=3, epochs=3,
                            seed=0, out=out, model_name='smoke', subset_groups=3)
    assert report['groups'] == 3 and len(report['fold_accuracy']) == 3
    assert 0.0 <= report['accuracy_mean'] <= 1.0
    assert report['n'] == sum(report['per_class'][c]['support'] for c in report['labels'])
    model = EmotionModel(out)
    assert (model.model_name, model.window_length, model.feature_dim) == ('smoke', 4, 151)


def test_eval_command_on_labelled_images(tmp_path, capsys):
    labels = tmp_path / 'labels.csv'
    # 'happiness': the CSV reader maps dataset spellings to canonical labels.
    labels.write_text(labels_csv(performer=True).replace('happy', 'happiness', 1))
    out = tmp_path / 'report.json'
    png = tmp_path / 'confusion.png'
    assert evaluate.main(['--images', TFEID, '--labels', str(labels), '--json', str(out),
                          '--confusion', str(png)]) == 0
    report = json.loads(out.read_text())
    assert report['n'] == 4 and report['n_no_face'] == 0
    assert report['accuracy'] == 1.0, report['per_image']
    assert set(report) >= {'macro_f1', 'per_class', 'confusion', 'labels'}
    assert png.stat().st_size > 1000
    assert 'accuracy=1.0' in capsys.readouterr().out


def test_eval_command_reports_bad_csv(tmp_path, capsys):
    labels = tmp_path / 'labels.csv'
    labels.write_text('name,label\nx.jpg,happy\n')
    assert evaluate.main(['--images', TFEID, '--labels', str(labels)]) == 2
    assert 'lacks column(s) file' in capsys.readouterr().err


@pytest.mark.parametrize('pipeline', ['appearance', 'fusion'])
def test_eval_command_runs_the_appearance_and_fusion_pipelines(tmp_path, pipeline):
    labels = tmp_path / 'labels.csv'
    labels.write_text(labels_csv(RELIABLE_STILLS[:2]))
    out = tmp_path / 'report.json'
    assert evaluate.main(['--images', TFEID, '--labels', str(labels), '--json', str(out),
                          '--pipeline', pipeline]) == 0
    report = json.loads(out.read_text())
    assert report['pipeline'] == pipeline_params.PIPELINE_NAMES[pipeline]
    assert report['n'] == 2 and report['n_no_face'] == 0
    assert report['appearance_model'].endswith('ean_union.onnx')
    assert report['appearance_weight'] == (DEFAULT_APPEARANCE_WEIGHT if pipeline == 'fusion'
                                           else None)
    assert {row['predicted'] for row in report['per_image']} <= set(report['labels'])
