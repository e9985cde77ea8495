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
fer_launch: each node in its own process, driven by one YAML file.

    fer_launch [--params-file config/fer.yaml] [--source SRC] [--no-camera] [--hri]

The same processes and parameters as launch/fer.launch.py, for machines
without ros2launch (launch_ros is not installable from PyPI). Ctrl-C or
SIGTERM stops every node; if one node exits, the others are stopped too.
"""

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time

from fer_ros.nodes import CAMERA_NODE, node_names
from fer_ros.runtime import (
    default_params_file, executable, stop_on_signals, use_fer_dds_defaults)


def node_commands(params_file, source=None, camera=True, hri=False):
    """Return the command line of each node process."""
    commands = []
    for name in node_names(camera, hri):
        command = [executable(name), '--ros-args', '--params-file', params_file]
        if name == CAMERA_NODE and source is not None:
            # Named for the node: a bare -p joins the file's '/**' section,
            # which loses to the node's own section when it comes first.
            command += ['-p', f'{CAMERA_NODE}:source:={source}']
        commands.append(command)
    return commands


def _die_with_parent():
    """Ask Linux to SIGTERM this child when fer_launch dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def main(argv=None):
    """Start the node processes and supervise them until one ends or a signal."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--params-file', default=None,
                        help='YAML parameter file (default: the installed config/fer.yaml)')
    parser.add_argument('--source', help="camera_node 'source' override")
    parser.add_argument('--no-camera', action='store_true', help='do not start camera_node')
    parser.add_argument('--hri', action='store_true',
                        help='also start hri_bridge_node (REP-155 topics; needs hri_msgs)')
    options = parser.parse_args(argv)
    params_file = os.path.abspath(options.params_file or default_params_file())
    if not os.path.isfile(params_file):
        parser.error(f'parameter file not found: {params_file}')

    use_fer_dds_defaults()
    stopping = stop_on_signals()
    processes = [subprocess.Popen(c, preexec_fn=_die_with_parent)
                 for c in node_commands(params_file, options.source,
                                        not options.no_camera, options.hri)]
    code = 0
    try:
        while not stopping:
            ended = [p for p in processes if p.poll() is not None]
            if ended:
                code = ended[0].returncode or 0
                print(f'fer_launch: {os.path.basename(ended[0].args[0])} exited with '
                      f'code {ended[0].returncode}; stopping the pipeline', file=sys.stderr)
                break
            time.sleep(0.1)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5.0
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    sys.exit(code)


if __name__ == '__main__':
    main()
