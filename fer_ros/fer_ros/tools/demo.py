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
The demo behind ``./fer demo``: run the pipeline and print /emotion.

Usage: python -m fer_ros.tools.demo [--source sample] [--params-file F]
       [--mode composed|processes] [--duration S]
"""

import argparse
import os
import subprocess
import sys

from fer_ros.emotion_monitor import EmotionMonitor, spin_for
from fer_ros.runtime import default_params_file, executable, init_ros, stop_child
import rclpy
from rclpy.executors import ExternalShutdownException

RUNNERS = {'composed': 'fer_pipeline', 'processes': 'fer_launch'}


def main(argv=None):
    """Start the pipeline in a child process and print what it recognises."""
    parser = argparse.ArgumentParser(description='Run the fer_ros pipeline and print /emotion.')
    parser.add_argument('--source', default='sample',
                        help="camera source: 'sample' (built-in face, default), a device such "
                        'as /dev/video0, an image folder or a video file')
    parser.add_argument('--params-file', default=None,
                        help='YAML parameter file (default: the installed config/fer.yaml)')
    parser.add_argument('--mode', choices=sorted(RUNNERS), default='composed',
                        help='all nodes in one process (composed, default: least memory) or '
                        'one process per node (processes: spreads over the cores)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='seconds to run (default: until Ctrl-C)')
    options = parser.parse_args(argv)
    params_file = os.path.abspath(options.params_file or default_params_file())

    command = [executable(RUNNERS[options.mode]), '--source', options.source]
    if options.mode == 'composed':
        command += ['--ros-args', '--params-file', params_file]
    else:
        command += ['--params-file', params_file]
    print(f"fer demo: {options.mode} pipeline, source '{options.source}', "
          f'parameters {params_file}', flush=True)
    pipeline = subprocess.Popen(command)
    init_ros()
    monitor = EmotionMonitor()
    try:
        spin_for(monitor, options.duration)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop_child(pipeline)
        print(monitor.summary(), flush=True)
        monitor.destroy_node()
        rclpy.try_shutdown()
    return 0 if monitor.received_latency_ms else 1


if __name__ == '__main__':
    sys.exit(main())
