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

from fer_msgs.msg import Emotion
from fer_ros.tools import bag_tools
from fer_ros.tools.bags import read_messages
import pytest
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
