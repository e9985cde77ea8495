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

"""rosbag2 (MCAP) reading and writing with rosbags, for real rclpy messages."""

import importlib
import os

from ament_index_python.packages import get_package_share_directory
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

FER_MESSAGES = ('FaceLandmarks', 'FaceLandmarksArray', 'FeatureWindow', 'Emotion')


def typestore():
    """Return a Kilted typestore that also knows the fer_msgs definitions."""
    store = get_typestore(Stores.ROS2_KILTED)
    share = get_package_share_directory('fer_msgs')
    types = {}
    for name in FER_MESSAGES:
        with open(os.path.join(share, 'msg', f'{name}.msg')) as definition:
            types.update(get_types_from_msg(definition.read(), f'fer_msgs/msg/{name}'))
    store.register(types)
    return store


def type_name(msg):
    """Return the ROS type name of an rclpy message, e.g. ``fer_msgs/msg/Emotion``."""
    module = type(msg).__module__.split('.')
    return f'{module[0]}/msg/{type(msg).__name__}'


def message_class(name):
    """Return the rclpy message class of a type name such as ``std_msgs/msg/String``."""
    package, _, message = name.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), message)


class BagWriter:
    """Writes rclpy messages to a new rosbag2 directory in MCAP format."""

    def __init__(self, path):
        """Create the bag at ``path`` (which must not exist)."""
        if os.path.exists(path):
            raise FileExistsError(f'{path} exists: rosbag2 writes a new folder')
        self._store = typestore()
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {}

    def write(self, topic, msg, time_ns):
        """Append ``msg`` on ``topic`` at ``time_ns`` (receive time, ns)."""
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, type_name(msg),
                                                     typestore=self._store)
            self._connections[topic] = connection
        self._writer.write(connection, int(time_ns), serialize_message(msg))

    def close(self):
        """Finish the bag (writes metadata.yaml)."""
        self._writer.close()

    def __enter__(self):
        """Use as a context manager."""
        return self

    def __exit__(self, *exc):
        """Close on leaving the block."""
        self.close()


def read_messages(path, topics=None):
    """Yield (topic, time_ns, rclpy message) from a rosbag2 folder, in time order."""
    classes = {}
    with Reader(path) as reader:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        for connection, time_ns, raw in reader.messages(connections=connections):
            cls = classes.get(connection.msgtype)
            if cls is None:
                cls = classes[connection.msgtype] = message_class(connection.msgtype)
            yield connection.topic, time_ns, deserialize_message(bytes(raw), cls)
