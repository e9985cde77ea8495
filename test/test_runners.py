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

"""The runners: fer_pipeline (composed) and fer_launch (one process per node)."""

import ipaddress
import os
import subprocess
import time

from fer_msgs.msg import Emotion
from fer_ros.nodes import ALL_NODE_NAMES, HRI_BRIDGE_NODE, node_class, NODE_NAMES
from fer_ros.runtime import (
    DDS_PROFILE_VARIABLE, executable, EXIT_BAD_CONFIGURATION, IMAGE_DDS_PROFILE, SMALL_DDS_PROFILE,
    use_fer_dds_defaults)
from fer_ros.tools.bench import descendants, process_name
from fer_ros.tools.launcher import node_commands
from ros_helpers import REPO
import yaml

CONFIG = f'{REPO}/config/fer.yaml'


def test_only_image_publishers_take_the_large_dds_segment(monkeypatch, tmp_path):
    assert [getattr(node_class(name), 'PUBLISHES_IMAGES', False) for name in NODE_NAMES] == [
        True, True, False, False]  # camera_node, landmark_node (debug_image), buffer, classifier
    monkeypatch.delenv(DDS_PROFILE_VARIABLE, raising=False)
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    use_fer_dds_defaults(publishes_images=False)
    small = os.environ[DDS_PROFILE_VARIABLE]
    assert small.endswith(f'config/{SMALL_DDS_PROFILE}') and os.path.isfile(small)
    # A launcher's fer_ros profile is a default that each node replaces ...
    use_fer_dds_defaults(publishes_images=True)
    large = os.environ[DDS_PROFILE_VARIABLE]
    assert large.endswith(f'config/{IMAGE_DDS_PROFILE}') and os.path.isfile(large)
    with open(large) as image_profile, open(small) as small_profile:
        assert '<segment_size>16777216<' in image_profile.read()
        assert '<segment_size>524288<' in small_profile.read()
    # Discovery opened on purpose: UDP on every interface, for every node.
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'SUBNET')
    use_fer_dds_defaults(publishes_images=False)
    lan = os.environ[DDS_PROFILE_VARIABLE]
    assert lan.endswith('config/fastdds_lan.xml') and os.path.isfile(lan)
    for profile in (small, large):
        with open(profile) as loopback:
            assert '<address>127.0.0.1</address>' in loopback.read()
    # ... and a profile of the user's is kept.
    own = tmp_path / 'my_profile.xml'
    monkeypatch.setenv(DDS_PROFILE_VARIABLE, str(own))
    use_fer_dds_defaults(publishes_images=False)
    assert os.environ[DDS_PROFILE_VARIABLE] == str(own)


def test_one_node_list_for_the_config_the_runners_and_the_launch_file(ros):
    with open(CONFIG) as config:
        sections = [name for name in yaml.safe_load(config) if name != '/**']
        assert sections == list(ALL_NODE_NAMES), \
            'config/fer.yaml sections differ from fer_ros.nodes.ALL_NODE_NAMES'
    for name in NODE_NAMES:
        assert os.access(executable(name), os.X_OK), f'{name} is not installed'
        node = node_class(name)(context=ros.context)
        assert node.get_name() == name
        node.destroy_node()
    commands = node_commands(CONFIG, source='sample')
    assert [os.path.basename(c[0]) for c in commands] == list(NODE_NAMES)
    assert all(c[1:4] == ['--ros-args', '--params-file', CONFIG] for c in commands)
    assert commands[0][-2:] == ['-p', 'camera_node:source:=sample']
    assert len(node_commands(CONFIG, camera=False)) == len(NODE_NAMES) - 1
    assert [os.path.basename(c[0]) for c in node_commands(CONFIG, hri=True)] == [
        *NODE_NAMES, HRI_BRIDGE_NODE]
    with open(f'{REPO}/launch/fer.launch.py') as launch_file:
        assert 'from fer_ros.nodes import' in launch_file.read()


def test_composed_pipeline_on_the_sample_face(ros, start_node):
    emotions = ros.record(Emotion, 'emotion')
    pipeline = start_node('fer_pipeline', '--source', 'sample', '--ros-args',
                          '--params-file', CONFIG)
    assert ros.spin_until(lambda: len(emotions) >= 30, timeout=60.0, processes=[pipeline]), \
        pipeline.output()[-3000:]
    assert {e.face_id for e in emotions} == {emotions[0].face_id}, 'one moving face, one id'
    # The sample is a smiling portrait (scikit-image astronaut).
    assert emotions[-1].label == 'happy', [e.label for e in emotions]
    assert emotions[-1].model_name == 'landmark_default+ean_union'  # late fusion by default

    image_topics = [name for name, types in ros.node.get_topic_names_and_types()
                    if 'sensor_msgs/msg/Image' in types]
    assert image_topics == ['/camera/image_raw'], image_topics


def test_fer_launch_runs_every_node_and_stops_them_all(ros, start_node):
    emotions = ros.record(Emotion, 'emotion')
    launcher = start_node('fer_launch', '--params-file', CONFIG, '--source', 'sample')
    assert ros.spin_until(lambda: len(emotions) >= 10, timeout=60.0, processes=[launcher]), \
        launcher.output()[-3000:]
    children = descendants(launcher.process.pid)
    assert sorted(process_name(pid) for pid in children) == sorted(NODE_NAMES)
    assert emotions[-1].label == 'happy'
    # PyTorch is for training only: loading it would triple a node's memory.
    for pid in children:
        with open(f'/proc/{pid}/maps') as maps:
            assert 'libtorch' not in maps.read(), f'{process_name(pid)} loaded PyTorch'
    assert launcher.stop() == 0
    time.sleep(0.5)
    assert not [pid for pid in children if os.path.exists(f'/proc/{pid}')], 'orphaned node'


def test_fer_launch_stops_everything_when_a_node_fails(start_node, tmp_path):
    with open(CONFIG) as config:
        params = yaml.safe_load(config)
    params['camera_node']['ros__parameters']['source'] = 'sample'
    params['feature_buffer_node']['ros__parameters']['feature_type'] = 'dlib68:nonsense'
    bad = tmp_path / 'bad.yaml'
    bad.write_text(yaml.safe_dump(params))
    launcher = start_node('fer_launch', '--params-file', str(bad))
    assert launcher.process.wait(timeout=30) == EXIT_BAD_CONFIGURATION
    output = launcher.output()
    assert "parameter 'feature_type'" in output
    assert 'feature_buffer_node exited with code 2; stopping the pipeline' in output


def test_runners_keep_dds_on_this_machine_by_default(tmp_path):
    from fer_ros.runtime import stop_child

    env = {k: v for k, v in os.environ.items()
           if k not in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE')}
    with open(tmp_path / 'launch.log', 'wb') as log:
        launcher = subprocess.Popen([executable('fer_launch'), '--params-file', CONFIG,
                                     '--no-camera'], env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20.0
        while len(descendants(launcher.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        children = descendants(launcher.pid)
        assert len(children) == 3, (tmp_path / 'launch.log').read_text()
        for pid in children:
            # Between fork and exec a child still shows the launcher's own
            # environment: read it once the node executable runs.
            while (b'_node' not in open(f'/proc/{pid}/cmdline', 'rb').read()
                   and time.monotonic() < deadline + 10.0):
                time.sleep(0.1)
            with open(f'/proc/{pid}/environ', 'rb') as environ:
                variables = dict(item.split(b'=', 1) for item in environ.read().split(b'\0')
                                 if b'=' in item)
            assert variables[b'ROS_AUTOMATIC_DISCOVERY_RANGE'] == b'LOCALHOST'
            assert variables[b'FASTDDS_DEFAULT_PROFILES_FILE'].endswith(b'config/fastdds.xml')
    finally:
        stop_child(launcher)


def udp_sockets(pid):
    """Return the local (address, port) of each UDP socket of process ``pid``, from /proc."""
    inodes = set()
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            target = os.readlink(f'/proc/{pid}/fd/{fd}')
        except FileNotFoundError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[len('socket:['):-1])
    found = []
    for table in ('udp', 'udp6'):
        with open(f'/proc/{pid}/net/{table}') as sockets:
            for row in list(sockets)[1:]:
                fields = row.split()
                if fields[9] not in inodes:
                    continue
                address, port = fields[1].split(':')
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word of the address in host (little-endian) order.
                words = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((str(ipaddress.ip_address(words)), int(port, 16)))
    return found


def test_nodes_bind_udp_on_loopback_only_with_localhost_discovery(ros, start_node):
    """Privacy: with the default LOCALHOST discovery no socket is reachable from a network."""
    assert os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    emotions = ros.record(Emotion, 'emotion')
    launcher = start_node('fer_launch', '--params-file', CONFIG, '--source', 'sample')
    # This test's own participant is rmw's plain LOCALHOST one: it still hears the nodes.
    assert ros.spin_until(lambda: len(emotions) >= 5, timeout=60.0, processes=[launcher]), \
        launcher.output()[-3000:]
    sockets = {process_name(pid): udp_sockets(pid) for pid in descendants(launcher.process.pid)}
    assert sorted(sockets) == sorted(NODE_NAMES)
    assert all(sockets.values()), sockets  # each node's sockets were found
    exposed = {name: [s for s in found if not ipaddress.ip_address(s[0]).is_loopback]
               for name, found in sockets.items()}
    assert not any(exposed.values()), f'bound beyond loopback: {exposed}'
