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
hri_bridge_node: fer_ros's faces and expressions as REP-155 (ROS4HRI) topics.

Optional (``hri:=true``): it needs the ROS4HRI messages, ``hri_msgs``, which
the other nodes never import. It reads ``fer/landmarks`` (every processed
frame) and ``emotion``, and publishes, with the source frame's stamp:

- ``humans/faces/tracked`` (hri_msgs/IdsList): the ids of the faces tracked
  now, for every frame (empty when nobody is in view);
- per face, while it is tracked, ``humans/faces/<id>/roi``
  (NormalizedRegionOfInterest2D), ``humans/faces/<id>/landmarks``
  (FacialLandmarks, 70 points) and ``humans/faces/<id>/expression``
  (Expression). The per-face publishers are created when a face appears and
  destroyed when it is lost;
- on ``/tf`` (``publish_tf``), per face with a head pose, the frames
  ``face_<id>`` (parent: the landmark frames' ``frame_id``, the camera's
  optical frame) and ``gaze_<id>`` (parent ``face_<id>``): REP-155's head
  pose, placed at a distance estimated from the pupils (fer_models.core.hri
  ``face_frame``). It needs ``tf2_msgs``; without it the node publishes the
  rest and says why.

No image topic: pixels stay in landmark_node. The mapping itself (ids,
labels, landmark order, valence and arousal) is ``fer_models.core.hri`` and
``fer_models.core.affect``.
"""

import math
import time

from fer_models.core.hri import (
    expression_of, face_frame, FaceRegistry, GAZE_IN_FACE, landmarks70, normalised_roi,
    quaternion)
from fer_msgs.msg import Emotion, FaceLandmarksArray
from fer_ros.conversions import (
    ConversionError, landmarks_to_points, msg_to_head_pose, stamp_to_seconds)
from fer_ros.lifecycle import INPUT_TIMEOUT, ManagedNode
from fer_ros.parameters import ParameterError, ParamSpec
from fer_ros.runtime import run_node
from geometry_msgs.msg import TransformStamped
from std_msgs.msg import Header

PARAMETERS = (
    ParamSpec('face_timeout_s', 0.5,
              'A face missing from the landmark frames this long (frame time) is lost: its '
              'id leaves humans/faces/tracked and its topics are destroyed. The default is '
              "landmark_node's track_timeout_s, after which a returning face gets a new id "
              'anyway.', min_value=0.0, max_value=60.0),
    ParamSpec('publish_landmarks', True,
              'Publish humans/faces/<id>/landmarks (70 points per face and frame).'),
    ParamSpec('publish_tf', True,
              "Broadcast each face's head pose on /tf as REP-155's frames face_<id> (x out "
              "of the face, z up; parent: the landmark frames' frame_id, which must name the "
              "camera's optical frame) and gaze_<id> (parent face_<id>). Needs tf2_msgs."),
    ParamSpec('camera_horizontal_fov_deg', 60.0,
              "The camera's horizontal field of view, which sets how far away face_<id> is "
              '(with a typical 63 mm between the pupils). From a calibrated camera: '
              '2 atan(width / (2 fx)) in degrees.', min_value=10.0, max_value=170.0),
    INPUT_TIMEOUT,
)

# What REP-155 consumers need of hri_msgs (version 2.0.0 has all of it).
_REQUIRED = {
    'IdsList': ('ids',),
    'NormalizedRegionOfInterest2D': ('xmin', 'ymin', 'xmax', 'ymax', 'c'),
    'FacialLandmarks': ('landmarks', 'width', 'height', 'RIGHT_PUPIL', 'LEFT_PUPIL'),
    'NormalizedPointOfInterest2D': ('x', 'y', 'c'),
    'Expression': ('expression', 'valence', 'arousal', 'confidence', 'SURPRISED', 'SCARED',
                   'DISGUSTED'),
}
INSTALL_HINT = ('install the ROS4HRI messages (on a ROS 2 distribution: '
                'rosdep install --from-paths src, or apt install ros-$ROS_DISTRO-hri-msgs; '
                'in this repository: ./fer setup builds them from ../shared/ros4hri/hri_msgs, '
                'unless FER_HRI_MSGS is set empty)')


class HriMessagesError(ParameterError):
    """hri_msgs is missing or unusable: the REP-155 output cannot start."""


def load_hri_messages():
    """
    Return the hri_msgs.msg module, checked for what this node publishes.

    Raises HriMessagesError with what is wrong and how to fix it.
    """
    try:
        from hri_msgs import msg
    except ImportError as error:
        raise HriMessagesError(
            f'the REP-155 output (hri:=true) needs hri_msgs, which is not installed '
            f'({error}): {INSTALL_HINT}') from None
    missing = []
    for name, fields in _REQUIRED.items():
        message = getattr(msg, name, None)
        if message is None:
            missing.append(name)
        else:
            missing += [f'{name}.{field}' for field in fields if not hasattr(message, field)]
    if missing:
        raise HriMessagesError(
            f"hri_msgs at {getattr(msg, '__file__', '?')} is not the ROS4HRI message package "
            f"this node needs (2.0 or later): it lacks {', '.join(missing)}; {INSTALL_HINT}")
    return msg


def load_tf_message():
    """Return tf2_msgs' TFMessage, or (None, why) when tf2_msgs is not installed."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError as error:
        return None, (f'no face_<id> frames on /tf: tf2_msgs is not installed ({error}); on a '
                      'ROS 2 distribution: apt install ros-$ROS_DISTRO-tf2-msgs; in this '
                      'repository: ./fer setup builds it from third_party/tf2_msgs, unless '
                      'FER_TF2_MSGS is set empty; publish_tf:=false silences this')
    return TFMessage, None


# gaze_<id> in face_<id> is fixed: its quaternion is computed once.
GAZE_IN_FACE_QUATERNION = quaternion(GAZE_IN_FACE)


def transform(header, child_frame_id, translation, rotation):
    """Return a geometry_msgs/TransformStamped from a translation and a quaternion (x, y, z, w)."""
    stamped = TransformStamped(header=header, child_frame_id=child_frame_id)
    moved = stamped.transform
    moved.translation.x, moved.translation.y, moved.translation.z = map(float, translation)
    turned = moved.rotation
    turned.x, turned.y, turned.z, turned.w = rotation
    return stamped


class HriBridgeNode(ManagedNode):
    """Publishes REP-155 face topics from fer/landmarks and emotion."""

    def __init__(self, **kwargs):
        """Check hri_msgs, declare parameters and the tracked-faces publisher."""
        self._hri = load_hri_messages()
        super().__init__('hri_bridge_node', PARAMETERS, **kwargs)
        self._tracked_publisher = self._create_output_publisher(
            self._hri.IdsList, 'humans/faces/tracked', 10)
        self._registry = None
        self._faces = {}  # hri id -> (roi, landmarks, expression) publishers
        # One landmarks message, updated in place for every face and frame:
        # publish serialises it at once, and setting its 210 fields costs a
        # fifth of building 70 point messages (measured 0.09 against 0.52 ms).
        self._landmarks = self._hri.FacialLandmarks()
        self._tf_message, self._tf_unavailable = load_tf_message()
        self._tf_publisher = None
        self._emotion_subscription = None
        self._expiry_timer = None
        self._last_frame = None  # (header, monotonic s) of the newest landmark frame

    def _configure(self):
        self._registry = FaceRegistry(self._params['face_timeout_s'])
        if self._tf_message is not None:
            # What tf2_ros' TransformBroadcaster offers: reliable, 100 deep, on /tf.
            self._tf_publisher = self.create_lifecycle_publisher(self._tf_message, '/tf', 100)

    def _activate(self):
        self._create_input_subscription(FaceLandmarksArray, 'fer/landmarks', self._on_faces, 10)
        self._emotion_subscription = self.create_subscription(
            Emotion, 'emotion', self._on_emotion, 10)
        # Frames may stop altogether (camera paused): lose the faces by wall time then.
        self._expiry_timer = self.create_timer(0.1, self._expire_without_frames)
        self._diagnostics.set_value('faces_tracked', 0)

    def _deactivate(self):
        self.destroy_subscription(self._emotion_subscription)
        self.destroy_timer(self._expiry_timer)
        self._emotion_subscription = self._expiry_timer = None
        self._drop(self._registry.clear())
        self._last_frame = None

    def _cleanup(self):
        self._registry = None
        if self._tf_publisher is not None:
            self.destroy_lifecycle_publisher(self._tf_publisher)
            self._tf_publisher = None

    def _apply_parameters(self, names):
        self._registry.timeout_s = self._params['face_timeout_s']

    def _on_faces(self, msg):
        self._diagnostics.count('frames_received')
        faces = []
        for face in msg.faces:
            try:
                faces.append((face, landmarks_to_points(face)))
            except ConversionError as error:
                self._diagnostics.bad_input('landmarks', str(error))
        now = stamp_to_seconds(msg.header.stamp)
        self._last_frame = (msg.header, time.monotonic())
        appeared, lost = self._registry.update([face.face_id for face, _ in faces], now)
        self._drop(lost)
        for hri_id in appeared:
            self._add(hri_id)
        frames = []
        for face, points in faces:
            hri_id = self._registry.id_of(face.face_id)
            self._publish_face(hri_id, face, points, msg.header)
            frames += self._head_frames(hri_id, face, points, msg.header)
        if frames:
            self._tf_publisher.publish(self._tf_message(transforms=frames))
        self._publish_tracked(msg.header)

    def _head_frames(self, hri_id, face, points, header):
        """Return the face_<id> and gaze_<id> transforms of a face ([] when not published)."""
        if not self._params['publish_tf']:
            return []
        if self._tf_message is None:
            self._diagnostics.warn_once('tf_unavailable', self._tf_unavailable)
            return []
        if not header.frame_id:
            self._diagnostics.warn_once(
                'tf_without_camera_frame',
                'no face_<id> frames on /tf: the landmark frames have no frame_id to parent '
                "them to (set the camera's frame_id to its optical frame)")
            return []
        found = face_frame(points, face.image_width, face.image_height, msg_to_head_pose(face),
                           self._params['camera_horizontal_fov_deg'])
        if found is None:
            self._diagnostics.count('faces_without_head_pose')
            return []
        translation, rotation = found
        face_frame_id = f'face_{hri_id}'
        return [transform(header, face_frame_id, translation, quaternion(rotation)),
                transform(Header(stamp=header.stamp, frame_id=face_frame_id),
                          f'gaze_{hri_id}', (0.0, 0.0, 0.0), GAZE_IN_FACE_QUATERNION)]

    def _publish_face(self, hri_id, face, points, header):
        roi_publisher, landmarks_publisher, _ = self._faces[hri_id]
        roi = self._hri.NormalizedRegionOfInterest2D(header=header)
        roi.xmin, roi.ymin, roi.xmax, roi.ymax = normalised_roi(
            (face.bbox_x, face.bbox_y, face.bbox_width, face.bbox_height),
            face.image_width, face.image_height)
        # The legacy Face Mesh graph gives no detection score (NaN): the face is tracked.
        roi.c = 1.0 if math.isnan(face.detection_confidence) else face.detection_confidence
        roi_publisher.publish(roi)
        if landmarks_publisher is None:
            return
        landmarks = self._landmarks
        landmarks.header, landmarks.width, landmarks.height = (
            header, face.image_width, face.image_height)
        for point, (x, y, c) in zip(landmarks.landmarks, landmarks70(points).tolist()):
            point.x, point.y, point.c = x, y, c
        landmarks_publisher.publish(landmarks)

    def _publish_tracked(self, header):
        self._tracked_publisher.publish(self._hri.IdsList(header=header,
                                                          ids=self._registry.tracked))
        self._diagnostics.set_value('faces_tracked', len(self._faces))

    def _on_emotion(self, msg):
        hri_id = self._registry.id_of(msg.face_id)
        if hri_id is None:
            # The face was lost before its expression arrived.
            self._diagnostics.count('expressions_of_lost_faces')
            return
        expression = expression_of(msg.label)
        if expression is None:
            # unknown (or a label hri_msgs has no constant for): REP-155 has no
            # "unknown" expression, so none is published; the face's last one
            # stays, its stamp telling its age.
            self._diagnostics.count('expressions_not_published')
            return
        self._faces[hri_id][2].publish(self._hri.Expression(
            header=msg.header, expression=expression, valence=msg.valence,
            arousal=msg.arousal, confidence=min(max(msg.confidence, 0.0), 1.0)))
        self._diagnostics.count('expressions_published')

    def _expire_without_frames(self):
        if self._last_frame is None:
            return
        last, received = self._last_frame
        silent_s = time.monotonic() - received
        if silent_s > self._params['face_timeout_s']:
            # Frame time moves on with the wall clock while no frame comes.
            now = stamp_to_seconds(last.stamp) + silent_s
            lost = self._registry.expire(now)
            if lost:
                self._drop(lost)
                header = Header(frame_id=last.frame_id)
                header.stamp.sec, header.stamp.nanosec = int(now), int(now % 1 * 1e9)
                self._publish_tracked(header)

    def _add(self, hri_id):
        prefix = f'humans/faces/{hri_id}'
        self._faces[hri_id] = (
            self.create_publisher(self._hri.NormalizedRegionOfInterest2D, f'{prefix}/roi', 10),
            self.create_publisher(self._hri.FacialLandmarks, f'{prefix}/landmarks', 10)
            if self._params['publish_landmarks'] else None,
            self.create_publisher(self._hri.Expression, f'{prefix}/expression', 10))
        self._diagnostics.count('faces_appeared')

    def _drop(self, hri_ids):
        for hri_id in hri_ids:
            for publisher in self._faces.pop(hri_id, ()):
                if publisher is not None:
                    self.destroy_publisher(publisher)
            self._diagnostics.count('faces_lost')


def main(args=None):
    """Run hri_bridge_node until shut down; exit 2 with a clear message without hri_msgs."""
    run_node(HriBridgeNode, args)


if __name__ == '__main__':
    main()
