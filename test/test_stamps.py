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

"""Stamps that do not behave: per-face state stays bounded and faces are not reset."""

import itertools

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fer_msgs.msg import FaceLandmarksArray, FeatureWindow
from fer_ros.diagnostics import status_values
from ros_helpers import landmarks_of, statuses_of


def connected_buffer(ros, start_node, parameter):
    """Start feature_buffer_node with ``parameter``; return it and a matched input publisher."""
    node = start_node('feature_buffer_node', '--ros-args', '-p', parameter)
    publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    ros.wait_for_connections('feature_buffer_node', inputs=1, processes=[node])
    return node, publisher


def test_zero_stamps_are_warned_once_and_faces_kept_are_bounded(ros, start_node, astronaut):
    _, face = astronaut
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    node, publisher = connected_buffer(ros, start_node, 'max_faces_kept:=8')
    # A driver without a clock, and face ids that keep changing: with every
    # stamp 0 no face ever timed out (887 faces after 30 s on a robot).
    face_ids = itertools.count()

    def latest():
        statuses = statuses_of(diagnostics, 'feature_buffer_node')
        return status_values(statuses[-1]) if statuses else {}

    def sixty_received():
        publisher.publish(landmarks_of(face, next(face_ids), Time()))
        return int(latest().get('landmark_arrays_received', 0)) >= 60

    # Paced on what the node counts, not on what was sent: a busy node's
    # queue may drop a few arrays, and every one it gets is a new face.
    assert ros.spin_until(sixty_received, timeout=20.0, processes=[node]), latest()
    counts = latest()
    assert int(counts['faces_buffered']) <= 8, counts['faces_buffered']
    assert int(counts['stamps_zero']) == int(counts['landmark_arrays_received']), counts
    assert any(s.level == DiagnosticStatus.WARN and 'header stamps are zero' in s.message
               for s in statuses_of(diagnostics, 'feature_buffer_node'))
    assert node.output().count('header stamps are zero') == 1, 'warned once, then counted'


def test_one_stamp_far_in_the_future_resets_no_face(ros, start_node, astronaut):
    _, face = astronaut
    windows = ros.record(FeatureWindow, 'fer/features')
    node, publisher = connected_buffer(ros, start_node, 'window_length:=4')

    def now():
        return ros.node.get_clock().now().to_msg()

    for _ in range(4):
        publisher.publish(landmarks_of(face, 1, now()))
        ros.spin_for(0.03)
    assert ros.spin_until(lambda: windows, timeout=10.0, processes=[node])
    future = now()
    future.sec += 1_000_000
    publisher.publish(landmarks_of(face, 2, future))
    ros.spin_for(0.3)
    published = sum(w.face_id == 1 for w in windows)
    # One more frame of face 1 continues its full window: it was not expired
    # by the future stamp (before, its buffer was dropped and refilled).
    publisher.publish(landmarks_of(face, 1, now()))
    assert ros.spin_until(lambda: sum(w.face_id == 1 for w in windows) > published,
                          timeout=5.0, processes=[node]), 'face 1 lost its window'
    assert 'header stamp jumped' in node.output()
