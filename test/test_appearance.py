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

"""Appearance path in the nodes: crop model in landmark_node, late fusion in the classifier."""

import json

from builtin_interfaces.msg import Time
from fer_models.core.crops import CropClassifier
from fer_models.core.features import FeatureExtractor
from fer_models.core.fusion import combine, Stacker
from fer_models.core.onnx_model import default_model_path, EmotionModel
from fer_models.core.resources import shipped_model
from fer_msgs.msg import Emotion, FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import Appearance, numpy_to_image, window_to_msg
import numpy as np
import pytest
from ros_helpers import FEATURE_TYPE, first_face_of_landmark_node, WINDOW_LENGTH
from sensor_msgs.msg import Image
from std_msgs.msg import Header

FER2013_LABELS = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')


def test_landmark_node_attaches_the_appearance_model_probabilities(ros, start_node, astronaut):
    _, face = first_face_of_landmark_node(ros, start_node, astronaut[0],
                                          'appearance_model_path:=ean_union.onnx')
    assert face.appearance_model and len(face.appearance_labels) == 7
    probabilities = np.asarray(face.appearance_probabilities)
    assert probabilities.shape == (7,) and probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert face.appearance_labels[int(np.argmax(probabilities))] == 'happy'  # she smiles


def test_landmark_node_runs_an_ensemble_with_flip_as_its_crop_model(ros, start_node, astronaut,
                                                                    tmp_path):
    from crop_members import write_member
    from fer_models.research.ensemble import export_ensemble

    image, _ = astronaut
    members = [write_member(str(tmp_path / f'run{seed}'), seed) for seed in (1, 2)]
    path = str(tmp_path / 'ensemble.onnx')
    model = export_ensemble(members, path, flip=True)
    _, face = first_face_of_landmark_node(ros, start_node, image,
                                          f'appearance_model_path:={path}')
    assert face.appearance_model == 'ean_ensemble2_flip'
    assert tuple(face.appearance_labels) == model.labels
    # The ensemble on the crop of the face the node published: one call, both views inside.
    points = np.asarray(face.points, np.float64).reshape(face.num_points, -1)
    bbox = (face.bbox_x, face.bbox_y, face.bbox_width, face.bbox_height)
    expected = model.classify_face(image, bbox, points)[1]
    np.testing.assert_allclose(face.appearance_probabilities, expected, atol=1e-3)


def test_low_power_mode_skips_frames_and_reuses_appearance(ros, start_node, astronaut):
    image, face = astronaut
    # Two versions of the frame whose crops the appearance model tells apart.
    versions = (image, (image * 0.6).astype(np.uint8))
    model = CropClassifier(shipped_model('ean_union.onnx'))
    alone = [model.predict(model.face_crop(v, face.bbox, face.points))[0] for v in versions]
    assert np.abs(alone[0] - alone[1]).max() > 1e-3
    landmarks = ros.record(FaceLandmarksArray, 'fer/landmarks')
    node = start_node('landmark_node', '--ros-args', '-p', 'process_every_n_frames:=3',
                      '-p', 'appearance_every_n_frames:=30')
    publisher = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    ros.wait_for_subscribers(publisher, processes=[node])
    for index in range(30):
        frame = numpy_to_image(versions[index % 2], 'rgb8',
                               Header(stamp=Time(sec=index), frame_id='camera'))
        publisher.publish(frame)
        ros.spin_for(0.1)
    ros.spin_until(lambda: False, timeout=1.0, processes=[node])
    processed = [a.header.stamp.sec for a in landmarks if a.faces]
    faces = [a.faces[0] for a in landmarks if a.faces]
    assert len(processed) >= 5, node.output()[-3000:]
    # One frame in three at most (a frame lost on the way only widens a gap).
    assert min(np.diff(processed)) >= 3, processed
    # Computed once for the face, then attached unchanged to every frame.
    first = np.asarray(faces[0].appearance_probabilities)
    assert all(np.array_equal(np.asarray(f.appearance_probabilities), first) for f in faces)
    assert {f.face_id for f in faces} == {faces[0].face_id}


@pytest.fixture(scope='module')
def astronaut_window(astronaut):
    """Return the astronaut's feature window, the landmark model's output, the model."""
    image, face = astronaut
    extractor = FeatureExtractor(FEATURE_TYPE)
    frame = extractor.frame(face.points, image.shape[1], image.shape[0])
    window = extractor.window(np.tile(frame, (WINDOW_LENGTH, 1)))
    model = EmotionModel(default_model_path())
    return window, model.predict(window[None].astype(np.float32))[0][0], model


@pytest.mark.parametrize('fusion', ['appearance', 'late'])
def test_classifier_fuses_the_two_paths(ros, start_node, astronaut_window, fusion):
    window, landmark_probabilities, model = astronaut_window
    appearance = np.eye(7, dtype=np.float32)[FER2013_LABELS.index('sad')]
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', f'fusion:={fusion}',
                      '-p', 'appearance_weight:=0.7', '-p', 'smoothing:=none',
                      '-p', 'confidence_threshold:=0.0')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    msg = window_to_msg(window, 3, FEATURE_TYPE, Header(frame_id='camera'))
    msg.appearance_model = 'test_appearance'
    msg.appearance_labels = list(FER2013_LABELS)
    msg.appearance_probabilities = appearance
    assert ros.spin_until(lambda: publisher.publish(msg) or emotions, timeout=15.0,
                          processes=[node])
    expected = combine(fusion, landmark_probabilities, model.labels, appearance,
                       FER2013_LABELS, 0.7)
    np.testing.assert_allclose(emotions[0].probabilities, expected, atol=1e-5)
    assert emotions[0].label == 'sad'  # 0.7 of the mass on sad outweighs the smile
    assert emotions[0].model_name == {'appearance': 'test_appearance',
                                      'late': f'{model.model_name}+test_appearance'}[fusion]


def test_classifier_stacks_the_two_paths_with_a_learnt_stacker(
        ros, start_node, astronaut_window, tmp_path):
    window, landmark_probabilities, model = astronaut_window
    # A stacker that trusts the appearance path only: sad must win over the smile.
    weights = np.vstack([np.zeros((7, 7)), np.eye(7)])
    path = tmp_path / 'stacker.json'
    path.write_text(json.dumps({'labels': list(model.labels), 'weights': weights.tolist(),
                                'bias': [0.0] * 7}))
    appearance = np.full(7, 0.05, np.float32)
    appearance[FER2013_LABELS.index('sad')] = 0.7
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'fusion:=stacked',
                      '-p', f'stacker_path:={path}', '-p', 'smoothing:=none')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    msg = window_to_msg(window, 3, FEATURE_TYPE, Header(frame_id='camera'),
                        Appearance('test_appearance', FER2013_LABELS, appearance))
    assert ros.spin_until(lambda: publisher.publish(msg) or emotions, timeout=15.0,
                          processes=[node])
    expected = combine('stacked', landmark_probabilities, model.labels, appearance,
                       FER2013_LABELS, stacker=Stacker.load(str(path)))
    np.testing.assert_allclose(emotions[0].probabilities, expected, atol=1e-5)
    assert emotions[0].label == 'sad'
    assert emotions[0].model_name == f'{model.model_name}+test_appearance'


def test_a_missing_stacker_is_reported_and_the_landmark_model_decides(ros, start_node,
                                                                      astronaut_window):
    window, landmark_probabilities, model = astronaut_window
    emotions = ros.record(Emotion, 'emotion')
    node = start_node('emotion_classifier_node', '--ros-args', '-p', 'fusion:=stacked',
                      '-p', 'stacker_path:=/nonexistent/stacker.json', '-p', 'smoothing:=none')
    publisher = ros.publisher(FeatureWindow, 'fer/features')
    ros.wait_for_subscribers(publisher, processes=[node])
    msg = window_to_msg(window, 3, FEATURE_TYPE, Header(frame_id='camera'),
                        Appearance('test_appearance', FER2013_LABELS, np.full(7, 1 / 7)))
    assert ros.spin_until(lambda: publisher.publish(msg) or emotions, timeout=15.0,
                          processes=[node])
    np.testing.assert_allclose(emotions[0].probabilities, landmark_probabilities, atol=1e-5)
    assert 'cannot read the fusion stacker /nonexistent/stacker.json' in node.output()
