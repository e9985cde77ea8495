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

"""The debug overlay: off by default, one pixel topic while on; ./fer annotate for stills."""

import cv2
from fer_ros.conversions import image_to_rgb, numpy_to_image
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

PIXEL_TYPES = {'sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'}


def test_debug_image_is_the_only_pixel_topic_and_shows_the_face(ros, start_node, astronaut):
    image, face = astronaut
    overlays = ros.record(Image, 'debug_image', sensor_qos=True)
    node = start_node('landmark_node', '--ros-args', '-p', 'debug_image:=true')
    publisher = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    ros.wait_for_subscribers(publisher, processes=[node])
    frame = numpy_to_image(image, 'rgb8', Header(frame_id='camera'))
    assert ros.spin_until(lambda: publisher.publish(frame) or overlays, timeout=30.0,
                          processes=[node]), node.output()[-3000:]
    published = ros.publishers_of('landmark_node', '/', lambda topics: '/debug_image' in topics,
                                  processes=[node])
    pixel_topics = {topic for topic, types in published.items() if types & PIXEL_TYPES}
    assert pixel_topics == {'/debug_image'}, published
    drawn = image_to_rgb(overlays[0])
    assert drawn.shape == image.shape and overlays[0].header.frame_id == 'camera'
    x, y, w, h = (int(v) for v in face.bbox)
    changed = np.any(drawn != image, axis=2)
    assert changed[y:y + h, x:x + w].mean() > 0.01, 'no points drawn on the face'
    assert changed.mean() < 0.1, 'the overlay covers the picture'
    assert 'debug_image is on' in node.output()


def test_annotate_writes_an_annotated_png(tmp_path, astronaut, capsys):
    from fer_models.research import annotate

    image, _ = astronaut
    folder = tmp_path / 'in'
    folder.mkdir()
    cv2.imwrite(str(folder / 'astronaut.jpg'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert annotate.main(['--images', str(folder), '--out', str(tmp_path / 'out')]) == 0
    written = cv2.imread(str(tmp_path / 'out' / 'astronaut.png'))
    assert written is not None and written.shape == image.shape
    assert 'astronaut.jpg: happy' in capsys.readouterr().out
    assert annotate.main(['--images', str(tmp_path / 'missing'), '--out', str(tmp_path)]) == 2
