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
launch/fer.launch.py for real: launch_pytest tests, and ros2 launch itself.

launch, launch_ros, launch_pytest and ros2cli have no PyPI wheels; ./fer
setup installs them from the ros2 launch kit (../shared/ros2_launch_kit).
"""

import os
import re
import signal
import subprocess
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fer_msgs.msg import Emotion
from fer_ros.diagnostics import status_values
from fer_ros.nodes import NODE_NAMES
from fer_ros.runtime import default_params_file
from fer_ros.tools.bag_tools import evaluate_bag, RUNNING
from fer_ros.tools.bench import descendants, process_name
from lifecycle_msgs.msg import State
import pytest
from ros_helpers import LifecycleClient, REPO, reported_input_silence, statuses_of
import yaml

try:
    import launch_pytest  # first: the repo's launch/ folder passes for a 'launch' package
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.launch_description_sources import PythonLaunchDescriptionSource
except ImportError as error:
    pytest.skip(f'{error}: ./fer setup installs launch, launch_ros, launch_pytest and '
                'ros2launch (no PyPI wheels) from the ros2 launch kit in '
                '../shared/ros2_launch_kit or FER_LAUNCH_KIT, and found none',
                allow_module_level=True)

LAUNCH_FILE = os.path.join(REPO, 'launch', 'fer.launch.py')
ROS2 = os.path.join(os.path.dirname(sys.executable), 'ros2')
# Tuned values that differ from config/fer.yaml's defaults.
TUNED = {'emotion_classifier_node': {'smoothing': 'majority', 'confidence_threshold': 0.55},
         'feature_buffer_node': {'stride': 2}}


def fer_launch(**arguments):
    """
    Return fer.launch.py with ``arguments``, and {executable: exit code} of its processes.

    The dictionary fills as processes exit: read it after the launch shut down.
    """
    exit_codes = {}

    def keep(event, context):
        exit_codes[os.path.basename(event.cmd[0])] = event.returncode

    description = LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(LAUNCH_FILE),
                                 launch_arguments=arguments.items()),
        RegisterEventHandler(OnProcessExit(on_exit=keep)),
        launch_pytest.actions.ReadyToTest(),
    ])
    return description, exit_codes


def write_params(path, sections):
    """Write config/fer.yaml with ``sections`` ({node: {name: value}}) changed; return the path."""
    with open(default_params_file()) as config:
        params = yaml.safe_load(config)
    for node, values in sections.items():
        section = params[node]['ros__parameters']
        assert all(section[k] != v for k, v in values.items()), f'{values} changes nothing'
        section.update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return str(path)


def tuned_parameters_of(ros, namespace=''):
    """Return the classifier's and the feature buffer's TUNED parameters, read live."""
    return {node: ros.parameters(f'{namespace}/{node}', values)
            for node, values in TUNED.items()}


def nodes_seen(ros, namespace='/'):
    """Return the names of the nodes discovered in ``namespace``."""
    return {name for name, ns in ros.node.get_node_names_and_namespaces() if ns == namespace}


def wait_for_emotions(ros, emotions, count=10, timeout=60.0):
    """Spin until ``count`` emotions arrived."""
    assert ros.spin_until(lambda: len(emotions) >= count, timeout), \
        f'{len(emotions)} /emotion messages in {timeout} s'


@launch_pytest.fixture
def sample_launch():
    """Run the default launch on the built-in sample face."""
    return fer_launch(camera_source='sample')


@pytest.mark.launch(fixture=sample_launch)
def test_default_launch_recognises_the_sample_and_every_node_reports_ok(sample_launch, ros):
    _, exit_codes = sample_launch
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')

    def all_ok():
        latest = [statuses_of(diagnostics, name)[-1:] for name in NODE_NAMES]
        return all(s and s[0].level == DiagnosticStatus.OK for s in latest)

    wait_for_emotions(ros, emotions)
    assert ros.spin_until(lambda: all_ok() and nodes_seen(ros) >= set(NODE_NAMES), 10.0), \
        ({name: [(s.level, s.message) for s in statuses_of(diagnostics, name)[-1:]]
          for name in NODE_NAMES}, nodes_seen(ros))
    # The sample is a smiling portrait (scikit-image astronaut).
    assert emotions[-1].label == 'happy', [e.label for e in emotions]
    assert emotions[-1].model_name == 'landmark_default+ean_union'  # late fusion by default
    yield
    assert exit_codes == dict.fromkeys(NODE_NAMES, 0)


@launch_pytest.fixture
def tuned_launch(tmp_path):
    """Run the launch with a tuned parameter file."""
    return fer_launch(camera_source='none', params_file=write_params(tmp_path / 'tuned.yaml',
                                                                     TUNED))


@pytest.mark.launch(fixture=tuned_launch)
def test_params_file_sets_the_nodes_live_parameters(tuned_launch, ros):
    assert tuned_parameters_of(ros) == TUNED


@launch_pytest.fixture
def composed_launch(tmp_path):
    """Run the single-process pipeline in a namespace, with a tuned parameter file."""
    return fer_launch(camera_source='sample', composed='true', namespace='front',
                      params_file=write_params(tmp_path / 'tuned.yaml', TUNED))


@pytest.mark.launch(fixture=composed_launch)
def test_composed_in_a_namespace_is_one_process_with_every_node(composed_launch, ros):
    _, exit_codes = composed_launch
    emotions = ros.record(Emotion, '/front/emotion')
    wait_for_emotions(ros, emotions)
    assert ros.spin_until(lambda: nodes_seen(ros, '/front') >= set(NODE_NAMES), 10.0), \
        nodes_seen(ros, '/front')
    assert ros.node.count_publishers('/emotion') == 0
    # The file's sections name nodes outside any namespace: they must still apply.
    assert tuned_parameters_of(ros, '/front') == TUNED
    yield
    assert exit_codes == {'fer_pipeline': 0}


@launch_pytest.fixture
def neutral_baseline_launch():
    """Run the default launch on the sample face with only neutral_baseline:=auto set."""
    return fer_launch(camera_source='sample', neutral_baseline='auto')


@pytest.mark.launch(fixture=neutral_baseline_launch)
def test_neutral_baseline_argument_alone_runs_the_neutral_model(neutral_baseline_launch, ros):
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    # The sample portrait smiles: the appearance path never reads it as neutral
    # (baseline_min_neutral), so it gets no resting frame and is read as with
    # the baseline off, by the absolute model, while the neutral model waits.
    assert ros.spin_until(lambda: len(emotions) >= 30, 60.0), len(emotions)
    assert {(e.neutral_baseline, e.model_name) for e in emotions} == {
        ('collecting', 'landmark_default+ean_union')}

    def values(node):
        statuses = statuses_of(diagnostics, node)
        return status_values(statuses[-1]) if statuses else {}

    assert ros.spin_until(lambda: values('emotion_classifier_node').get(
        'model_path', '').endswith('landmark_neutral.onnx'), 10.0), \
        values('emotion_classifier_node')
    assert ros.spin_until(lambda: values('feature_buffer_node').get(
        'resting_frames', '').endswith(': 0/20'), 10.0), values('feature_buffer_node')
    for node in ('feature_buffer_node', 'emotion_classifier_node'):
        assert ros.parameters(f'/{node}', ['neutral_baseline']) == {'neutral_baseline': 'auto'}
    yield


@launch_pytest.fixture
def neutral_baseline_yaml_launch(tmp_path):
    """
    Run the pipeline composed, its YAML's change neutral_baseline: auto in '/**'.

    And baseline_min_neutral 0: the sample portrait smiles, so with the
    default its baseline would never be ready.
    """
    with open(default_params_file()) as config:
        params = yaml.safe_load(config)
    assert params['/**']['ros__parameters']['neutral_baseline'] == 'off'
    params['/**']['ros__parameters']['neutral_baseline'] = 'auto'
    params['feature_buffer_node']['ros__parameters']['baseline_min_neutral'] = 0.0
    path = tmp_path / 'auto.yaml'
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return fer_launch(camera_source='sample', composed='true', params_file=str(path))


@pytest.mark.launch(fixture=neutral_baseline_yaml_launch)
def test_one_yaml_line_runs_the_neutral_model_composed(neutral_baseline_yaml_launch, ros):
    emotions = ros.record(Emotion, 'emotion')
    assert ros.spin_until(lambda: any(e.neutral_baseline == 'ready' for e in emotions), 60.0), \
        [(e.label, e.reason, e.model_name) for e in emotions[-3:]]
    assert emotions[-1].model_name == 'landmark_neutral+ean_union', emotions[-1].model_name
    yield


@launch_pytest.fixture
def cameraless_launch():
    """Run the launch without camera_node, waiting for frames from elsewhere."""
    return fer_launch(camera_source='none')


@pytest.mark.launch(fixture=cameraless_launch)
def test_frames_replayed_from_a_bag_are_labelled(cameraless_launch, labelled_bag):
    _, exit_codes = cameraless_launch
    report = evaluate_bag(labelled_bag, mode=RUNNING)
    assert report['frames'] == 76 and report['frames_without_answer'] == 0
    # window_length 8: 3 windows per image shown for 10 frames.
    assert report['n'] == 12
    assert report['accuracy'] == 1.0, report['confusion']
    yield
    assert set(exit_codes) == set(NODE_NAMES) - {'camera_node'}


@pytest.fixture
def ros2_launch():
    """
    Yield a function that starts ``ros2 launch fer_ros fer.launch.py ARGUMENTS``.

    Each in a session of its own, as from a terminal, output in a pipe; the
    whole session is killed afterwards if it still runs.
    """
    started = []

    def start(*arguments):
        launch = subprocess.Popen([ROS2, 'launch', 'fer_ros', 'fer.launch.py', *arguments],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        started.append(launch)
        return launch

    yield start
    for launch in started:
        if launch.poll() is None:
            os.killpg(launch.pid, signal.SIGKILL)
            launch.wait()


def test_show_args_lists_every_argument_and_the_readme_documents_them():
    shown = subprocess.run([ROS2, 'launch', 'fer_ros', 'fer.launch.py', '--show-args'],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    arguments = [line.strip().strip("':") for line in shown.splitlines()
                 if line.startswith("    '")]
    assert arguments == ['params_file', 'camera_source', 'composed', 'namespace', 'hri',
                         'neutral_baseline', 'log_level', 'respawn', 'respawn_delay']
    with open(os.path.join(REPO, 'README.md')) as readme:
        text = readme.read()
    assert not [a for a in arguments if f'`{a}' not in text], 'undocumented launch argument'


def test_an_out_of_range_parameter_fails_the_launch_and_names_it(ros2_launch, tmp_path):
    bad = write_params(tmp_path / 'bad.yaml', {'feature_buffer_node': {'window_length': 0}})
    launch = ros2_launch('camera_source:=sample', f'params_file:={bad}')
    output, _ = launch.communicate(timeout=60)
    assert launch.returncode == 1, output
    assert 'Parameter window_length out of range' in output, output
    assert 'feature_buffer_node exited with code 2' in output, output


def test_ctrl_c_stops_every_node_with_exit_code_0(ros, ros2_launch):
    """
    Ctrl-C in a terminal: SIGINT to the whole process group, twice.

    Each node gets the terminal's SIGINT and the one ros2 launch forwards.
    The second Ctrl-C, 0.1 s later, reaches nodes that are already exiting;
    with a single one, whether a repeat arrives that late is left to chance.
    """
    emotions = ros.record(Emotion, 'emotion')
    launch = ros2_launch('camera_source:=sample')
    wait_for_emotions(ros, emotions)
    nodes = {pid: process_name(pid) for pid in descendants(launch.pid)}
    assert sorted(nodes.values()) == sorted(NODE_NAMES)
    os.killpg(launch.pid, signal.SIGINT)
    time.sleep(0.1)
    os.killpg(launch.pid, signal.SIGINT)
    output, _ = launch.communicate(timeout=30)
    assert launch.returncode == 0, output
    for name in NODE_NAMES:
        assert re.search(rf'\[{name}-\d+\]: process has finished cleanly', output), output
    assert 'process has died' not in output, output
    assert not [pid for pid in nodes if os.path.exists(f'/proc/{pid}')], 'node left behind'


@pytest.mark.parametrize('composed, victim', [('false', 'landmark_node'),
                                              ('true', 'fer_pipeline')])
def test_a_killed_node_comes_back_active_and_emotions_return(ros, ros2_launch, composed,
                                                             victim):
    """respawn:=true (the default): SIGKILL, as the kernel's OOM killer or an abort would."""
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    launch = ros2_launch('camera_source:=sample', 'respawn_delay:=0.5', f'composed:={composed}')
    wait_for_emotions(ros, emotions)

    def kill_victim():
        pid = next(pid for pid in descendants(launch.pid) if process_name(pid) == victim)
        os.kill(pid, signal.SIGKILL)
        ros.spin_for(1.0)  # windows already in flight
        emotions.clear()
        diagnostics.clear()
        return pid

    killed = kill_victim()
    if not ros.spin_until(lambda: len(emotions) >= 10, timeout=45.0):
        # A deaf restart (reported_input_silence): the next respawn heals it.
        assert reported_input_silence(diagnostics, 'landmark_node', '/camera/image_raw'), \
            f'{len(emotions)} /emotion messages after the restart, and no silence reported'
        killed = kill_victim()
        wait_for_emotions(ros, emotions, timeout=60.0)
    assert launch.poll() is None, launch.communicate(timeout=10)[0]
    processes = {process_name(pid): pid for pid in descendants(launch.pid)}
    assert sorted(processes) == (['fer_pipeline'] if composed == 'true' else sorted(NODE_NAMES))
    assert processes[victim] != killed
    # It configured and activated itself again, as at start-up.
    assert LifecycleClient(ros, 'landmark_node').state() == State.PRIMARY_STATE_ACTIVE
    os.killpg(launch.pid, signal.SIGINT)  # Ctrl-C, twice (see the test above)
    time.sleep(0.1)
    os.killpg(launch.pid, signal.SIGINT)
    output, _ = launch.communicate(timeout=30)
    assert f'{victim} exited with code {-signal.SIGKILL}; starting it again' in output, \
        output
    assert launch.returncode == 0, output
