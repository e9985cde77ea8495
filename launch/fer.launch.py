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
Launch the fer_ros pipeline: camera, landmarks, feature windows, classifier.

    ros2 launch fer_ros fer.launch.py [params_file:=my.yaml] [camera_source:=/dev/video0]
        [composed:=true] [namespace:=front_camera] [log_level:=debug]
        [respawn:=false] [respawn_delay:=1.0] [hri:=true] [neutral_baseline:=auto]

``--show-args`` lists the arguments with their defaults. The nodes are those
of fer_ros.nodes, one process each, or all in one fer_pipeline process with
composed:=true; hri:=true adds hri_bridge_node, the REP-155 (ROS4HRI)
output under /humans/faces, which needs hri_msgs. A node process that dies
(a crash, a signal, any exit code but 0 and 2) is started again after
respawn_delay seconds, and configures and activates itself as at start (its
'autostart' parameter; with autostart false, the lifecycle manager must
drive it again). A node that exits with 0 ends the launch; with exit code 2
(a parameter refused at start-up, named in its log; starting it again cannot
help), or any failure with respawn:=false, the launch fails.
Stop it with SIGINT (Ctrl-C): SIGTERM leaves the nodes running (ros2/launch
issue 666). Discovery stays on this machine unless
ROS_AUTOMATIC_DISCOVERY_RANGE says otherwise.
"""

import os
import tempfile

from ament_index_python.packages import get_package_share_directory
from fer_ros.nodes import CAMERA_NODE, node_names
from fer_ros.parameters import PIPELINE_PARAMETERS
from fer_ros.runtime import EXIT_BAD_CONFIGURATION
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, LogInfo, OpaqueFunction, RegisterEventHandler,
    SetEnvironmentVariable, Shutdown)
from launch.conditions import evaluate_condition_expression
from launch.event_handlers import OnProcessExit
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
import yaml

LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')


def _params_in_namespace(params_file):
    """
    Return a copy of a parameter file whose node sections apply in any namespace.

    rcl matches a section named 'camera_node' to the node '/camera_node'
    only: in a namespace, every node would run on its defaults. Sections
    become '/**/camera_node', in place, so sections for one namespace
    ('/front/camera_node:') placed after them still win.
    """
    with open(params_file) as source:
        sections = yaml.safe_load(source)
    rewritten = {name if name.startswith('/') else f'/**/{name}': section
                 for name, section in sections.items()}
    with tempfile.NamedTemporaryFile('w', prefix='fer_params_', suffix='.yaml',
                                     delete=False) as copy:
        yaml.safe_dump(rewritten, copy, sort_keys=False)
    return copy.name


def _respawn_settings(context):
    """Return (respawn, delay in seconds) from the launch arguments."""
    respawn = evaluate_condition_expression(context, [LaunchConfiguration('respawn')])
    text = LaunchConfiguration('respawn_delay').perform(context)
    try:
        delay = float(text)
    except ValueError:
        delay = -1.0
    if not 0.0 <= delay <= 3600.0:
        raise RuntimeError(f"respawn_delay must be a number of seconds in [0, 3600], not '{text}'")
    return respawn, delay


def _pipeline(context):
    params_file = LaunchConfiguration('params_file').perform(context)
    camera_source = LaunchConfiguration('camera_source').perform(context)
    namespace = LaunchConfiguration('namespace').perform(context)
    camera = camera_source.lower() != 'none'
    hri = evaluate_condition_expression(context, [LaunchConfiguration('hri')])
    if namespace:
        params_file = _params_in_namespace(params_file)
    respawn, respawn_delay = _respawn_settings(context)
    # Pipeline-wide parameters given as launch arguments: every node gets
    # them (rclpy would read 'off' as a boolean without the explicit type).
    pipeline_wide = {}
    for name in PIPELINE_PARAMETERS:
        value = LaunchConfiguration(name).perform(context)
        if value:
            pipeline_wide[name] = ParameterValue(value, value_type=str)
    overrides = [pipeline_wide] if pipeline_wide else []
    common = {
        'package': 'fer_ros', 'namespace': namespace, 'output': 'screen',
        'ros_arguments': ['--log-level', LaunchConfiguration('log_level')],
        'respawn': respawn, 'respawn_delay': respawn_delay,
    }
    if evaluate_condition_expression(context, [LaunchConfiguration('composed')]):
        arguments = []
        if hri:
            arguments.append('--hri')
        if not camera:
            arguments.append('--no-camera')
        elif camera_source:
            arguments += ['--source', camera_source]
        return [Node(executable='fer_pipeline', parameters=[params_file, *overrides],
                     arguments=arguments, **common)]
    nodes = []
    for name in node_names(camera, hri):
        parameters = [params_file, *overrides]
        if name == CAMERA_NODE and camera_source:
            parameters.append({'source': camera_source})
        nodes.append(Node(executable=name, name=name, parameters=parameters, **common))
    return nodes


def _end_with_node(event, context):
    """
    Decide what a node's exit means for the launch.

    0: the node was done, the launch ends. EXIT_BAD_CONFIGURATION, or any
    failure without respawn: the launch fails. Any other failure: launch
    respawns the node after the delay (a shutdown within it cancels that).
    """
    if context.is_shutdown:
        return None
    name = os.path.basename(event.cmd[0])
    code = event.returncode
    respawn, delay = _respawn_settings(context)
    if code == EXIT_BAD_CONFIGURATION or (code and not respawn):
        # launch has no action that ends it with an error: an exception in a
        # handler shuts every process down and makes ros2 launch exit with 1.
        raise RuntimeError(f'{name} exited with code {code}; see its log above')
    if code == 0:
        return Shutdown(reason=f'{name} exited')
    return LogInfo(msg=f'{name} exited with code {code}; starting it again in {delay:g} s '
                   '(respawn:=false to end the launch instead)')


def generate_launch_description():
    """Return the launch description of the whole pipeline."""
    share = get_package_share_directory('fer_ros')
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'fer.yaml'),
            description='YAML file with the parameters of every node (sections named '
            'after the nodes; see config/fer.yaml)'),
        DeclareLaunchArgument(
            'camera_source', default_value='',
            description="camera_node 'source' override: /dev/videoN, an image folder, a video "
            "file, 'sample', or 'none' to start no camera_node (frames come from another "
            'driver or a bag on camera/image_raw); empty keeps the YAML value'),
        DeclareLaunchArgument(
            'composed', default_value='false', choices=['true', 'false'],
            description='true: all nodes in one fer_pipeline process (lower latency, CPU and '
            'memory); false: one process per node'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='namespace of the nodes and their topics, e.g. front_camera for '
            'one pipeline per camera (/diagnostics stays global)'),
        DeclareLaunchArgument(
            'hri', default_value='false', choices=['true', 'false'],
            description='true: also publish the REP-155 (ROS4HRI) face topics under '
            '/humans/faces (hri_bridge_node; needs the hri_msgs package)'),
        DeclareLaunchArgument(
            'neutral_baseline', default_value='', choices=['', 'off', 'auto'],
            description="every node's neutral_baseline: auto reads each face against its "
            'resting face (landmark_neutral.onnx unless the YAML names a model_path); empty '
            'keeps the YAML value'),
        DeclareLaunchArgument(
            'log_level', default_value='info', choices=list(LOG_LEVELS),
            description='log level of every node'),
        DeclareLaunchArgument(
            'respawn', default_value='true', choices=['true', 'false'],
            description='true: a node process that dies (crash, signal, exit code other than '
            '0 and 2) is started again and activates itself; false: it ends the launch'),
        DeclareLaunchArgument(
            'respawn_delay', default_value='1.0',
            description='seconds before a dead node process is started again (0-3600)'),
        # Camera frames exceed Fast DDS's default shared-memory segment; see
        # config/fastdds.xml. A profile chosen by the user wins.
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', EnvironmentVariable(
            'FASTDDS_DEFAULT_PROFILES_FILE',
            default_value=os.path.join(share, 'config', 'fastdds.xml'))),
        # Privacy by default: no DDS traffic leaves the machine unless asked.
        SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE',
                               EnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE',
                                                   default_value='LOCALHOST')),
        RegisterEventHandler(OnProcessExit(on_exit=_end_with_node)),
        OpaqueFunction(function=_pipeline),
    ])
