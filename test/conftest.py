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

"""Shared fixtures: real nodes on an isolated DDS domain, on localhost only."""

import os

import pytest

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
# Test runs take a DDS domain from these (measurement tools use 200-232).
TEST_DOMAINS = range(100, 200)


def pytest_configure(config):
    """
    Stop with a clear message when the workspace is not sourced (the pure lane needs none).

    Unless ROS_DOMAIN_ID is set, the run claims a DDS domain of its own for
    the whole session (fer_ros.tools.dds_domain: a lock, and no ROS node
    already there): two test runs on one machine that picked the same domain
    at random saw each other's nodes, and a node looked up by name could be
    the other run's.
    """
    if getattr(config, 'pure_lane', False):
        return
    try:
        from fer_msgs.msg import Emotion  # noqa: F401 (fer_msgs/msg/ alone is no build)
    except ImportError as error:
        pytest.exit(f'fer_msgs is not importable ({error}): run the tests with ./fer test, '
                    'or the pure lane alone with -m pure', returncode=4)
    if 'ROS_DOMAIN_ID' not in os.environ:
        from fer_ros.tools.dds_domain import claimed_dds_domain

        claim = claimed_dds_domain(TEST_DOMAINS)
        claim.__enter__()
        config.add_cleanup(lambda: claim.__exit__(None, None, None))


@pytest.fixture
def ros():
    """Yield an in-process test node; closed after the test."""
    from ros_helpers import RosTestNode

    node = RosTestNode()
    yield node
    node.close()


@pytest.fixture
def start_node(tmp_path):
    """Yield a function that starts a node process; all are stopped afterwards."""
    from ros_helpers import NodeProcess

    started = []

    def start(name, *args, env=None):
        process = NodeProcess(name, args, tmp_path, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope='session')
def astronaut():
    """Return the real astronaut portrait (RGB) and its detected face."""
    from fer_models.core.landmarks import detect_single_face
    from skimage import data

    image = data.astronaut()
    return image, detect_single_face(image)


@pytest.fixture
def labelled_bag(tmp_path):
    """Build with ./fer bag make a bag of four posed TFEID images (2 happy, 2 surprise)."""
    from fer_ros.tools import bag_tools
    from ros_helpers import TAIWANESE
    from stills import labels_csv

    if not os.path.isdir(TAIWANESE):
        pytest.skip(f'TFEID images not found in {TAIWANESE}')
    labels = tmp_path / 'labels.csv'
    labels.write_text(labels_csv())
    bag = str(tmp_path / 'posed')
    # 10 frames each, 9 blank frames (0.6 s at 15 fps) between them.
    assert bag_tools.main(['make', '--images', TAIWANESE, '--labels', str(labels), '--out', bag,
                           '--frames-per-image', '10', '--gap-frames', '9']) == 0
    return bag
