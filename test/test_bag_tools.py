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

"""./fer bag: a labelled bag of real faces replayed through the live nodes."""

import os
import shutil

from fer_msgs.msg import Emotion
from fer_ros.tools import bag_tools, bench
from fer_ros.tools.bags import read_messages
from fer_ros.tools.dds_domain import claimed_dds_domain
import pytest
import rclpy
from rclpy.node import Node
from ros_helpers import TAIWANESE
from rosbags.rosbag2 import Reader
from stills import RELIABLE_STILLS


def test_made_bag_is_standard_rosbag2(labelled_bag):
    with Reader(labelled_bag) as reader:
        topics = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    assert topics == {'/camera/image_raw': ('sensor_msgs/msg/Image', 76),
                      '/fer/ground_truth': ('fer_msgs/msg/Emotion', 40)}
    truths = [m for _, _, m in read_messages(labelled_bag, {'/fer/ground_truth'})]
    assert isinstance(truths[0], Emotion) and truths[0].label == 'happy'


def test_bag_eval_replays_through_the_pipeline_and_records(labelled_bag, tmp_path):
    recorded = str(tmp_path / 'answers')
    report = bag_tools.evaluate_bag(labelled_bag, mode='composed', rate='max',
                                    record=recorded)
    assert report['frames'] == 76 and report['frames_without_answer'] == 0
    # window_length 8: 3 windows per image shown for 10 frames.
    assert report['n'] == 12
    assert report['accuracy'] == 1.0, report['confusion']
    assert report['latency_ms']['median'] > 0
    assert report['answers_by_neutral_baseline'] == {'off': 12}
    with Reader(recorded) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts == {'/fer/landmarks': 76, '/emotion': 12}


def test_track_column_plays_one_person_as_one_track(tmp_path):
    if not os.path.isdir(TAIWANESE):
        pytest.skip(f'TFEID images not found in {TAIWANESE}')
    labels = tmp_path / 'labels.csv'
    # The first two stills as one person, the last two as two others.
    labels.write_text('file,label,person\n' + ''.join(
        f'{name},{label},{person}\n'
        for (name, label), person in zip(RELIABLE_STILLS, ('a', 'a', 'b', 'c'))))
    bag = str(tmp_path / 'tracks')
    assert bag_tools.main(['make', '--images', TAIWANESE, '--labels', str(labels), '--out', bag,
                           '--frames-per-image', '2', '--gap-frames', '3',
                           '--track-column', 'person']) == 0
    frames = bag_tools.load_labelled_frames(bag)
    truths = ''.join('-' if truth is None else truth[0] for _, truth, _ in frames)
    assert truths == 'hhss---hh---ss---'
    assert bag_tools.main(['make', '--images', TAIWANESE, '--labels', str(labels), '--out',
                           str(tmp_path / 'bad'), '--track-column', 'nobody']) == 2


def test_bag_errors_are_reported(tmp_path, capsys):
    assert bag_tools.main(['eval', str(tmp_path / 'missing')]) == 2
    assert 'fer bag:' in capsys.readouterr().err
    assert bag_tools.main(['record', '--out', str(tmp_path / 'x'), '--topics',
                           '/camera/image_raw']) == 2
    assert 'images stay out of bags' in capsys.readouterr().err


def test_truncated_or_damaged_bag_is_refused_naming_the_file(labelled_bag, tmp_path, capsys):
    """Exit code 2 and one line naming the file, before any pipeline starts."""
    (mcap,) = [name for name in os.listdir(labelled_bag) if name.endswith('.mcap')]
    size = os.path.getsize(os.path.join(labelled_bag, mcap))
    truncated, zeroed = str(tmp_path / 'truncated'), str(tmp_path / 'zeroed')
    shutil.copytree(labelled_bag, truncated)
    os.truncate(os.path.join(truncated, mcap), size // 2)
    shutil.copytree(labelled_bag, zeroed)
    with open(os.path.join(zeroed, mcap), 'r+b') as damaged:
        damaged.seek(size // 3)
        damaged.write(bytes(4096))  # image bytes: the MCAP structure stays valid
    for bag, problem in ((truncated, 'truncated'), (zeroed, 'damaged')):
        assert bag_tools.main(['eval', bag]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f'fer bag: {os.path.join(bag, mcap)}: {problem}'), error
        assert 'Traceback' not in error
    assert bag_tools.main(['eval', str(tmp_path)]) == 2  # not a bag at all
    assert 'no metadata.yaml' in capsys.readouterr().err


def test_eval_refuses_to_report_answers_to_frames_it_did_not_send(labelled_bag, start_node,
                                                                  ros):
    """A pipeline with its own camera answers frames the replay never sent: no report."""
    emotions = ros.record(Emotion, 'emotion')
    pipeline = start_node('fer_pipeline', '--source', 'sample')
    assert ros.spin_until(lambda: emotions, timeout=60.0, processes=[pipeline])
    with pytest.raises(RuntimeError, match='answer frames this replay never sent.*another '
                       'pipeline shares DDS domain'):
        bag_tools.evaluate_bag(labelled_bag, mode=bag_tools.RUNNING)


def test_a_measurement_claims_its_dds_domain_exclusively(ros):
    own = int(os.environ['ROS_DOMAIN_ID'])
    spare = range(230, 232)
    with claimed_dds_domain(spare, look_s=0.5) as first:
        assert os.environ['ROS_DOMAIN_ID'] == str(first)
        with claimed_dds_domain(spare, look_s=0.5) as second:
            assert second != first
            with pytest.raises(RuntimeError, match='claimed by another run'):
                with claimed_dds_domain(spare, look_s=0.5):
                    pass
    assert os.environ['ROS_DOMAIN_ID'] == str(own)
    # A domain with a ROS node on it is skipped, though nobody holds its lock.
    other = rclpy.Context()
    rclpy.init(context=other, domain_id=spare.stop)
    node = Node('fer_other_run', context=other)
    try:
        with pytest.raises(RuntimeError, match=f'{spare.stop} in use by /fer_other_run'):
            with claimed_dds_domain(range(spare.stop, spare.stop + 1)):
                pass
    finally:
        node.destroy_node()
        rclpy.shutdown(context=other)
    # This test run's own domain is taken (claimed by the run, with this test's node on it).
    with pytest.raises(RuntimeError, match=f'no free DDS domain in {own}-{own}: {own} '):
        with claimed_dds_domain(range(own, own + 1)):
            pass


def test_bench_refuses_more_emotions_than_camera_frames():
    scenario = bench.Scenario('processes', 1, 30.0)
    bench.refuse_foreign_answers(scenario, 600, 20.0, 30.0)  # one per frame: fine
    with pytest.raises(RuntimeError, match='another pipeline answers'):
        bench.refuse_foreign_answers(scenario, 1200, 20.0, 30.0)
