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

"""
Fuzzing: FUZZ_COUNT malformed messages on every input topic of the pipeline.

The three processing nodes run as processes on real DDS; every input topic
gets FUZZ_COUNT random, mostly malformed messages (random encodings, sizes and
steps; NaN, infinite and huge landmarks; wrong point counts; wrong feature
dims, lengths and types; empty arrays). Afterwards every node must be alive,
must have counted what it rejected in /diagnostics, and a real face must
still come out as the right emotion. The random generator is seeded, so a
failure can be replayed.
"""

import math

from diagnostic_msgs.msg import DiagnosticArray
from fer_msgs.msg import Emotion, FaceLandmarks, FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import numpy_to_image
from fer_ros.diagnostics import status_values
import numpy as np
from ros_helpers import FEATURE_TYPE, statuses_of, WINDOW_LENGTH
from sensor_msgs.msg import Image
from std_msgs.msg import Header

FUZZ_COUNT = 1000
SEED = 20261129
ENCODINGS = ['rgb8', 'bgr8', 'mono8', 'rgba8', 'bgra8', 'yuv422', '32FC1', '16UC1', 'jpeg', '']
POINT_COUNTS = [0, 1, 67, 68, 467, 468, 478, 479, 10000]
SPECIAL_VALUES = [math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0]


def random_image(rng):
    """Return an Image whose fields mostly disagree with each other."""
    height, width = (int(v) for v in rng.integers(0, 80, size=2))
    channels = int(rng.choice([1, 2, 3, 4]))
    step = width * channels if rng.random() < 0.5 else int(rng.integers(0, 400))
    size = height * step if rng.random() < 0.5 else int(rng.integers(0, 20000))
    return Image(height=height, width=width, encoding=str(rng.choice(ENCODINGS)),
                 is_bigendian=int(rng.integers(0, 2)), step=step,
                 data=rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())


def random_points(rng, count):
    """Return ``count`` * 3 floats, some of them NaN, infinite or huge."""
    points = rng.normal(0.5, 0.3, size=count * 3)
    if count and rng.random() < 0.7:
        spots = rng.integers(0, count * 3, size=int(rng.integers(1, 10)))
        points[spots] = rng.choice(SPECIAL_VALUES, size=len(spots))
    return points.astype(np.float32)


def random_landmarks(rng):
    """Return a FaceLandmarksArray with 0-3 broken faces."""
    faces = []
    for _ in range(int(rng.integers(0, 4))):
        count = int(rng.choice(POINT_COUNTS))
        stored = count if rng.random() < 0.5 else int(rng.choice(POINT_COUNTS))
        faces.append(FaceLandmarks(
            face_id=int(rng.integers(0, 2**31)), num_points=count,
            points=random_points(rng, stored),
            landmark_model=str(rng.choice(['mediapipe_face_mesh_468', 'dlib68', '', 'x' * 300])),
            image_width=int(rng.choice([0, 1, 640, 2**31])),
            image_height=int(rng.choice([0, 1, 480, 2**31]))))
    return FaceLandmarksArray(faces=faces)


def random_window(rng, feature_dim):
    """Return a FeatureWindow that lies about its shape or carries bad values."""
    length = int(rng.choice([0, 1, WINDOW_LENGTH - 1, WINDOW_LENGTH, 1000]))
    dim = int(rng.choice([0, 1, feature_dim - 1, feature_dim, feature_dim + 1]))
    stored = length * dim if rng.random() < 0.5 else int(rng.integers(0, 5000))
    data = random_points(rng, 1)[:0]
    if stored:
        data = rng.normal(size=stored).astype(np.float32)
        data[rng.integers(0, stored, size=3)] = rng.choice(SPECIAL_VALUES, size=3)
    return FeatureWindow(
        face_id=int(rng.integers(0, 100)),
        feature_type=str(rng.choice([FEATURE_TYPE, 'mesh468:coords', '', 'nonsense'])),
        window_length=length, feature_dim=dim, data=data)


def test_every_node_survives_fuzzing_and_still_works(ros, start_node, astronaut):
    rng = np.random.default_rng(SEED)
    emotions = ros.record(Emotion, 'emotion')
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    nodes = [start_node(name) for name in ('landmark_node', 'feature_buffer_node',
                                           'emotion_classifier_node')]
    images = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    landmarks = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    windows = ros.publisher(FeatureWindow, 'fer/features')
    for publisher, count in ((images, 1), (landmarks, 1), (windows, 1)):
        ros.wait_for_subscribers(publisher, count, timeout=30.0, processes=nodes)
    image, face = astronaut
    from fer_models.core.features import FeatureExtractor
    feature_dim = FeatureExtractor(FEATURE_TYPE).dim

    for _ in range(FUZZ_COUNT):
        images.publish(random_image(rng))
        landmarks.publish(random_landmarks(rng))
        windows.publish(random_window(rng, feature_dim))
        # Paced so that the nodes take most messages instead of their
        # queues dropping them unseen.
        ros.spin_for(0.002)
    ros.spin_for(2.0)
    for node in nodes:
        assert node.alive(), f'{node.name} died:\n{node.output()[-3000:]}'
    for emotion in emotions:
        assert all(math.isfinite(p) for p in emotion.probabilities), emotion

    def rejected(node_name, counter):
        statuses = statuses_of(diagnostics, node_name)
        values = status_values(statuses[-1]) if statuses else {}
        return int(values.get(counter, 0))

    assert ros.spin_until(lambda: rejected('landmark_node', 'rejected_image') >= 100
                          and rejected('feature_buffer_node', 'rejected_landmarks') >= 100
                          and rejected('emotion_classifier_node', 'rejected_window') >= 100,
                          timeout=5.0), 'the fuzz did not reach the nodes'
    print(f'published {FUZZ_COUNT} per topic; rejected: images '
          f"{rejected('landmark_node', 'rejected_image')}, landmark faces "
          f"{rejected('feature_buffer_node', 'rejected_landmarks')}, windows "
          f"{rejected('emotion_classifier_node', 'rejected_window')}")

    emotions.clear()
    good = numpy_to_image(image, 'rgb8', Header(frame_id='camera'))
    assert ros.spin_until(lambda: images.publish(good) or any(
        e.label == 'happy' for e in emotions), timeout=30.0, processes=nodes), \
        [e.label for e in emotions]
