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

"""A camera mounted upside down: landmark_node turns its frames upright first."""

from fer_msgs.msg import Emotion
from fer_ros.conversions import numpy_to_image
import numpy as np
from ros_helpers import first_face_of_landmark_node
from sensor_msgs.msg import Image
from std_msgs.msg import Header


def test_an_upside_down_camera_is_recognised_with_image_rotation_deg(
        ros, start_node, astronaut):
    image, upright = astronaut
    emotions = ros.record(Emotion, 'emotion')
    others = [start_node(name) for name in ('feature_buffer_node', 'emotion_classifier_node')]
    upside_down = np.ascontiguousarray(image[::-1, ::-1])
    node, face = first_face_of_landmark_node(ros, start_node, upside_down,
                                             'image_rotation_deg:=180')
    points = np.asarray(face.points).reshape(-1, 3)
    # The mesh is the upright face's, in the upright frame. Without the
    # rotation Face Mesh fits an upright mesh to the inverted face instead
    # (roll about 0, confident labels): its points are far from these.
    error = np.abs(points[:, :2] - upright.points[:, :2]).mean()
    assert error < 0.01, f'mean landmark error {error:.3f} of the image size'
    assert abs(face.head_roll_deg) < 15.0, face.head_roll_deg
    publisher = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    frame = numpy_to_image(upside_down, 'rgb8', Header(frame_id='camera'))

    def happy():
        frame.header.stamp = ros.node.get_clock().now().to_msg()
        publisher.publish(frame)
        ros.spin_for(0.03)
        return any(e.label == 'happy' for e in emotions)

    assert ros.spin_until(happy, timeout=30.0, processes=others + [node]), \
        [e.label for e in emotions]
