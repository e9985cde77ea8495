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

"""camera_node: publishes frames from a device, a video file or an image folder."""

import time

from fer_ros.conversions import CAMERA_FRAME_ID, numpy_into_image
from fer_ros.diagnostics import ERROR, OK, WARN
from fer_ros.frame_sources import open_source, SourceError
from fer_ros.lifecycle import ManagedNode
from fer_ros.parameters import ParamSpec
from fer_ros.runtime import run_node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

PARAMETERS = (
    ParamSpec('source', '/dev/video0',
              "Frame source: 'sample' or 'sample2' (built-in one- or two-face sequence), "
              "'none' (publish nothing; frames come from another driver or a bag), a V4L2 "
              'device such as /dev/video0 or an index such as 0, an image folder, or a '
              'video file.'),
    ParamSpec('fps', 30.0, 'Publishing rate in frames per second.',
              min_value=0.1, max_value=240.0),
    ParamSpec('loop', True, 'Restart an image folder or video file at its end.'),
    ParamSpec('frame_id', CAMERA_FRAME_ID,
              "frame_id stamped on every image: the camera's optical frame (REP 103: z "
              'forward, x right, y down), the frame of the head pose and of the REP-155 face '
              'frames.'),
    ParamSpec('wait_for_subscriber', True,
              'Read no frame while nobody subscribes to the images, so that a folder or '
              'file is not played into the void before the pipeline is up.'),
    ParamSpec('width', 640, 'Requested device width in pixels (0: device default).',
              min_value=0, max_value=7680),
    ParamSpec('height', 480, 'Requested device height in pixels (0: device default).',
              min_value=0, max_value=4320),
    ParamSpec('retry_max_s', 5.0,
              'Longest wait between attempts to reopen a failed source (the wait doubles '
              'from 0.25 s up to this).', min_value=0.25, max_value=300.0),
)


class CameraNode(ManagedNode):
    """
    Publishes sensor_msgs/Image on camera/image_raw with sensor-data QoS.

    The source is open only while the node is active: deactivating it
    releases the device or file for other programs.
    """

    PUBLISHES_IMAGES = True

    def __init__(self, **kwargs):
        """Declare parameters and the image publisher."""
        super().__init__('camera_node', PARAMETERS, **kwargs)
        self._publisher = self._create_output_publisher(Image, 'camera/image_raw',
                                                        qos_profile_sensor_data)
        self._frame_msg = Image()  # reused: see numpy_into_image
        self._source = None
        self._retry_delay_s = 0.25
        self._next_retry = 0.0
        self._timer = None

    def _activate(self):
        self._open()
        self._restart_timer()

    def _deactivate(self):
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        self._close()
        self._next_retry = 0.0

    def _close(self):
        if self._source is not None:
            self._source.close()
            self._source = None

    def _open(self):
        self._close()
        try:
            self._source = open_source(self._params['source'], self._params['loop'],
                                       self._params['width'], self._params['height'])
        except SourceError as error:
            self._fail(str(error))
            return
        self._retry_delay_s = 0.25
        if self._source is None:
            self._diagnostics.set_state(OK, "source 'none': not publishing")
            self.get_logger().info("source is 'none': publishing nothing")
        else:
            self._diagnostics.set_state(OK, f'publishing {self._source.description}')
            self.get_logger().info(
                f"publishing {self._source.description} at {self._params['fps']:g} fps")

    def _fail(self, message):
        self._diagnostics.set_state(ERROR, f'{message}; retrying in {self._retry_delay_s:g} s')
        self.get_logger().error(f'{message}; retrying in {self._retry_delay_s:g} s',
                                throttle_duration_sec=self._params['retry_max_s'])
        self._close()
        self._next_retry = time.monotonic() + self._retry_delay_s
        self._retry_delay_s = min(2 * self._retry_delay_s, self._params['retry_max_s'])

    def _restart_timer(self):
        if self._timer is not None:
            self.destroy_timer(self._timer)
        self._timer = self.create_timer(1.0 / self._params['fps'],
                                        self.guarded(self._tick, 'reading a frame'))

    def _tick(self):
        if self._source is None:
            if self._next_retry and time.monotonic() >= self._next_retry:
                self._next_retry = 0.0
                self._open()
            return
        if self._params['wait_for_subscriber'] and self._publisher.get_subscription_count() == 0:
            self._diagnostics.set_state(OK, f'{self._source.description}: waiting for a '
                                        'subscriber')
            return
        stamp = self.get_clock().now().to_msg()
        try:
            frame = self._source.read()
        except SourceError as error:
            self._fail(str(error))
            return
        if frame is None:
            self._diagnostics.set_state(WARN, f'{self._source.description} ended (loop is off)')
            return
        msg = numpy_into_image(self._frame_msg, frame, self._source.encoding)
        msg.header.stamp = stamp
        msg.header.frame_id = self._params['frame_id']
        self._publish_output(msg)
        self._diagnostics.count('frames_published')
        self._diagnostics.set_state(OK, f'publishing {self._source.description}')

    def _apply_parameters(self, names):
        if not self._active:
            return
        if names & {'source', 'loop', 'width', 'height'}:
            self._open()
        if 'fps' in names:
            self._restart_timer()


def main(args=None):
    """Run camera_node until shut down."""
    run_node(CameraNode, args)


if __name__ == '__main__':
    main()
