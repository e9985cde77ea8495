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

"""Managed nodes: driven through the standard lifecycle services, as a manager would."""

import os

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
import numpy as np
from ros_helpers import LifecycleClient, statuses_of
from sensor_msgs.msg import Image


def make_video(path, frames=20):
    """Write a small MJPG video; return its path."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 20, (64, 48))
    for index in range(frames):
        writer.write(np.full((48, 64, 3), 10 * index, np.uint8))
    writer.release()
    return str(path)


def open_files(pid):
    """Return the paths the process ``pid`` has open."""
    fd_dir = f'/proc/{pid}/fd'
    paths = set()
    for fd in os.listdir(fd_dir):
        try:
            paths.add(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass
    return paths


def test_camera_node_publishes_only_while_active_and_frees_its_source(ros, start_node,
                                                                      tmp_path):
    video = make_video(tmp_path / 'clip.avi')
    images = ros.record(Image, 'camera/image_raw', sensor_qos=True)
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    camera = start_node('camera_node', '--ros-args', '-p', f'source:={video}',
                        '-p', 'fps:=20.0', '-p', 'autostart:=false')
    lifecycle = LifecycleClient(ros, 'camera_node')
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    ros.spin_for(1.0)
    assert not images, 'an unconfigured node must not publish'
    assert video not in open_files(camera.process.pid)
    assert statuses_of(diagnostics, 'camera_node')[-1].message == 'unconfigured'

    assert lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
    assert ros.spin_until(lambda: len(images) >= 10, timeout=10.0, processes=[camera])
    assert video in open_files(camera.process.pid)

    assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
    assert video not in open_files(camera.process.pid), 'deactivation must free the source'
    ros.spin_for(0.3)  # frames already in flight
    paused = len(images)
    ros.spin_for(1.0)
    assert len(images) == paused, 'an inactive node must not publish'
    assert ros.spin_until(
        lambda: statuses_of(diagnostics, 'camera_node')[-1].message == 'inactive', timeout=5.0)

    assert lifecycle.transition(Transition.TRANSITION_ACTIVATE)
    assert ros.spin_until(lambda: len(images) >= paused + 10, timeout=10.0, processes=[camera])
    assert lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.transition(Transition.TRANSITION_CLEANUP)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert camera.alive()
