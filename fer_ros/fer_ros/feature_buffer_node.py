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

"""feature_buffer_node: per-face sliding windows of landmark features."""

from fer_models.core.features import FeatureError, FeatureExtractor, FeatureSpec
from fer_models.core.window import FaceWindows
from fer_msgs.msg import FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import (
    ConversionError, landmarks_to_points, msg_to_appearance, msg_to_head_pose, stamp_to_seconds,
    window_to_msg)
from fer_ros.diagnostics import OK
from fer_ros.lifecycle import INPUT_TIMEOUT, ManagedNode
from fer_ros.parameters import ParamSpec
from fer_ros.runtime import run_node

PARAMETERS = (
    ParamSpec('feature_type', 'dlib68:coords+geometric',
              "Feature specification '[layout:]kind+kind', layouts dlib68 or mesh468; "
              'per-frame kinds coords, distances, geometric; window kinds displacement, '
              "velocity. Must match the classifier's model.",
              validator=FeatureSpec.parse),
    ParamSpec('window_length', 8, 'Frames per window.', min_value=1, max_value=300),
    ParamSpec('stride', 1, 'Publish a window every this many frames of a face.',
              min_value=1, max_value=300),
    ParamSpec('face_timeout_s', 1.0,
              'Forget the window of a face unseen for this long (frame time).',
              min_value=0.0, max_value=600.0),
    INPUT_TIMEOUT,
)


class FeatureBufferNode(ManagedNode):
    """Turns fer/landmarks into fer/features windows, one buffer per face."""

    def __init__(self, **kwargs):
        """Declare parameters and the window publisher."""
        super().__init__('feature_buffer_node', PARAMETERS, **kwargs)
        self._publisher = self.create_lifecycle_publisher(FeatureWindow, 'fer/features', 10)
        self._extractor = None
        self._windows = None
        self._subscription = None

    def _configure(self):
        self._apply_parameters(set())

    def _activate(self):
        self._subscription = self._create_input_subscription(
            FaceLandmarksArray, 'fer/landmarks', self._on_landmarks, 10)

    def _deactivate(self):
        self.destroy_subscription(self._subscription)
        self._subscription = None
        # A face seen before the pause must not continue an old window.
        self._windows = self._new_windows()

    def _cleanup(self):
        self._extractor = None
        self._windows = None

    def _new_windows(self):
        return FaceWindows(self._params['window_length'], self._params['stride'],
                           self._params['face_timeout_s'])

    def _on_landmarks(self, msg):
        self._diagnostics.count('landmark_arrays_received')
        now = stamp_to_seconds(msg.header.stamp)
        for face in msg.faces:
            try:
                points = landmarks_to_points(face)
                features = self._extractor.frame(points, face.image_width, face.image_height)
            except (ConversionError, FeatureError) as error:
                self._diagnostics.bad_input('landmarks', f'rejected face {face.face_id}: {error}')
                continue
            frames = self._windows.push(face.face_id, features, now)
            if frames is None:
                continue
            self._publisher.publish(window_to_msg(
                self._extractor.window(frames), face.face_id, self._extractor.name, msg.header,
                msg_to_appearance(face), msg_to_head_pose(face)))
            self._diagnostics.count('windows_published')
        self._windows.forget_stale(now)
        self._diagnostics.set_value('faces_buffered', len(self._windows.face_ids))

    def _apply_parameters(self, names):
        self._extractor = FeatureExtractor(self._params['feature_type'])
        # Frames computed with other settings must not mix into new windows.
        self._windows = self._new_windows()
        self._diagnostics.set_state(OK, f'features {self._extractor.name}')


def main(args=None):
    """Run feature_buffer_node until shut down."""
    run_node(FeatureBufferNode, args)


if __name__ == '__main__':
    main()
