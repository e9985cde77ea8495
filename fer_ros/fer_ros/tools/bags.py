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

import hashlib
import importlib
import mmap
import os
import struct
import zlib

from ament_index_python.packages import get_package_share_directory
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
import yaml

FER_MESSAGES = ('FaceLandmarks', 'FaceLandmarksArray', 'FeatureWindow', 'Emotion')
MCAP_MAGIC = b'\x89MCAP0\r\n'
MCAP_CHUNK, MCAP_DATA_END, MCAP_FOOTER = 0x06, 0x0F, 0x02
# metadata.yaml custom_data key of a file's SHA-256, written by BagWriter.
CHECKSUM_KEY = 'fer_ros.sha256.'


class BagError(ValueError):
    """A bag that cannot be read as it was written: truncated, corrupt or damaged."""


def _mcap_problem(data):
    """
    Return what is wrong with the bytes of an MCAP file, or None.

    Walks the records: each must fit in the file, and the file must end with
    a footer and the closing magic (else it was cut short). The CRCs a writer
    recorded (rosbag2's MCAP plugin does; rosbags writes 0, meaning none) are
    checked: the data section's, and each uncompressed chunk's.
    """
    if len(data) < 2 * len(MCAP_MAGIC) or data[:len(MCAP_MAGIC)] != MCAP_MAGIC:
        return 'not an MCAP file (no MCAP magic at its start)'
    end = len(data) - len(MCAP_MAGIC)
    position = len(MCAP_MAGIC)
    seen_footer = False
    while position < end:
        if position + 9 > end:
            return f'truncated: a record header at byte {position} runs past the end'
        opcode = data[position]
        (length,) = struct.unpack_from('<Q', data, position + 1)
        body = position + 9
        if body + length > end:
            return (f'truncated or corrupt: the record at byte {position} claims {length} '
                    f'bytes, {end - body} are left')
        if opcode == MCAP_DATA_END and length >= 4:
            (crc,) = struct.unpack_from('<I', data, body)
            if crc and zlib.crc32(data[:position]) != crc:
                return 'corrupt: the data section does not match its CRC'
        elif opcode == MCAP_CHUNK and length >= 32:
            (crc, name_length) = struct.unpack_from('<II', data, body + 24)
            records = body + 32 + name_length
            if crc and name_length == 0 and records + 8 <= body + length:
                (size,) = struct.unpack_from('<Q', data, records)
                chunk = data[records + 8:records + 8 + size]
                if zlib.crc32(chunk) != crc:
                    return f'corrupt: the chunk at byte {position} does not match its CRC'
        elif opcode == MCAP_FOOTER:
            seen_footer = True
        position = body + length
    if data[end:] != MCAP_MAGIC or not seen_footer:
        return 'truncated: no footer and closing magic at its end'
    return None


def check_bag(path):
    """
    Raise BagError, naming the file, unless every file of a rosbag2 MCAP bag is whole.

    Besides the MCAP structure and CRCs, the SHA-256 BagWriter records for
    each file catches a damaged region (e.g. zeroed by a failing disk or an
    interrupted copy) in bags made by ./fer bag, whose writer stores no CRCs.
    """
    metadata_path = os.path.join(path, 'metadata.yaml')
    if not os.path.isfile(metadata_path):
        raise BagError(f'{path}: not a rosbag2 bag folder (no metadata.yaml)')
    try:
        with open(metadata_path) as metadata_file:
            info = yaml.safe_load(metadata_file)['rosbag2_bagfile_information']
        files = info['relative_file_paths']
    except (yaml.YAMLError, KeyError, TypeError) as error:
        raise BagError(f'{metadata_path}: unreadable rosbag2 metadata ({error})') from None
    checksums = info.get('custom_data') or {}
    for name in files:
        file_path = os.path.join(path, name)
        if not os.path.isfile(file_path):
            raise BagError(f'{file_path}: listed in metadata.yaml but missing')
        if not name.endswith('.mcap'):
            continue
        with open(file_path, 'rb') as bag_file:
            if os.fstat(bag_file.fileno()).st_size == 0:
                raise BagError(f'{file_path}: empty file')
            with mmap.mmap(bag_file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                problem = _mcap_problem(data)
                expected = checksums.get(CHECKSUM_KEY + name)
                if problem is None and expected and hashlib.sha256(data).hexdigest() != expected:
                    problem = ('damaged: its content differs from the SHA-256 recorded when it '
                               'was written (a zeroed or overwritten region?)')
        if problem:
            raise BagError(f'{file_path}: {problem}')


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
        self._path = path
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
        """Finish the bag: metadata.yaml, with each file's SHA-256 for check_bag."""
        self._writer.close()
        metadata_path = os.path.join(self._path, 'metadata.yaml')
        with open(metadata_path) as metadata_file:
            metadata = yaml.safe_load(metadata_file)
        info = metadata['rosbag2_bagfile_information']
        checksums = info.get('custom_data') or {}
        for name in info['relative_file_paths']:
            with open(os.path.join(self._path, name), 'rb') as bag_file:
                digest = hashlib.file_digest(bag_file, 'sha256')
            checksums[CHECKSUM_KEY + name] = digest.hexdigest()
        info['custom_data'] = checksums
        with open(metadata_path, 'w') as metadata_file:
            yaml.safe_dump(metadata, metadata_file, sort_keys=False)

    def __enter__(self):
        """Use as a context manager."""
        return self

    def __exit__(self, *exc):
        """Close on leaving the block."""
        self.close()


def read_messages(path, topics=None):
    """
    Yield (topic, time_ns, rclpy message) from a rosbag2 folder, in time order.

    The bag is checked first (check_bag); anything the reader or the
    deserialiser still refuses becomes a BagError naming the bag.
    """
    check_bag(path)
    classes = {}
    try:
        with Reader(path) as reader:
            connections = [c for c in reader.connections if topics is None or c.topic in topics]
            for connection, time_ns, raw in reader.messages(connections=connections):
                cls = classes.get(connection.msgtype)
                if cls is None:
                    cls = classes[connection.msgtype] = message_class(connection.msgtype)
                yield connection.topic, time_ns, deserialize_message(bytes(raw), cls)
    except (ReaderError, RuntimeError, ValueError, struct.error) as error:
        raise BagError(f'{path}: cannot be read ({error})') from None
