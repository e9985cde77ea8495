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
The runtime-only install: the nodes, ros2 launch and REP-155 without PyTorch or matplotlib.

One focused test (CI time): ``./fer setup --runtime`` builds, or reuses by
the hash of its requirements, a venv with requirements-runtime.txt alone and
its own workspace (install-runtime/); torch, onnx and matplotlib must not be
installed in it (not merely blocked), and ``ros2 launch ... hri:=true`` run
there must deliver /emotion and the sample face's REP-155 expression to this
process, which runs in the full environment: the same messages over real DDS.
"""

import json
import os
import signal
import subprocess

import pytest
from ros_helpers import REPO

# Run by the runtime venv's python: what is installed there, and where fer_ros is.
PROBE = """
import importlib.util, json, sys
spec = importlib.util.find_spec
print(json.dumps({
    'prefix': sys.prefix,
    'installed': [m for m in ('torch', 'onnx', 'matplotlib') if spec(m)],
    'missing': [m for m in ('rclpy', 'mediapipe', 'onnxruntime', 'hri_msgs', 'tf2_msgs',
                            'launch_ros') if not spec(m)],
    'fer_ros': spec('fer_ros').origin}))
"""
# Setting up from nothing takes a few minutes (pip, hri_msgs, tf2_msgs, colcon); later
# runs reuse the venv and the workspace.
SETUP_TIMEOUT_S = 900


def runtime_env():
    """Return an environment with nothing of the full venv in it, on this test's domain."""
    keep = ('HOME', 'USER', 'LANG', 'TERM', 'TMPDIR', 'XDG_CACHE_HOME', 'FER_DATA_DIR',
            'FER_LAUNCH_KIT', 'FER_HRI_MSGS', 'FER_TF2_MSGS', 'FER_PYTHON', 'ROS_DOMAIN_ID',
            'ROS_AUTOMATIC_DISCOVERY_RANGE')
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env['PATH'] = '/usr/local/bin:/usr/bin:/bin'
    env['FER_RUNTIME'] = '1'
    return env


def fer(*arguments, **options):
    """Run ./fer in the runtime environment; return the CompletedProcess."""
    return subprocess.run([os.path.join(REPO, 'fer'), *arguments], env=runtime_env(),
                          capture_output=True, text=True, cwd=REPO, **options)


def test_nodes_launch_and_rep155_run_without_torch_or_matplotlib(ros, tmp_path):
    try:
        from hri_msgs.msg import Expression, IdsList
    except ImportError as error:
        pytest.skip(f'{error}: ./fer setup builds hri_msgs from ../shared/ros4hri/hri_msgs')
    from fer_msgs.msg import Emotion

    setup = fer('setup', '--runtime', timeout=SETUP_TIMEOUT_S)
    assert setup.returncode == 0, setup.stderr[-3000:]
    probe = fer('run', 'python', '-c', PROBE, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert 'venv-runtime-' in found['prefix'], found
    assert found['installed'] == [], f"installed in the runtime venv: {found['installed']}"
    assert found['missing'] == [], f"missing in the runtime venv: {found['missing']}"
    assert '/install-runtime/' in found['fer_ros'], found

    emotions = ros.record(Emotion, '/emotion')
    tracked = ros.record(IdsList, '/humans/faces/tracked')
    expressions = []
    log = open(tmp_path / 'launch.log', 'w')
    launch = subprocess.Popen(
        [os.path.join(REPO, 'fer'), 'run', 'ros2', 'launch', 'fer_ros', 'fer.launch.py',
         'camera_source:=sample', 'hri:=true'], env=runtime_env(), cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def expression_seen():
            faces = {face for ids in tracked for face in ids.ids}
            for face in faces - {topic for topic, _ in expressions}:
                expressions.append((face, ros.record(
                    Expression, f'/humans/faces/{face}/expression')))
            return len(emotions) >= 10 and any(received for _, received in expressions)

        ok = ros.spin_until(expression_seen, 120.0)
        output = (tmp_path / 'launch.log').read_text()
        assert ok, output[-4000:]
    finally:
        if launch.poll() is None:
            os.killpg(launch.pid, signal.SIGINT)
            launch.wait(timeout=30)
    assert emotions[-1].label == 'happy' and emotions[-1].valence > 0
    assert any(e.expression == Expression.HAPPY for _, got in expressions for e in got)
