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
emotion_monitor: print the /emotion stream and its end-to-end latency.

    emotion_monitor [--duration S] [--quiet]

A minimal behaviour-node example: it subscribes to ``emotion`` like any
robot behaviour would, prints one line per message (label, confidence, head
pose, the neutral baseline's state when it is on, latency, and why a label
is unknown) and, at the end, a summary with latency percentiles (source
frame stamp to reception).
"""

import argparse
from collections import Counter
import sys
import time

from fer_msgs.msg import Emotion
from fer_ros.conversions import stamp_to_seconds
from fer_ros.runtime import init_ros
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.utilities import remove_ros_args


def emotion_line(msg, latency_ms):
    """Return the printed line of one Emotion: label, head pose, baseline, latency, reason."""
    baseline = (f'  baseline {msg.neutral_baseline}'
                if msg.neutral_baseline not in ('', Emotion.NEUTRAL_BASELINE_OFF) else '')
    why = f'  [{msg.reason}]' if msg.reason else ''
    return (f'face {msg.face_id:3d}  {msg.label:9s} {msg.confidence:5.2f}  '
            f'yaw {msg.head_yaw_deg:+4.0f} pitch {msg.head_pitch_deg:+4.0f} '
            f'roll {msg.head_roll_deg:+4.0f}{baseline}  latency {latency_ms:6.1f} ms  '
            f'({msg.model_name}){why}')


class EmotionMonitor(Node):
    """Subscribes to emotion and keeps what is needed for a summary."""

    def __init__(self, quiet=False):
        """Subscribe to emotion; print each message unless ``quiet``."""
        super().__init__('emotion_monitor')
        self.quiet = quiet
        self.received_latency_ms = []
        self.labels = Counter()
        self.faces = set()
        self.create_subscription(Emotion, 'emotion', self._on_emotion, 10)

    def _on_emotion(self, msg):
        received = self.get_clock().now().nanoseconds * 1e-9
        latency_ms = 1e3 * (received - stamp_to_seconds(msg.header.stamp))
        self.received_latency_ms.append(latency_ms)
        self.labels[msg.label] += 1
        self.faces.add(msg.face_id)
        if not self.quiet:
            print(emotion_line(msg, latency_ms), flush=True)

    def summary(self):
        """Return a multi-line summary of everything received."""
        if not self.received_latency_ms:
            return 'no /emotion message received'
        latency = np.asarray(self.received_latency_ms)
        labels = ', '.join(f'{label} {count}' for label, count in self.labels.most_common())
        return (f'{latency.size} /emotion messages from {len(self.faces)} face(s): {labels}\n'
                f'end-to-end latency (frame stamp -> received): median {np.median(latency):.1f} '
                f'ms, p95 {np.percentile(latency, 95):.1f} ms, max {latency.max():.1f} ms')


def spin_for(node, duration_s):
    """Spin ``node`` for ``duration_s`` seconds (forever if None or 0)."""
    end = time.monotonic() + duration_s if duration_s else None
    while rclpy.ok() and (end is None or time.monotonic() < end):
        rclpy.spin_once(node, timeout_sec=0.1)


def main(argv=None):
    """Print /emotion until Ctrl-C or --duration, then a summary."""
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--duration', type=float, default=0.0,
                        help='seconds to listen (default: until Ctrl-C)')
    parser.add_argument('--quiet', action='store_true', help='print the summary only')
    options = parser.parse_args(remove_ros_args(argv)[1:])
    init_ros(args=argv)
    node = EmotionMonitor(options.quiet)
    try:
        spin_for(node, options.duration)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        print(node.summary(), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
