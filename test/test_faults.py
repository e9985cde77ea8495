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

"""Faults a robot meets: a camera that goes and comes back, a silent input, a node restart."""

import os
import shutil

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fer_msgs.msg import Emotion, FaceLandmarksArray
from fer_ros.diagnostics import status_values
import numpy as np
from ros_helpers import REPO, reported_input_silence, statuses_of
from sensor_msgs.msg import Image
from std_msgs.msg import Header

CONFIG = os.path.join(REPO, 'config', 'fer.yaml')


def fill(folder, count=3):
    """Write ``count`` small grey frames into ``folder``."""
    folder.mkdir(exist_ok=True)
    for index in range(count):
        cv2.imwrite(str(folder / f'{index}.png'), np.full((48, 64, 3), 40 * index, np.uint8))


def test_camera_reports_a_vanished_folder_and_recovers_when_it_returns(ros, start_node,
                                                                       tmp_path):
    folder = tmp_path / 'frames'
    fill(folder)
    images = ros.record(Image, 'camera/image_raw', sensor_qos=True)
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    camera = start_node('camera_node', '--ros-args', '-p', f'source:={folder}',
                        '-p', 'fps:=20.0', '-p', 'retry_max_s:=0.5')
    assert ros.spin_until(lambda: len(images) >= 5, timeout=20.0, processes=[camera])

    shutil.rmtree(folder)

    def camera_error():
        statuses = statuses_of(diagnostics, 'camera_node')
        return statuses and statuses[-1].level == DiagnosticStatus.ERROR

    assert ros.spin_until(camera_error, timeout=10.0, processes=[camera])
    message = statuses_of(diagnostics, 'camera_node')[-1].message
    assert str(folder) in message and 'retrying in' in message, message
    ros.spin_for(0.5)
    before_return = len(images)

    fill(folder)
    assert ros.spin_until(lambda: len(images) >= before_return + 5, timeout=10.0,
                          processes=[camera]), 'camera_node did not recover'
    assert ros.spin_until(
        lambda: statuses_of(diagnostics, 'camera_node')[-1].level == DiagnosticStatus.OK,
        timeout=5.0)
    assert camera.alive()


def test_a_silent_input_with_a_matched_publisher_is_reported_and_clears(ros, start_node):
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    buffer = start_node('feature_buffer_node', '--ros-args', '-p', 'input_timeout_s:=1.0')
    publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    ros.wait_for_subscribers(publisher, processes=[buffer])

    def last_status():
        statuses = statuses_of(diagnostics, 'feature_buffer_node')
        return statuses[-1] if statuses else None

    # The node's own discovery of this publisher may lag ours on a loaded
    # machine: until then it rightly reports that no publisher is matched.
    def reported_with_match():
        status = last_status()
        return (status is not None and status.level == DiagnosticStatus.WARN
                and status.message.startswith('no message on /fer/landmarks for ')
                and 'although 1 publisher(s) are matched' in status.message)

    assert ros.spin_until(reported_with_match, timeout=15.0, processes=[buffer]), \
        last_status() and last_status().message
    assert 'no message on /fer/landmarks' in buffer.output()

    # A real stamp: a zero one is warned about (test_stamps.py).
    stamp = ros.node.get_clock().now().to_msg()
    publisher.publish(FaceLandmarksArray(header=Header(stamp=stamp)))
    assert ros.spin_until(lambda: last_status().level == DiagnosticStatus.OK, timeout=5.0,
                          processes=[buffer]), last_status().message
    assert 'messages arrive again' in buffer.output()

    # The node's own count of the publishers DDS matched on its input.
    def matched():
        return status_values(last_status())['input_publishers_matched']

    assert matched() == '1'
    ros.node.destroy_publisher(publisher)
    assert ros.spin_until(lambda: matched() == '0', timeout=10.0, processes=[buffer]), matched()


def test_pipeline_recovers_when_the_landmark_node_restarts(ros, start_node):
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    args = ('--ros-args', '--params-file', CONFIG)
    nodes = [start_node(name, *args) for name in
             ('feature_buffer_node', 'emotion_classifier_node')]
    landmark = start_node('landmark_node', *args)
    camera = start_node('camera_node', *args, '-p', 'source:=sample')
    assert ros.spin_until(lambda: len(emotions) >= 10, timeout=60.0,
                          processes=nodes + [landmark, camera])

    def crash(landmark):
        landmark.process.kill()  # no goodbye: the others must cope on their own
        landmark.process.wait()

    crash(landmark)
    ros.spin_for(1.0)
    after_crash = len(emotions)
    ros.spin_for(1.0)
    assert len(emotions) <= after_crash + 1, 'emotions without a landmark node'

    landmark = start_node('landmark_node', *args)
    if not ros.spin_until(lambda: len(emotions) >= after_crash + 10, timeout=30.0,
                          processes=nodes + [camera, landmark]):
        # A deaf restart (reported_input_silence): one more restart heals it.
        assert reported_input_silence(diagnostics, 'landmark_node', '/camera/image_raw'), \
            'no emotions after the restart, and no silence reported: ' \
            f"{[s.message for s in statuses_of(diagnostics, 'landmark_node')][-3:]}"
        crash(landmark)
        after_crash = len(emotions)
        landmark = start_node('landmark_node', *args)
        assert ros.spin_until(lambda: len(emotions) >= after_crash + 10, timeout=60.0,
                              processes=nodes + [camera, landmark]), \
            'no emotions after a second restart'
    assert emotions[-1].label == 'happy'  # the sample is a smiling portrait
    assert all(node.alive() for node in nodes + [camera, landmark])
