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

"""Head pose in the nodes: landmark_node measures it, the classifier gates on it."""

import math

from fer_models.core.features import FeatureExtractor
from fer_msgs.msg import Emotion, FeatureWindow
from fer_ros.conversions import window_to_msg
import numpy as np
from ros_helpers import FEATURE_TYPE, first_face_of_landmark_node, WINDOW_LENGTH
from std_msgs.msg import Header


def test_landmark_node_publishes_the_head_pose(ros, start_node, astronaut):
    _, face = first_face_of_landmark_node(ros, start_node, astronaut[0])
    pose = (face.head_yaw_deg, face.head_pitch_deg, face.head_roll_deg)
    assert all(math.isfinite(angle) and abs(angle) < 15.0 for angle in pose), pose


def test_classifier_says_unknown_for_a_turned_head_and_why(ros, start_node, astronaut):
    image, face = astronaut
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    window = extractor.window(np.tile(frame, (WINDOW_LENGTH, 1)))
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'max_head_angle_deg:=40.0',
                      '-p', 'confidence_threshold:=0.0')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    turned = window_to_msg(window, 1, FEATURE_TYPE, Header(), head_pose=(-47.0, 5.0, 3.0))
    assert ros.spin_until(lambda: publisher.publish(turned) or emotions, timeout=15.0,
                          processes=[node])
    gated = emotions[0]
    assert gated.label == Emotion.UNKNOWN
    assert gated.reason == 'head turned 47 deg, beyond max_head_angle_deg 40'
    assert (gated.head_yaw_deg, gated.head_pitch_deg, gated.head_roll_deg) == (-47.0, 5.0, 3.0)
    frontal = window_to_msg(window, 2, FEATURE_TYPE, Header(), head_pose=(8.0, -3.0, 1.0))
    assert ros.spin_until(lambda: publisher.publish(frontal) or any(
        e.face_id == 2 for e in emotions), timeout=15.0, processes=[node])
    answered = next(e for e in emotions if e.face_id == 2)
    assert answered.label == 'happy' and answered.reason == ''  # she smiles
