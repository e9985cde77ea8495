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

camera_source overrides camera_node's 'source' from the YAML; 'none' starts
no camera_node (images come from another driver or a bag on
/camera/image_raw). Discovery stays on this machine unless
ROS_AUTOMATIC_DISCOVERY_RANGE says otherwise.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

NODES = ('landmark_node', 'feature_buffer_node', 'emotion_classifier_node')


def _nodes(context):
    params_file = LaunchConfiguration('params_file').perform(context)
    camera_source = LaunchConfiguration('camera_source').perform(context)
    actions = []
    if camera_source.lower() != 'none':
        camera_parameters = [params_file]
        if camera_source:
            camera_parameters.append({'source': camera_source})
        actions.append(Node(package='fer_ros', executable='camera_node', name='camera_node',
                            parameters=camera_parameters, output='screen'))
    actions += [Node(package='fer_ros', executable=name, name=name,
                     parameters=[params_file], output='screen') for name in NODES]
    return actions


def generate_launch_description():
    """Return the launch description of the whole pipeline."""
    default_params = os.path.join(get_package_share_directory('fer_ros'), 'config', 'fer.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML file with the parameters of every node'),
        DeclareLaunchArgument('camera_source', default_value='',
                              description="camera_node 'source' override: /dev/videoN, an "
                              "image folder, a video file, 'sample' or 'none' (no "
                              'camera_node); empty keeps the YAML value'),
        # Camera frames exceed Fast DDS's default shared-memory segment; see
        # config/fastdds.xml. A profile chosen by the user wins.
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', EnvironmentVariable(
            'FASTDDS_DEFAULT_PROFILES_FILE',
            default_value=os.path.join(get_package_share_directory('fer_ros'), 'config',
                                       'fastdds.xml'))),
        # Privacy by default: no DDS traffic leaves the machine unless asked.
        SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE',
                               EnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE',
                                                   default_value='LOCALHOST')),
        OpaqueFunction(function=_nodes),
    ])
