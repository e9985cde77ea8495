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

"""launch/fer.launch.py: built where launch_ros exists, checked statically here."""

import ast
import importlib.util
import os

from ament_index_python.packages import get_package_share_directory
from fer_ros.runtime import executable
from fer_ros.tools.launcher import node_commands, NODE_EXECUTABLES
import pytest
import yaml

SHARE = get_package_share_directory('fer_ros')
LAUNCH_FILE = os.path.join(SHARE, 'launch', 'fer.launch.py')
CONFIG_FILE = os.path.join(SHARE, 'config', 'fer.yaml')
NO_LAUNCH = ('launch_ros is not installable from PyPI (no ros-launch/ros-launch-ros wheels); '
             'test_launch_file_starts_what_fer_launch_starts checks the file statically')


def test_launch_description_builds():
    launch = pytest.importorskip('launch', reason=NO_LAUNCH)
    pytest.importorskip('launch_ros', reason=NO_LAUNCH)
    spec = importlib.util.spec_from_file_location('fer_launch_file', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, launch.LaunchDescription)
    arguments = {a.name for a in description.get_launch_arguments()}
    assert {'params_file', 'camera_source'} <= arguments


def test_launch_file_starts_what_fer_launch_starts():
    assert os.path.isfile(LAUNCH_FILE), 'fer_ros does not install launch/fer.launch.py'
    tree = ast.parse(open(LAUNCH_FILE).read())
    strings = {node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    assert {'params_file', 'camera_source', 'fer.yaml'} <= strings
    with open(CONFIG_FILE) as config:
        sections = set(yaml.safe_load(config))
    assert sections == set(NODE_EXECUTABLES), 'config/fer.yaml sections != launched nodes'
    for name in NODE_EXECUTABLES:
        assert name in strings, f'{name} is not launched by fer.launch.py'
        assert os.access(executable(name), os.X_OK), f'{name} is not installed'
    commands = node_commands(CONFIG_FILE, source='sample')
    assert [os.path.basename(c[0]) for c in commands] == list(NODE_EXECUTABLES)
    assert all(c[1:4] == ['--ros-args', '--params-file', CONFIG_FILE] for c in commands)
    assert commands[0][-2:] == ['-p', 'source:=sample']
    assert len(node_commands(CONFIG_FILE, camera=False)) == len(NODE_EXECUTABLES) - 1
