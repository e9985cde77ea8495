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

"""Helpers for tests that run real fer_ros nodes over real DDS on localhost."""

import os
import signal
import subprocess
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fer_ros.diagnostics import (
    INPUT_PUBLISHERS_MATCHED, OUTPUT_SUBSCRIBERS_MATCHED, status_values)
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get('FER_DATA_DIR', os.path.join(os.path.dirname(REPO), 'shared', 'data'))
TAIWANESE = os.path.join(DATA_DIR, 'taiwanese')
ASTRONAUT_LANDMARKS = os.path.join(REPO, 'fer_models', 'test', 'fixtures',
                                   'astronaut_landmarks.npz')


def shipped_model_contract():
    """Return (feature_type, window_length) of the shipped default model."""
    from fer_models.core.onnx_model import default_model_path, EmotionModel
    model = EmotionModel(default_model_path())
    return model.feature_type, model.window_length


FEATURE_TYPE, WINDOW_LENGTH = shipped_model_contract()


def statuses_of(diagnostics, node_name):
    """Return the DiagnosticStatus list a node published on /diagnostics."""
    return [s for array in diagnostics for s in array.status if s.name.endswith(node_name)]


def reported_input_silence(diagnostics, node_name, topic):
    """
    Return whether a node warned on /diagnostics that ``topic`` went silent.

    Rarely (6 of 433 restarts measured here) Fast DDS leaves a process that
    replaces a killed one deaf to shared memory (eProsima/Fast-DDS#5469,
    README: Troubleshooting): such a node must say so, and one more restart
    heals it. Tests that restart a node accept exactly this.
    """
    return any(s.level == DiagnosticStatus.WARN and s.message.startswith(f'no message on {topic}')
               for s in statuses_of(diagnostics, node_name))


def executable(name):
    """Return the installed path of a fer_ros executable."""
    from fer_ros.runtime import executable as installed
    return installed(name)


class NodeProcess:
    """One fer_ros executable running as a child process, output to a file."""

    def __init__(self, name, args=(), log_dir='.', env=None):
        """Start ``name`` with ``args`` (in ``env``); its stdout+stderr go to a log of its own."""
        self.name = name
        self.log_path = os.path.join(str(log_dir), f'{name}.log')
        restart = 1
        while os.path.exists(self.log_path):  # a restarted node keeps its own log
            restart += 1
            self.log_path = os.path.join(str(log_dir), f'{name}-{restart}.log')
        self._log = open(self.log_path, 'wb')
        self.process = subprocess.Popen(
            [executable(name), *args], stdout=self._log, stderr=subprocess.STDOUT,
            env=os.environ.copy() if env is None else env)

    def alive(self):
        """Return True while the process runs."""
        return self.process.poll() is None

    def output(self):
        """Return everything the process printed so far."""
        self._log.flush()
        with open(self.log_path, 'rb') as log:
            return log.read().decode(errors='replace')

    def stop(self, timeout=10.0):
        """Stop with SIGINT (SIGKILL after ``timeout``); return the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class RosTestNode:
    """An in-process rclpy node in its own context, to publish and record."""

    def __init__(self, name='fer_test'):
        """Create a context and a node; close() must be called."""
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received = {}
        self.recorders = {}

    def record(self, msg_type, topic, sensor_qos=False):
        """Keep every message on ``topic``; return the list they are kept in (one per topic)."""
        if topic not in self.received:
            self.received[topic] = []
            qos = qos_profile_sensor_data if sensor_qos else 10
            self.recorders[topic] = self.node.create_subscription(
                msg_type, topic, self.received[topic].append, qos)
        return self.received[topic]

    def publisher(self, msg_type, topic, sensor_qos=False):
        """Return a publisher on ``topic``."""
        return self.node.create_publisher(
            msg_type, topic, qos_profile_sensor_data if sensor_qos else 10)

    def spin_for(self, seconds):
        """Process callbacks for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def spin_until(self, predicate, timeout, processes=()):
        """
        Spin until ``predicate()`` is true; False on timeout.

        Fails early with the node's output if one of ``processes`` died.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            for process in processes:
                assert process.alive(), f'{process.name} died:\n{process.output()[-3000:]}'
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def publishers_of(self, node_name, namespace, ready, timeout=10.0, processes=()):
        """
        Return ``{topic: set(types)}`` a remote node publishes, once ``ready`` accepts it.

        DDS announces a node's name (ros_discovery_info) separately from its
        endpoints, so data can flow before the graph knows which node sent it:
        wait for the name and for the topics the caller knows must be there,
        then let the caller check the whole listing strictly.
        """
        def published():
            if (node_name, namespace) not in self.node.get_node_names_and_namespaces():
                return None
            return {topic: set(types) for topic, types in
                    self.node.get_publisher_names_and_types_by_node(node_name, namespace)}

        found = self.spin_until(lambda: ready(published() or {}), timeout, processes)
        assert found, f'{namespace}{node_name} not in the graph after {timeout} s: {published()}'
        return published()

    def wait_for_subscribers(self, publisher, count=1, timeout=15.0, processes=()):
        """Wait until ``publisher`` is matched by ``count`` subscriptions."""
        ok = self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout,
                             processes)
        assert ok, f'no subscriber on {publisher.topic_name} after {timeout} s'

    def wait_for_connections(self, node_name, inputs=0, outputs=0, timeout=20.0, processes=()):
        """
        Wait until ``node_name`` reports its DDS matches in /diagnostics (once a second).

        At least ``inputs`` publishers matched on its input and ``outputs``
        subscribers on its main output. A publisher here that sees the node's
        subscription does not mean the node's side has matched the publisher
        yet: discovery runs separately on both sides, and a message sent in
        between is lost. A report also shows that the node's executor spins.
        """
        diagnostics = self.record(DiagnosticArray, '/diagnostics')
        wanted = {INPUT_PUBLISHERS_MATCHED: inputs, OUTPUT_SUBSCRIBERS_MATCHED: outputs}

        def matched():
            statuses = statuses_of(diagnostics, node_name)
            if not statuses:
                return False
            values = status_values(statuses[-1])
            return all(int(values.get(key, -1)) >= count
                       for key, count in wanted.items() if count)

        assert self.spin_until(matched, timeout, processes), (
            f'{node_name} did not report {wanted} within {timeout} s')

    def wait_for_recorders(self, timeout=15.0, processes=()):
        """Wait until every recording subscription here has matched a publisher."""
        ok = self.spin_until(lambda: all(s.get_publisher_count() >= 1
                                         for s in self.recorders.values()), timeout, processes)
        assert ok, 'a recorder matched no publisher: ' + ', '.join(
            t for t, s in self.recorders.items() if s.get_publisher_count() < 1)

    def parameters(self, node_name, names, timeout=15.0):
        """Return {name: value} of a running node's parameters, via its services."""
        from rclpy.parameter import parameter_value_to_python
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, node_name)
        assert client.wait_for_services(timeout_sec=timeout), \
            f'no parameter services of {node_name} after {timeout} s'
        future = client.get_parameters(list(names))
        assert self.spin_until(future.done, timeout), f'{node_name} did not answer'
        return {name: parameter_value_to_python(value)
                for name, value in zip(names, future.result().values)}

    def close(self):
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


class LifecycleClient:
    """Calls a node's lifecycle services from the test node."""

    def __init__(self, ros, node_name):
        """Create the change_state and get_state clients."""
        self.ros = ros
        self.change = ros.node.create_client(ChangeState, f'/{node_name}/change_state')
        self.get = ros.node.create_client(GetState, f'/{node_name}/get_state')

    def call(self, client, request):
        """Call a service and wait for the answer."""
        assert self.ros.spin_until(client.service_is_ready, timeout=15.0), client.srv_name
        future = client.call_async(request)
        assert self.ros.spin_until(future.done, timeout=15.0), client.srv_name
        return future.result()

    def transition(self, transition_id):
        """Request a transition; return whether it succeeded."""
        return self.call(self.change, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    def state(self, attempts=3):
        """
        Return the node's current state id, asking again if an answer is lost.

        A request sent while discovery is catching up (a node just restarted,
        its dead predecessor's endpoints not yet expired) can go unanswered;
        get_state changes nothing, so asking again is safe.
        """
        assert self.ros.spin_until(self.get.service_is_ready, timeout=15.0), self.get.srv_name
        for _ in range(attempts):
            future = self.get.call_async(GetState.Request())
            if self.ros.spin_until(future.done, timeout=5.0):
                return future.result().current_state.id
            self.get.remove_pending_request(future)
        raise AssertionError(f'{self.get.srv_name}: no answer to {attempts} requests')


def first_face_of_landmark_node(ros, start_node, image, *parameters):
    """
    Start landmark_node (``-p name:=value`` parameters), play ``image`` to it.

    Returns (node process, the first FaceLandmarks it publishes).
    """
    from fer_msgs.msg import FaceLandmarksArray
    from fer_ros.conversions import numpy_to_image
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    landmarks = ros.record(FaceLandmarksArray, 'fer/landmarks')
    arguments = ['--ros-args'] + [item for p in parameters for item in ('-p', p)]
    node = start_node('landmark_node', *(arguments if parameters else ()))
    publisher = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    ros.wait_for_subscribers(publisher, processes=[node])
    frame = numpy_to_image(image, 'rgb8', Header(frame_id='camera'))
    assert ros.spin_until(lambda: publisher.publish(frame) or any(a.faces for a in landmarks),
                          timeout=30.0, processes=[node]), node.output()[-3000:]
    return node, next(a for a in landmarks if a.faces).faces[0]


def landmarks_of(face, face_id, stamp, width=512, height=512):
    """Return a FaceLandmarksArray of one DetectedFace under ``face_id``, stamped ``stamp``."""
    from fer_msgs.msg import FaceLandmarksArray
    from fer_ros.conversions import face_to_msg
    from std_msgs.msg import Header

    return FaceLandmarksArray(header=Header(stamp=stamp), faces=[
        face_to_msg(face, face_id, 'mediapipe_face_mesh_468', Header(stamp=stamp), width,
                    height)])
