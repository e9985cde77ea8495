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

"""Diagnostics that blame the right node: an idle camera, a classifier whose input stopped."""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fer_msgs.msg import Emotion, FaceLandmarksArray
from ros_helpers import landmarks_of, statuses_of

QUICK = ('-p', 'input_timeout_s:=1.0')


def last_status(diagnostics, node_name):
    """Return the latest DiagnosticStatus of a node, or None."""
    statuses = statuses_of(diagnostics, node_name)
    return statuses[-1] if statuses else None


def test_with_the_camera_idle_each_node_names_the_silent_node_upstream(ros, start_node):
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    nodes = [start_node('camera_node', '--ros-args', '-p', 'source:=none'),
             start_node('landmark_node', '--ros-args', *QUICK),
             start_node('feature_buffer_node', '--ros-args', *QUICK)]

    def says(node_name, text):
        status = last_status(diagnostics, node_name)
        return status is not None and status.level == DiagnosticStatus.WARN and \
            text in status.message

    assert ros.spin_until(lambda: says('landmark_node', '/camera_node publishes nothing '
                                       "(source 'none': not publishing)"),
                          timeout=30.0, processes=nodes), last_status(diagnostics,
                                                                      'landmark_node')
    # Before, feature_buffer_node suggested its own DDS input broke.
    assert ros.spin_until(lambda: says('feature_buffer_node', 'no message on /fer/landmarks')
                          and says('feature_buffer_node', '/landmark_node publishes nothing '
                                   '(no message on /camera/image_raw'),
                          timeout=15.0, processes=nodes), last_status(diagnostics,
                                                                      'feature_buffer_node')
    assert 'DDS input broke' not in last_status(diagnostics, 'feature_buffer_node').message


def test_the_classifier_reports_stale_when_its_input_stops_and_ok_when_it_returns(
        ros, start_node, astronaut):
    _, face = astronaut
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    nodes = [start_node('feature_buffer_node', '--ros-args', *QUICK),
             start_node('emotion_classifier_node', '--ros-args', *QUICK)]
    publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    ros.wait_for_connections('feature_buffer_node', inputs=1, outputs=1, processes=nodes)
    ros.wait_for_connections('emotion_classifier_node', inputs=1, processes=nodes)

    def play():
        publisher.publish(landmarks_of(face, 1, ros.node.get_clock().now().to_msg()))
        ros.spin_for(0.03)
        return bool(emotions)

    assert ros.spin_until(play, timeout=15.0, processes=nodes)

    def stale_naming_the_idle_buffer():
        status = last_status(diagnostics, 'emotion_classifier_node')
        return status is not None and status.level == DiagnosticStatus.STALE and \
            '/feature_buffer_node publishes nothing (' in status.message

    assert ros.spin_until(stale_naming_the_idle_buffer, timeout=10.0, processes=nodes), \
        last_status(diagnostics, 'emotion_classifier_node')
    assert last_status(diagnostics, 'emotion_classifier_node').message.startswith(
        'no message on /fer/features for ')
    # The buffer's last report counted its last messages: that is no broken input.
    stale_reports = [status.message for status in statuses_of(
        diagnostics, 'emotion_classifier_node') if status.level == DiagnosticStatus.STALE]
    assert not [m for m in stale_reports if 'although /feature_buffer_node publishes:' in m], \
        stale_reports
    emotions.clear()
    assert ros.spin_until(play, timeout=15.0, processes=nodes)
    assert ros.spin_until(lambda: last_status(diagnostics, 'emotion_classifier_node').level
                          == DiagnosticStatus.OK, timeout=5.0, processes=nodes)
