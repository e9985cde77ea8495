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
fer_pipeline: the four nodes composed in one process (lowest latency).

    fer_pipeline [--source SRC] [--no-camera] [--hri] --ros-args --params-file config/fer.yaml

Nodes share a single-threaded executor; parameters come from the same YAML as
the multi-process launch (each node reads its own section).
"""

import argparse
import functools
import sys

from fer_ros.nodes import CAMERA_NODE, node_class, node_names
from fer_ros.runtime import spin_nodes
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args


def parse_arguments(argv):
    """Parse the runner's own options (ROS arguments are left to rclpy)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--source', help="camera_node 'source' override (e.g. sample, "
                        '/dev/video0, an image folder, a video file, none)')
    parser.add_argument('--no-camera', action='store_true',
                        help='do not start camera_node (frames come from a driver or a bag)')
    parser.add_argument('--hri', action='store_true',
                        help='also run hri_bridge_node: the REP-155 (ROS4HRI) face topics '
                        '(needs hri_msgs)')
    return parser.parse_args(remove_ros_args(argv)[1:])


def main(argv=None):
    """Run the composed pipeline until shut down."""
    argv = sys.argv if argv is None else argv
    options = parse_arguments(argv)
    camera_overrides = []
    if options.source is not None:
        camera_overrides.append(Parameter('source', value=options.source))
    factories = [
        functools.partial(node_class(name),
                          parameter_overrides=camera_overrides if name == CAMERA_NODE else [])
        for name in node_names(camera=not options.no_camera, hri=options.hri)]
    sys.exit(spin_nodes(factories, args=argv))


if __name__ == '__main__':
    main()
