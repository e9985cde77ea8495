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

"""InputWatch: when silence on a node's input is worth a warning."""

from fer_ros.input_watch import InputWatch, ReportedStatus, UpstreamStatus


def test_silence_with_a_matched_publisher_is_reported_after_the_timeout():
    watch = InputWatch('/camera/image_raw', now=100.0)
    assert watch.check(104.9, timeout_s=5.0, publishers=1) is None
    report = watch.check(105.0, timeout_s=5.0, publishers=1)
    assert report.startswith('no message on /camera/image_raw for 5 s although 1 publisher(s)')
    assert 'Troubleshooting' in report and watch.silent


def test_silence_without_a_publisher_points_upstream():
    watch = InputWatch('/fer/landmarks', now=0.0)
    report = watch.check(60.0, timeout_s=5.0, publishers=0)
    assert report.startswith('no message on /fer/landmarks for 60 s: no publisher is matched')


def test_a_zero_timeout_never_reports():
    watch = InputWatch('/fer/landmarks', now=0.0)
    assert watch.check(600.0, timeout_s=0.0, publishers=2) is None
    assert not watch.silent


def test_a_message_ends_the_silence_and_restarts_the_clock():
    watch = InputWatch('/fer/features', now=0.0)
    assert not watch.message_seen(1.0)  # nothing was reported: nothing ends
    assert watch.check(7.0, timeout_s=5.0, publishers=1) is not None
    assert watch.message_seen(7.5)
    assert not watch.silent
    assert watch.check(12.0, timeout_s=5.0, publishers=1) is None
    assert watch.check(12.5, timeout_s=5.0, publishers=1) is not None


def upstream_of(*nodes):
    """Return a callable giving these UpstreamStatus entries."""
    return lambda: list(nodes)


def test_an_idle_node_upstream_is_named_with_what_it_says():
    watch = InputWatch('/fer/landmarks', now=0.0)
    idle = UpstreamStatus('/landmark_node', ReportedStatus(
        'no message on /camera/image_raw for 6 s', published_per_s=0.0, received_at=5.5))
    report = watch.check(6.0, timeout_s=5.0, publishers=1, upstream=upstream_of(idle))
    assert report == ('no message on /fer/landmarks for 6 s: /landmark_node publishes nothing '
                      '(no message on /camera/image_raw for 6 s)')
    assert 'DDS input broke' not in report


def test_a_busy_node_upstream_means_this_nodes_input_broke():
    watch = InputWatch('/fer/landmarks', now=0.0)
    busy = UpstreamStatus('/landmark_node', ReportedStatus('tracking 1 face(s)', 30.0, 5.5))
    report = watch.check(6.0, timeout_s=5.0, publishers=1, upstream=upstream_of(busy))
    assert report.startswith('no message on /fer/landmarks for 6 s although /landmark_node '
                             "publishes: this node's DDS input broke")


def test_a_status_counted_while_messages_still_arrived_blames_nobody_yet():
    # The upstream stopped at 10.0; its report at 10.8 counts 30 messages over
    # 9.8-10.8, the last of which reached this node. Only a report counted over
    # the silence alone (from 11.5 on, with a 1 s period) says why.
    watch = InputWatch('/fer/features', now=0.0, report_period_s=1.0)
    watch.message_seen(10.0)

    def report_with(now, message, published_per_s, received_at):
        buffer = UpstreamStatus('/feature_buffer_node', ReportedStatus(
            message, published_per_s, received_at))
        return watch.check(now, timeout_s=1.0, publishers=1, upstream=upstream_of(buffer))

    assert report_with(11.0, 'tracking 1 face(s)', 30.0, received_at=10.8) == (
        'no message on /fer/features for 1 s although 1 publisher(s) are matched (waiting '
        'for /feature_buffer_node to report why on /diagnostics)')
    assert report_with(12.0, 'no face in view', 0.0, received_at=11.8) == (
        'no message on /fer/features for 2 s: /feature_buffer_node publishes nothing (no '
        'face in view)')


def test_a_publisher_without_diagnostics_leaves_both_causes_open():
    watch = InputWatch('/camera/image_raw', now=0.0)
    player = UpstreamStatus('/rosbag2_player')
    report = watch.check(6.0, timeout_s=5.0, publishers=1, upstream=upstream_of(player))
    assert 'although 1 publisher(s) are matched: the source is paused, or' in report


def test_upstream_is_only_asked_when_the_input_is_silent():
    def unexpected():
        raise AssertionError('asked while the input is fine')

    watch = InputWatch('/fer/features', now=0.0)
    assert watch.check(1.0, timeout_s=5.0, publishers=1, upstream=unexpected) is None
