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

"""landmark_node: camera frames in, face landmarks out; pixels stop here (unless debug_image)."""

import math
import time

from fer_models.core.annotate import draw_faces, FaceAnnotation
from fer_models.core.crops import CropClassifier
from fer_models.core.features import FeatureError
from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL
from fer_models.core.head_pose import head_pose
from fer_models.core.landmarks import (
    check_frame_size, FaceMeshDetector, FrameSizeError, rotate_clockwise, ROTATIONS)
from fer_models.core.onnx_model import ModelError
from fer_models.core.resources import model_file
from fer_models.core.tracking import EveryNthPerFace, FaceTracker
from fer_msgs.msg import Emotion, FaceLandmarksArray
from fer_ros.conversions import (
    Appearance, ConversionError, faces_to_msg, image_to_rgb, NO_HEAD_POSE, numpy_to_image)
from fer_ros.diagnostics import ERROR, OK
from fer_ros.lifecycle import INPUT_TIMEOUT, ManagedNode, MAX_FACES_KEPT
from fer_ros.parameters import ParamSpec
from fer_ros.runtime import run_node
import numpy as np
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import Image

PARAMETERS = (
    ParamSpec('max_faces', 1, 'Most faces tracked per frame.', min_value=1, max_value=8),
    ParamSpec('min_detection_confidence', 0.5,
              'Face detector score needed to start tracking a face.',
              min_value=0.0, max_value=1.0),
    ParamSpec('min_tracking_confidence', 0.5,
              'Landmark tracking score below which the detector runs again.',
              min_value=0.0, max_value=1.0),
    ParamSpec('image_rotation_deg', 0,
              'Rotate every frame clockwise by this angle before detection, for a camera '
              'mounted rotated: 180 for an upside-down camera, 90 when its image shows the '
              'world turned 90 deg anticlockwise, 270 for the other way. Face Mesh needs '
              'upright faces (on an upside-down face it fits an upright mesh, confidently '
              'wrong). Landmarks, boxes, head pose and debug_image are in the rotated frame.',
              choices=ROTATIONS),
    ParamSpec('refine_landmarks', False,
              'Add the 10 iris points (478 instead of 468); costs about 1 ms per face.'),
    ParamSpec('min_input_size', 192,
              'Images whose shorter side is smaller are upscaled to it before detection '
              '(the detector misses faces under ~80 px). 0 disables upscaling.',
              min_value=0, max_value=2048),
    ParamSpec('track_iou_threshold', 0.3,
              'Box overlap (IoU) needed to keep a face id from one frame to the next.',
              min_value=0.0, max_value=1.0),
    ParamSpec('track_timeout_s', 0.5,
              'A face unseen for this long loses its id; if it comes back it gets a new one.',
              min_value=0.0, max_value=60.0),
    ParamSpec('appearance_model_path', DEFAULT_APPEARANCE_MODEL,
              'Appearance model (ONNX crop classifier from fer_models) run on every face '
              'crop inside this node; its class probabilities travel with the landmarks for '
              "the classifier's fusion. A bare file name means a model shipped with "
              'fer_models; empty turns the appearance path off (saves about 0.7 ms of CPU '
              'per face and frame).'),
    ParamSpec('debug_image', False,
              'Publish the camera image annotated with what this node sees (face box, 68 '
              'points, face id, the latest /emotion label and confidence, head pose) on '
              "'debug_image', for tuning. Off by default: pixels then leave this node. The "
              'topic exists only while this is true.'),
    ParamSpec('process_every_n_frames', 1,
              'Low-power mode: run Face Mesh (and everything after it) on one camera frame '
              "in n. 2 halves the pipeline's CPU; each face's first label then comes n times "
              'later (the feature window fills n times slower). 1: every frame.',
              min_value=1, max_value=30),
    ParamSpec('appearance_every_n_frames', 1,
              'Low-power mode: run the appearance model on one processed frame in n of each '
              "face and attach that face's latest probabilities on the others (saves about "
              '0.7 ms of CPU per face on each skipped frame). 1: every frame.',
              min_value=1, max_value=30),
    MAX_FACES_KEPT,
    INPUT_TIMEOUT,
)

# The documented low-power preset (README "Low-power mode"): Face Mesh at half
# the camera rate, the appearance model on every other processed frame.
LOW_POWER = {'process_every_n_frames': 2, 'appearance_every_n_frames': 2}


def with_low_power(params):
    """Return a parameter-file dict with landmark_node switched to the low-power preset."""
    section = params.setdefault('landmark_node', {}).setdefault('ros__parameters', {})
    section.update(LOW_POWER)
    return params


# Keep only the newest frame: under load, stale frames are dropped, not queued.
IMAGE_QOS = QoSProfile(
    history=qos_profile_sensor_data.history, depth=1,
    reliability=qos_profile_sensor_data.reliability,
    durability=qos_profile_sensor_data.durability)

# The parameters that build the Face Mesh detector, named as FaceMeshDetector's
# arguments (the benchmark's floor builds its detector from them too).
DETECTOR_PARAMETERS = ('max_faces', 'min_detection_confidence', 'min_tracking_confidence',
                       'refine_landmarks', 'min_input_size')


class LandmarkNode(ManagedNode):
    """Runs MediaPipe Face Mesh on camera/image_raw, publishes fer/landmarks."""

    PUBLISHES_IMAGES = True

    def __init__(self, **kwargs):
        """Declare parameters and the landmark publisher."""
        super().__init__('landmark_node', PARAMETERS, **kwargs)
        self._publisher = self._create_output_publisher(FaceLandmarksArray, 'fer/landmarks', 10)
        self._detector = None
        self._tracker = None
        self._appearance = None
        self._debug_publisher = None
        self._emotion_subscription = None
        self._latest_emotions = {}
        self._frames_received = 0
        self._appearance_refresh = None

    def _configure(self):
        self._build_detector()
        self._tracker = FaceTracker(self._params['track_iou_threshold'],
                                    self._params['track_timeout_s'],
                                    self._params['max_faces_kept'])
        self._load_appearance_model()

    def _activate(self):
        self._create_input_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_QOS)
        self._diagnostics.set_state(OK, f'waiting for images ({self._detector.landmark_model})')
        self._set_debug_image(self._params['debug_image'])

    def _deactivate(self):
        self._set_debug_image(False)

    def _set_debug_image(self, enabled):
        # Created and destroyed with the parameter, so that no pixel topic
        # exists unless someone asked for one.
        if enabled and self._debug_publisher is None:
            self._debug_publisher = self.create_publisher(Image, 'debug_image',
                                                          qos_profile_sensor_data)
            self._emotion_subscription = self.create_subscription(
                Emotion, 'emotion', self.guarded(self._on_emotion, 'message on emotion'), 10)
            self.get_logger().warn('debug_image is on: annotated camera images are published '
                                   'on debug_image')
        elif not enabled and self._debug_publisher is not None:
            self.destroy_publisher(self._debug_publisher)
            self.destroy_subscription(self._emotion_subscription)
            self._debug_publisher = self._emotion_subscription = None
            self._latest_emotions = {}

    def _on_emotion(self, msg):
        self._latest_emotions[msg.face_id] = (msg.label, msg.confidence)

    def _cleanup(self):
        if self._detector is not None:
            self._detector.close()
            self._detector = None
        self._tracker = None
        self._appearance = None

    def _load_appearance_model(self):
        self._appearance = None
        # Probabilities of another model must not be reused for this one.
        self._appearance_refresh = EveryNthPerFace(self._params['appearance_every_n_frames'])
        path = self._params['appearance_model_path']
        if not path:
            self._diagnostics.set_value('appearance_model', 'off')
            return
        path = model_file(path)
        try:
            self._appearance = CropClassifier(path)
        except ModelError as error:
            self.get_logger().error(f'appearance model not loaded: {error}; landmarks are '
                                    'published without appearance probabilities')
            self._diagnostics.set_state(ERROR, f'appearance model not loaded: {error}')
            self._diagnostics.set_value('appearance_model', f'failed: {path}')
            return
        self.get_logger().info(f"appearance model '{self._appearance.model_name}' from "
                               f"{self._appearance.path}: {', '.join(self._appearance.labels)}")
        self._diagnostics.set_value('appearance_model', self._appearance.model_name)

    def _build_detector(self):
        if self._detector is not None:
            self._detector.close()
        self._detector = FaceMeshDetector(
            **{name: self._params[name] for name in DETECTOR_PARAMETERS})
        # The first frame through a new graph pays for its initialisation:
        # pay it here rather than on the first camera frame.
        self._detector.detect(np.zeros((240, 320, 3), np.uint8))

    def _on_image(self, msg):
        self._diagnostics.count('frames_received')
        self._frames_received += 1
        if (self._frames_received - 1) % self._params['process_every_n_frames']:
            self._diagnostics.count('frames_skipped_low_power')
            return
        try:
            # Before the pixels are touched: MediaPipe aborts the process on
            # some sizes, which no exception handler can catch.
            check_frame_size(msg.width, msg.height)
            rgb = image_to_rgb(msg)
        except (ConversionError, FrameSizeError) as error:
            self._diagnostics.bad_input('image', f'rejected image: {error}')
            return
        started = time.perf_counter()
        rgb = rotate_clockwise(rgb, self._params['image_rotation_deg'])
        faces = self._detector.detect(rgb)
        ids = self._tracker.update([face.bbox for face in faces],
                                   self._frame_time(msg.header.stamp))
        height, width = rgb.shape[:2]
        poses = [self._head_pose(face, width, height) for face in faces]
        self._publish_output(faces_to_msg(
            faces, ids, self._detector.landmark_model, msg.header, width, height,
            self._appearances(rgb, faces, ids), poses))
        if self._debug_publisher is not None:
            self._publish_debug_image(rgb, faces, ids, poses, msg.header)
        self._diagnostics.count('frames_processed')
        self._diagnostics.set_value('faces_tracked', len(faces))
        self._diagnostics.set_value('detect_ms', f'{1e3 * (time.perf_counter() - started):.1f}')
        self._diagnostics.set_state(OK, f'tracking {len(faces)} face(s)')

    def _publish_debug_image(self, rgb, faces, ids, poses, header):
        annotations = [FaceAnnotation(face.bbox, face.points, face_id,
                                      *self._latest_emotions.get(face_id, (None, math.nan)),
                                      pose)
                       for face, face_id, pose in zip(faces, ids, poses)]
        self._debug_publisher.publish(numpy_to_image(draw_faces(rgb, annotations), 'rgb8',
                                                     header))

    def _head_pose(self, face, width, height):
        try:
            return head_pose(face.points, width, height)
        except FeatureError as error:
            self._diagnostics.bad_input('landmarks', f'no head pose: {error}')
            return NO_HEAD_POSE

    def _appearances(self, rgb, faces, ids):
        if self._appearance is None or not faces:
            return None
        stale = self._appearance_refresh.due(ids)
        if any(stale):
            # The crop the model was trained on (its fer.crop metadata): the
            # aligned ones use the face's mesh points, exactly as in training.
            crops = np.stack([self._appearance.face_crop(rgb, face.bbox, face.points)
                              for face, due in zip(faces, stale) if due])
            fresh = iter(self._appearance.predict(crops))
            for face_id, due in zip(ids, stale):
                if due:
                    self._appearance_refresh.store(face_id, next(fresh))
        return [Appearance(self._appearance.model_name, self._appearance.labels,
                           self._appearance_refresh.value(face_id)) for face_id in ids]

    def _apply_parameters(self, names):
        if names.intersection(DETECTOR_PARAMETERS):
            self._build_detector()
        if 'appearance_model_path' in names:
            self._load_appearance_model()
        if 'debug_image' in names and self._active:
            self._set_debug_image(self._params['debug_image'])
        self._appearance_refresh.every_n = self._params['appearance_every_n_frames']
        self._tracker.iou_threshold = self._params['track_iou_threshold']
        self._tracker.timeout_s = self._params['track_timeout_s']
        self._tracker.max_tracks = self._params['max_faces_kept']


def main(args=None):
    """Run landmark_node until shut down."""
    run_node(LandmarkNode, args)


if __name__ == '__main__':
    main()
