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
REP-155 (ROS4HRI) output over real DDS: hri_bridge_node with the real pipeline.

A ROS4HRI-style consumer (humans/faces/tracked, then each id's topics) sees
the sample face's expression through ``ros2 launch ... hri:=true``; two faces
give two ids; a lost face leaves the list within face_timeout_s and its
topics go; each face's head pose is on /tf as face_<id> and gaze_<id>, and
without tf2_msgs the rest goes on; thousands of faces leave no publisher
behind; a missing or wrong hri_msgs stops the node with a clear message.
"""

import math
import os
import subprocess
import sys

from diagnostic_msgs.msg import DiagnosticArray
from fer_models.core.head_pose import head_pose
from fer_msgs.msg import FaceLandmarks, FaceLandmarksArray
from fer_ros.conversions import numpy_to_image, set_head_pose, stamp_to_seconds
from fer_ros.frame_sources import SampleSource
import numpy as np
import pytest
from ros_helpers import executable, landmarks_of, REPO, statuses_of
from sensor_msgs.msg import Image
import yaml

try:
    from hri_msgs.msg import Expression, FacialLandmarks, IdsList, NormalizedRegionOfInterest2D
except ImportError as error:
    pytest.skip(f'{error}: the REP-155 output needs hri_msgs, which ./fer setup builds from '
                '../shared/ros4hri/hri_msgs (or the folder FER_HRI_MSGS names) and found '
                'none, or FER_HRI_MSGS is set empty', allow_module_level=True)

try:
    from tf2_msgs.msg import TFMessage
except ImportError:  # FER_TF2_MSGS set empty: no head-pose frames to check
    TFMessage = None
TF2_MSGS_MISSING = './fer setup builds tf2_msgs from third_party/tf2_msgs, unless ' \
    'FER_TF2_MSGS is set empty'

ROS2 = os.path.join(os.path.dirname(sys.executable), 'ros2')
# The frame_id of the frames the tests publish themselves: the face frames' parent.
OPTICAL_FRAME = 'front_camera_optical_frame'
FACE_TIMEOUT_S = 0.5  # hri_bridge_node's default


class Ros4HriConsumer:
    """Subscribes to humans/faces/tracked, then to each new id's topics, as libhri does."""

    def __init__(self, ros, prefix='/humans/faces'):
        """Start listening on ``prefix``/tracked."""
        self.ros, self.prefix = ros, prefix
        self.tracked = ros.record(IdsList, f'{prefix}/tracked')
        self.expressions, self.rois, self.landmarks = {}, {}, {}
        self._seen = set()
        self._timer = ros.node.create_timer(0.02, self._follow)

    def _follow(self):
        for ids in self.tracked[-5:]:
            for face in set(ids.ids) - self._seen:
                self._seen.add(face)
                self.expressions[face] = self.ros.record(
                    Expression, f'{self.prefix}/{face}/expression')
                self.rois[face] = self.ros.record(
                    NormalizedRegionOfInterest2D, f'{self.prefix}/{face}/roi')
                self.landmarks[face] = self.ros.record(
                    FacialLandmarks, f'{self.prefix}/{face}/landmarks')

    def ids_seen(self):
        """Return every id listed so far."""
        return {face for ids in self.tracked for face in ids.ids}


def write_params(path, sections):
    """Write the installed fer.yaml with ``sections`` merged in; return the path."""
    with open(os.path.join(REPO, 'config', 'fer.yaml')) as source:
        params = yaml.safe_load(source)
    for node, values in sections.items():
        params[node]['ros__parameters'].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return str(path)


def check_face_messages(consumer, face):
    """Assert that one face's roi, landmarks and expressions are well-formed."""
    roi = consumer.rois[face][-1]
    assert 0 <= roi.xmin < roi.xmax <= 1 and 0 <= roi.ymin < roi.ymax <= 1 and 0 <= roi.c <= 1
    marks = consumer.landmarks[face][-1]
    assert (marks.width, marks.height) == (640, 480)
    xy = np.array([(p.x, p.y) for p in marks.landmarks])
    assert xy.shape == (70, 2) and xy.min() >= 0 and xy.max() <= 1
    # The landmarks lie in the face's region (the box is around all mesh points).
    assert roi.xmin - 0.01 <= xy[:, 0].min() and xy[:, 0].max() <= roi.xmax + 0.01
    for expression in consumer.expressions[face]:
        assert 0 <= expression.confidence <= 1
        assert -1 <= expression.valence <= 1 and -1 <= expression.arousal <= 1


def test_ros2_launch_hri_publishes_the_sample_face_for_a_ros4hri_consumer(ros, tmp_path):
    if not os.path.exists(ROS2):
        pytest.skip('ros2 launch is not installed: ./fer setup installs it from the ros2 '
                    'launch kit in ../shared/ros2_launch_kit (FER_LAUNCH_KIT), and found none')
    consumer = Ros4HriConsumer(ros)
    tf = ros.record(TFMessage, '/tf') if TFMessage is not None else []
    launch = subprocess.Popen(
        [ROS2, 'launch', 'fer_ros', 'fer.launch.py', 'camera_source:=sample', 'hri:=true'],
        stdout=open(tmp_path / 'launch.log', 'w'), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        ok = ros.spin_until(lambda: any(len(e) >= 10 for e in consumer.expressions.values()),
                            90.0)
        output = (tmp_path / 'launch.log').read_text()
        assert ok, output[-4000:]
        assert launch.poll() is None, output[-4000:]
    finally:
        if launch.poll() is None:
            os.killpg(launch.pid, 2)
            launch.wait(timeout=30)
    listed = [ids for ids in consumer.tracked if ids.ids]
    # One face, one id for the whole run, at the frame rate.
    assert {tuple(ids.ids) for ids in listed} == {(next(iter(consumer.ids_seen())),)}
    face = next(iter(consumer.ids_seen()))
    assert face[0].isalpha() and face.isalnum()
    check_face_messages(consumer, face)
    expressions = consumer.expressions[face]
    # The smiling astronaut: happy, positive valence (derived, see README).
    assert sum(e.expression == Expression.HAPPY for e in expressions) >= 0.8 * len(expressions)
    happy = expressions[-1]
    assert happy.valence > 0.3 and happy.arousal > 0 and happy.confidence > 0.5
    stamps = [stamp_to_seconds(ids.header.stamp) for ids in listed]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate > 10, f'{rate:.1f} tracked lists per second (camera 30 fps)'
    if TFMessage is not None:  # the head pose from landmark_node, as REP-155 frames
        parents = {t.child_frame_id: t.header.frame_id for m in tf for t in m.transforms}
        assert parents.get(f'face_{face}') == 'camera_optical_frame', sorted(parents)[:5]
        assert parents.get(f'gaze_{face}') == f'face_{face}'
    # No pixels: nothing under /humans carries an image.
    image_topics = [name for name, types in ros.node.get_topic_names_and_types()
                    if name.startswith('/humans') and 'sensor_msgs/msg/Image' in types]
    assert image_topics == []
    (tmp_path / 'captured.txt').write_text(f'{listed[-1]}\n{happy}\n')


def test_two_faces_get_two_ids(ros, start_node, tmp_path):
    params = write_params(tmp_path / 'two.yaml', {
        'landmark_node': {'max_faces': 2}, 'camera_node': {'source': 'sample2'}})
    pipeline = start_node('fer_pipeline', '--hri', '--ros-args', '--params-file', params)
    consumer = Ros4HriConsumer(ros)

    def two_faces_with_expressions():
        both = [ids for ids in consumer.tracked if len(ids.ids) == 2]
        return both and all(consumer.expressions.get(f) for f in both[-1].ids)

    assert ros.spin_until(two_faces_with_expressions, 90.0, [pipeline]), \
        pipeline.output()[-3000:]
    faces = [ids for ids in consumer.tracked if len(ids.ids) == 2][-1].ids
    assert len(set(faces)) == 2
    for face in faces:
        check_face_messages(consumer, face)


def test_a_lost_face_leaves_the_list_within_the_face_timeout(ros, start_node):
    landmark = start_node('landmark_node', '--ros-args', '-p', "appearance_model_path:=''")
    bridge = start_node('hri_bridge_node')
    nodes = [landmark, bridge]
    consumer = Ros4HriConsumer(ros)
    camera = ros.publisher(Image, 'camera/image_raw', sensor_qos=True)
    ros.wait_for_connections('landmark_node', inputs=1, outputs=1, processes=nodes)
    ros.wait_for_connections('hri_bridge_node', inputs=1, outputs=1, processes=nodes)
    sample = SampleSource()
    face_frame, blank = sample.read(), np.full((480, 640, 3), 118, np.uint8)
    sent = []
    period = 0.1

    def send(rgb, count):
        for _ in range(count):
            frame = numpy_to_image(rgb, 'rgb8')
            frame.header.stamp = ros.node.get_clock().now().to_msg()
            camera.publish(frame)
            sent.append((stamp_to_seconds(frame.header.stamp), rgb is face_frame))
            ros.spin_for(period)

    send(face_frame, 20)
    assert consumer.ids_seen(), landmark.output()[-2000:] + bridge.output()[-2000:]
    (face,) = consumer.ids_seen()
    assert ros.node.count_publishers(f'/humans/faces/{face}/roi') == 1
    send(blank, 15)
    ros.spin_for(0.5)
    last_face = max(t for t, with_face in sent if with_face)
    emptied = [stamp_to_seconds(ids.header.stamp) for ids in consumer.tracked
               if not ids.ids and stamp_to_seconds(ids.header.stamp) > last_face]
    assert emptied, 'the face never left humans/faces/tracked'
    # Lost after face_timeout_s of frame time without it: the first frame
    # more than the timeout after its last one.
    assert FACE_TIMEOUT_S < emptied[0] - last_face <= FACE_TIMEOUT_S + period + 0.05
    assert ros.spin_until(
        lambda: ros.node.count_publishers(f'/humans/faces/{face}/roi') == 0, 5.0), \
        "the lost face's topics still have a publisher"
    send(face_frame, 5)
    assert len(consumer.ids_seen()) == 2, 'a returning face gets a new id'


def bridge_on_the_astronaut(ros, start_node, astronaut, env=None):
    """
    Run hri_bridge_node (in ``env``) on the astronaut's landmarks until its roi arrives.

    The frames come from the optical frame OPTICAL_FRAME, with the head pose
    landmark_node would give them. Returns (consumer, face id, diagnostics).
    """
    image, face = astronaut
    height, width = image.shape[:2]
    pose = head_pose(face.points, width, height)
    diagnostics = ros.record(DiagnosticArray, '/diagnostics')
    bridge = start_node('hri_bridge_node', env=env)
    consumer = Ros4HriConsumer(ros)
    publisher = ros.publisher(FaceLandmarksArray, 'fer/landmarks')
    ros.wait_for_connections('hri_bridge_node', inputs=1, outputs=1, processes=[bridge])

    def play():
        frame = landmarks_of(face, 7, ros.node.get_clock().now().to_msg(), width, height)
        frame.header.frame_id = OPTICAL_FRAME
        set_head_pose(frame.faces[0], pose)
        publisher.publish(frame)
        ros.spin_for(0.05)
        return any(len(rois) >= 5 for rois in consumer.rois.values())

    assert ros.spin_until(play, 30.0, [bridge]), bridge.output()[-3000:]
    (hri_id,) = consumer.ids_seen()
    return consumer, hri_id, diagnostics


def test_each_face_s_head_pose_is_on_tf_as_rep155_frames(ros, start_node, astronaut):
    if TFMessage is None:
        pytest.skip(f'no tf2_msgs: {TF2_MSGS_MISSING}')
    tf = ros.record(TFMessage, '/tf')
    _, hri_id, _ = bridge_on_the_astronaut(ros, start_node, astronaut)
    assert ros.spin_until(lambda: len(tf) >= 3, 5.0)
    frames = {t.child_frame_id: t for message in tf[-3:] for t in message.transforms}
    face, gaze = frames[f'face_{hri_id}'], frames[f'gaze_{hri_id}']
    assert face.header.frame_id == OPTICAL_FRAME and gaze.header.frame_id == f'face_{hri_id}'
    assert face.header.stamp == gaze.header.stamp
    where = face.transform.translation
    # A 512-pixel portrait seen by the default 60-degree camera: about 0.7 m away.
    assert 0.4 < where.z < 1.2 and abs(where.x) < 0.3 and abs(where.y) < 0.3, where
    turn = face.transform.rotation
    x_axis = [1 - 2 * (turn.y ** 2 + turn.z ** 2), 2 * (turn.x * turn.y + turn.z * turn.w),
              2 * (turn.x * turn.z - turn.y * turn.w)]
    assert x_axis[2] < -0.8, x_axis  # out of the face: towards the camera
    assert gaze.transform.translation.x == gaze.transform.translation.y == 0.0


def test_without_tf2_msgs_the_bridge_publishes_the_rest_and_says_why(ros, start_node,
                                                                     astronaut):
    pythonpath = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
                  if p and not os.path.isdir(os.path.join(p, 'tf2_msgs'))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    consumer, hri_id, diagnostics = bridge_on_the_astronaut(ros, start_node, astronaut, env)
    assert ros.spin_until(lambda: any('tf2_msgs is not installed' in s.message for s in
                                      statuses_of(diagnostics, 'hri_bridge_node')), 5.0)
    assert ros.node.count_publishers('/tf') == 0
    assert consumer.rois[hri_id][-1].xmax > consumer.rois[hri_id][-1].xmin


def test_thousands_of_faces_leave_no_publisher_behind(ros):
    from fer_ros.hri_bridge_node import HriBridgeNode

    node = HriBridgeNode(context=ros.context)
    try:
        node.trigger_configure()
        node.trigger_activate()
        base = len(list(node.publishers))
        for face_id in range(1, 2001):
            msg = FaceLandmarksArray()
            msg.header.stamp.sec = face_id  # 1 s apart: each face is lost at the next frame
            face = FaceLandmarks(face_id=face_id, num_points=468, image_width=640,
                                 image_height=480, bbox_x=10.0, bbox_y=10.0, bbox_width=50.0,
                                 bbox_height=50.0, detection_confidence=math.nan)
            face.points = np.random.default_rng(face_id).uniform(0.1, 0.9, 468 * 3).tolist()
            msg.faces = [face]
            node._on_faces(msg)
            assert len(list(node.publishers)) <= base + 3
        names = {name for name, _ in node.get_publisher_names_and_types_by_node(
            'hri_bridge_node', '')}
        assert len([n for n in names if n.startswith('/humans/faces/') and
                    not n.endswith('/tracked')]) == 3
    finally:
        node.destroy_node()


def run_bridge(pythonpath):
    """Run hri_bridge_node with PYTHONPATH ``pythonpath``; return (exit code, output)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    done = subprocess.run([executable('hri_bridge_node')], env=env, capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def without_hri_msgs():
    return [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
            if p and not os.path.isdir(os.path.join(p, 'hri_msgs'))]


def test_missing_hri_msgs_stops_the_bridge_with_a_clear_message():
    code, output = run_bridge(without_hri_msgs())
    assert code == 2, output
    assert 'the REP-155 output (hri:=true) needs hri_msgs, which is not installed' in output
    assert 'ros-$ROS_DISTRO-hri-msgs' in output and 'FER_HRI_MSGS' in output


def test_a_wrong_hri_msgs_stops_the_bridge_with_a_clear_message(tmp_path):
    fake = tmp_path / 'hri_msgs' / 'msg'
    fake.mkdir(parents=True)
    (tmp_path / 'hri_msgs' / '__init__.py').write_text('')
    (fake / '__init__.py').write_text('class IdsList:\n    ids = []\n')
    code, output = run_bridge([str(tmp_path)] + without_hri_msgs())
    assert code == 2, output
    assert 'is not the ROS4HRI message package this node needs' in output, output
    assert 'lacks NormalizedRegionOfInterest2D, FacialLandmarks' in output, output
