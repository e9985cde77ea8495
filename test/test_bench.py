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
./fer bench --soak --stages, short: the tool measures a real pipeline and reports.

Performance itself is judged from full benchmark runs (README), not here:
this only checks that a soak run produces complete, sane measurements.
"""

import json
import os

from fer_ros.tools import bench
import pytest


def test_short_soak_reports_latency_memory_and_drift(tmp_path, monkeypatch):
    own_domain = os.environ.get('ROS_DOMAIN_ID', '0')
    monkeypatch.setenv('ROS_DOMAIN_ID', own_domain)  # bench moves its process: undone after
    assert bench.main(['--soak', '12', '--warmup', '4', '--stages', '--out', str(tmp_path)]) == 0
    with open(tmp_path / 'bench.json') as report_file:
        report = json.load(report_file)
    # Its pipeline ran on a DDS domain of its own, away from this test run's.
    assert report['ros_domain_id'] in range(200, 233)
    assert str(report['ros_domain_id']) != own_domain
    (result,) = report['scenarios']
    assert result['scenario'] == 'processes-1face-30fps' and result['duration_s'] == 12
    assert result['emotions'] > 0 and 0 < result['latency_ms']['median'] < 1000
    assert result['latency_drift_ms'] is not None
    assert result['rss_growth_percent'] is not None and len(result['rss_timeline_mb']) >= 10
    assert set(result['processes']) == {'camera_node', 'landmark_node', 'feature_buffer_node',
                                        'emotion_classifier_node'}
    assert all(p['rss_mb'] > 0 and 0 < p['pss_mb'] <= p['rss_mb'] and p['cpu_ms_per_frame'] > 0
               for p in result['processes'].values())
    assert result['cpu_ms_per_frame'] == pytest.approx(
        sum(p['cpu_ms_per_frame'] for p in result['processes'].values()), abs=0.05)
    # The floor saw the sample's face on every frame, and the whole pipeline
    # costs more CPU than Face Mesh alone does.
    floor = result['floor']
    assert floor['frames'] > 100 and floor['faces_found_mean'] == 1
    assert 0 < floor['cpu_ms_per_frame'] < result['cpu_ms_per_frame']
    assert result['floor_ratio'] > 1
    assert set(report['stages_ms']) >= {'face_mesh_1face_ms', 'face_mesh_2face_ms',
                                        'features_per_frame_ms', 'onnx_model_ms',
                                        'appearance_crop_ms', 'appearance_model_ms',
                                        'image_serialise_ms', 'landmarks_to_msg_ms'}
    assert all(value > 0 for value in report['stages_ms'].values())
    # A bare rclpy node process is measured, and costs less than landmark_node's.
    assert 20 < report['bare_node_rss_mb'] < max(p['rss_mb'] for p in result['processes'].values())
    assert '| processes-1face-30fps |' in (tmp_path / 'bench.md').read_text()
    assert (tmp_path / 'latency_histogram.png').stat().st_size > 0
    history = tmp_path / 'history'
    assert bench.main(['--history', str(tmp_path / 'bench.json'), '--out', str(history)]) == 0
    row = next(line for line in (history / 'history.md').read_text().splitlines()
               if '| processes-1face-30fps |' in line)
    assert (f"| {result['cpu_ms_per_frame']} | {result['cpu_ms_per_camera_frame']} "
            f"| {floor['cpu_ms_per_frame']} |") in row
    # Per camera frame = per processed frame × the share of camera frames
    # processed (all of them, unless a busy machine made landmark_node drop some).
    assert result['cpu_ms_per_camera_frame'] == pytest.approx(
        result['cpu_ms_per_frame'] * (1 - result['dropped_frame_ratio']), rel=0.05)


def test_stages_time_the_configured_appearance_model_and_the_ones_asked_for(tmp_path):
    import yaml

    from fer_ros.runtime import default_params_file

    with open(default_params_file()) as config:
        params = yaml.safe_load(config)
    params['landmark_node']['ros__parameters']['appearance_model_path'] = 'ean.onnx'
    params_file = tmp_path / 'mine.yaml'
    params_file.write_text(yaml.safe_dump(params))
    out = tmp_path / 'out'
    assert bench.main(['--stages-only', '--params-file', str(params_file),
                       '--appearance-models', 'ean_union.onnx', '--out', str(out)]) == 0
    report = json.loads((out / 'bench.json').read_text())
    assert report['scenarios'] == [] and report['params_file'] == str(params_file)
    paths = report['appearance_paths']
    # The configured model first (the first ean.onnx: box crop), then the one asked for.
    assert [p['model_name'] for p in paths] == ['ean', 'ean_union']
    assert all(0 < p['crop_ms'] and 0 < p['model_ms'] < p['path_ms'] for p in paths)
    assert paths[1]['members'] and paths[1]['flip'] is False and paths[1]['input_px'] == 48
    assert report['stages_ms']['appearance_model_ms'] > 0
    text = (out / 'bench.md').read_text()
    assert f'`{str(params_file)}`' in text and '| `ean_union.onnx` (ean_union) |' in text
    # Appearance path off: nothing of it is timed.
    params['landmark_node']['ros__parameters']['appearance_model_path'] = ''
    params_file.write_text(yaml.safe_dump(params))
    assert bench.main(['--stages-only', '--params-file', str(params_file),
                       '--out', str(out)]) == 0
    report = json.loads((out / 'bench.json').read_text())
    assert report['appearance_paths'] == []
    assert 'appearance_model_ms' not in report['stages_ms']
