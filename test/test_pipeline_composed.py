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

"""The composed runner on the built-in sample; only the camera topic has pixels."""

from fer_msgs.msg import Emotion
from ros_helpers import REPO


def test_composed_pipeline_on_the_sample_face(ros, start_node):
    emotions = ros.record(Emotion, 'emotion')
    pipeline = start_node('fer_pipeline', '--source', 'sample', '--ros-args',
                          '--params-file', f'{REPO}/config/fer.yaml')
    assert ros.spin_until(lambda: len(emotions) >= 30, timeout=60.0, processes=[pipeline]), \
        pipeline.output()[-3000:]
    assert {e.face_id for e in emotions} == {emotions[0].face_id}, 'one moving face, one id'
    # The sample is a smiling portrait (scikit-image astronaut).
    assert emotions[-1].label == 'happy', [e.label for e in emotions]
    assert emotions[-1].model_name == 'landmark_baseline'

    image_topics = [name for name, types in ros.node.get_topic_names_and_types()
                    if 'sensor_msgs/msg/Image' in types]
    assert image_topics == ['/camera/image_raw'], image_topics
