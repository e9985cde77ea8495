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

"""Start-up and spinning shared by every fer_ros executable."""

import os
import signal
import subprocess
import sys

from ament_index_python.packages import get_package_prefix, get_package_share_directory
from fer_ros.parameters import ParameterError
import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

# A configuration error is fatal at start-up: exit with this code and a message.
EXIT_BAD_CONFIGURATION = 2


DDS_PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
DISCOVERY_RANGE_VARIABLE = 'ROS_AUTOMATIC_DISCOVERY_RANGE'
LOCALHOST = 'LOCALHOST'
# Fast DDS profiles in fer_ros's config/: a participant's shared-memory
# segment carries what it publishes, and Fast DDS touches all of it at start.
# These two keep every socket on the loopback interface.
IMAGE_DDS_PROFILE = 'fastdds.xml'  # 16 MiB: camera frames (921,600 bytes each)
SMALL_DDS_PROFILE = 'fastdds_small.xml'  # 512 KiB: landmarks, windows, emotions
# Discovery opened on purpose (SUBNET, SYSTEM_DEFAULT): UDP on every interface.
LAN_DDS_PROFILE = 'fastdds_lan.xml'


def _profile_path(name):
    return os.path.join(get_package_share_directory('fer_ros'), 'config', name)


def use_fer_dds_defaults(publishes_images=True):
    """
    Set fer_ros's DDS defaults for this process and its children.

    Discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE is
    set (privacy: nothing leaves it unless the user opens it, e.g. SUBNET).
    Fast DDS gets one of fer_ros's profiles unless FASTDDS_DEFAULT_PROFILES_FILE
    names a profile of the user's. With LOCALHOST discovery the profile binds
    loopback only; a process that publishes images needs its 16 MiB
    shared-memory segment (with Fast DDS's default 512 KiB one, frames
    between processes are lost); the others take the small one, which saves
    about 16 MB of RSS per process. Any other range takes the LAN profile. A
    process replaces one fer_ros profile with another, so a launcher's choice
    passes to its children as a default.
    """
    discovery = os.environ.setdefault(DISCOVERY_RANGE_VARIABLE, LOCALHOST)
    names = (IMAGE_DDS_PROFILE, SMALL_DDS_PROFILE, LAN_DDS_PROFILE)
    if os.environ.get(DDS_PROFILE_VARIABLE, '') not in {_profile_path(n) for n in names} | {''}:
        return
    if discovery != LOCALHOST:
        name = LAN_DDS_PROFILE
    else:
        name = IMAGE_DDS_PROFILE if publishes_images else SMALL_DDS_PROFILE
    os.environ[DDS_PROFILE_VARIABLE] = _profile_path(name)


def loopback_profile_in_charge():
    """Return whether discovery is LOCALHOST with one of fer_ros's loopback-only profiles."""
    return (os.environ.get(DISCOVERY_RANGE_VARIABLE) == LOCALHOST
            and os.environ.get(DDS_PROFILE_VARIABLE) in {
                _profile_path(IMAGE_DDS_PROFILE), _profile_path(SMALL_DDS_PROFILE)})


def init_ros(args=None, **kwargs):
    """
    Call rclpy.init, letting a fer_ros loopback profile keep DDS on this machine.

    For LOCALHOST, rmw_fastrtps appends a UDP transport on every interface
    (and a second shared-memory one) to the profile's: its sockets bind
    0.0.0.0 and the Ethernet address. rcl reads the discovery range once, in
    rclpy.init: while it does, the range reads SYSTEM_DEFAULT, so that rmw
    leaves the transports and discovery peers to the profile (loopback UDP,
    127.0.0.1 as the only peer, no multicast), and then LOCALHOST again for
    the children this process starts.
    """
    if not loopback_profile_in_charge():
        rclpy.init(args=args, **kwargs)
        return
    os.environ[DISCOVERY_RANGE_VARIABLE] = 'SYSTEM_DEFAULT'
    try:
        rclpy.init(args=args, **kwargs)
    finally:
        os.environ[DISCOVERY_RANGE_VARIABLE] = LOCALHOST


def spin_nodes(node_factories, args=None, publishes_images=True):
    """
    Create nodes from factories, spin them until shutdown, clean up.

    ``publishes_images``: whether any of the nodes may publish images (it
    picks the DDS profile, see ``use_fer_dds_defaults``).

    Nodes share one single-threaded executor (see ``new_executor``).
    Returns the process exit code.

    SIGINT and SIGTERM end the spin loop between callbacks while the ROS
    context stays valid, so callbacks in flight finish before the nodes and
    the context go.
    """
    use_fer_dds_defaults(publishes_images)
    init_ros(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = stop_on_signals()
    nodes = []
    code = 0
    executor = None
    try:
        for factory in node_factories:
            nodes.append(factory())
        for node in nodes:
            autostart(node)
        executor = new_executor()
        for node in nodes:
            executor.add_node(node)
        while rclpy.ok() and not stop_requested:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ParameterError, InvalidParameterValueException,
            InvalidParameterTypeException) as error:
        rclpy.logging.get_logger('fer_ros').fatal(f'invalid configuration: {error}')
        code = EXIT_BAD_CONFIGURATION
    finally:
        if executor is not None:
            executor.shutdown()
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def new_executor():
    """
    Return the executor every fer_ros process spins its nodes with.

    rclpy's EventsExecutor (C++, driven by middleware events) when this rclpy
    has it, else the SingleThreadedExecutor. Measured with ``./fer bench``
    (composed, 1 face, 30 fps): the SingleThreadedExecutor rebuilds its wait
    set in Python on every wake-up, which cost about 2.7 ms of CPU per frame
    with four lifecycle nodes' services, timers and subscriptions; the
    EventsExecutor does not. rclpy's multi-threaded executor is worse than
    both (thread hand-offs contend for the GIL).
    """
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return SingleThreadedExecutor()
    return EventsExecutor()


def stop_on_signals():
    """
    Return a list that gets an entry when SIGINT or SIGTERM arrives.

    The handlers replace an inherited SIG_IGN too (a process started in the
    background by a shell ignores SIGINT). Every SIGINT after the first is
    ignored: Ctrl-C in a terminal signals the whole process group, and ros2
    launch forwards one more SIGINT to each node. Python resets its handlers
    to the default while it exits, so a repeat arriving then would kill the
    process (exit code -2) after a clean shutdown; SIG_IGN survives that
    reset. SIGTERM keeps its handler: launch escalates with it when a node
    hangs.
    """
    stop_requested = []

    def request_stop(signum, frame):
        stop_requested.append(signum)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    return stop_requested


def autostart(node):
    """Configure and activate a lifecycle node whose 'autostart' parameter is true."""
    if not getattr(node, 'autostart', False):
        return
    for transition in (node.trigger_configure, node.trigger_activate):
        if transition() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().error(
                f'{transition.__name__[len("trigger_"):]} failed; the node waits for a '
                'lifecycle manager')
            return


def run_node(node_class, args=None):
    """
    Run one node class as a process; exit non-zero on bad configuration.

    A node class that may publish images says so with PUBLISHES_IMAGES = True.
    """
    code = spin_nodes([node_class], args, getattr(node_class, 'PUBLISHES_IMAGES', False))
    if code:
        sys.exit(code)


def stop_child(process, timeout=15.0):
    """Stop a runner child process (SIGTERM, then SIGKILL after ``timeout``)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def default_params_file():
    """Return the installed config/fer.yaml of fer_ros."""
    return os.path.join(get_package_share_directory('fer_ros'), 'config', 'fer.yaml')


def executable(name):
    """Return the path of an installed fer_ros executable."""
    return os.path.join(get_package_prefix('fer_ros'), 'lib', 'fer_ros', name)
