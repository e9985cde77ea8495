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
``./fer bag``: labelled rosbags, replay through the live pipeline, recording.

Usage:
  ./fer bag make --images DIR --labels CSV --out BAG [--fps 15]
                 [--frames-per-image 12] [--gap-frames 12] [--track-column COLUMN]
  ./fer bag make --video FILE --label LABEL --out BAG
  ./fer bag eval BAG [--mode composed|processes|running] [--params-file F]
                 [--rate max|recorded] [--json OUT] [--confusion PNG] [--record BAG]
  ./fer bag record --out BAG [--topics /emotion /fer/landmarks] [--duration S]

A labelled bag holds ``/camera/image_raw`` (sensor_msgs/Image) and
``/fer/ground_truth`` (fer_msgs/Emotion whose stamp is the frame's stamp and
whose label is the true expression). Stills are shown for a number of frames
each, separated by blank frames lasting longer than the landmark node's
``track_timeout_s`` so that every image starts a new face track; with
``--track-column`` (e.g. ``performer``) consecutive rows with the same
value in that CSV column are played without blank frames between them, as
one face track. ``eval``
replays the frames into the real nodes (no camera_node), stamped on the
bag's timeline shifted to now, matches every /emotion to the ground truth
of its source frame and reports accuracy, macro-F1, per-class scores, the
confusion matrix and latency percentiles. ``--mode running`` replays into
a pipeline started elsewhere without a camera, e.g. by ``ros2 launch
fer_ros fer.launch.py camera_source:=none``. ``--rate max`` sends the next
frame as soon as the landmark node has answered the previous one (nothing
dropped); ``recorded`` keeps the bag's timing (keep-latest may drop
frames, as on a robot).
"""

import argparse
from collections import Counter
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from diagnostic_msgs.msg import DiagnosticArray
from fer_models.core.labels import ALL_LABELS, canonical_label
from fer_models.research.evaluate import read_labels
from fer_models.research.metrics import classification_report, format_report, save_confusion_png
from fer_models.research.track_protocol import frame_layout
from fer_msgs.msg import Emotion, FaceLandmarksArray, FeatureWindow
from fer_ros.conversions import CAMERA_FRAME_ID, numpy_to_image
from fer_ros.diagnostics import OUTPUT_SUBSCRIBERS_MATCHED, status_values
from fer_ros.landmark_node import with_low_power
from fer_ros.runtime import (
    default_params_file, executable, init_ros, stop_child)
from fer_ros.tools.bags import BagWriter, read_messages
from fer_ros.tools.bench import percentiles
from fer_ros.tools.dds_domain import claimed_dds_domain
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String
import yaml

IMAGE_TOPIC = '/camera/image_raw'
TRUTH_TOPIC = '/fer/ground_truth'
# evaluate_bag's mode for a pipeline started elsewhere (ros2 launch, a robot).
RUNNING = 'running'
RECORDABLE = {'/emotion': Emotion, '/emotion/label': String,
              '/fer/landmarks': FaceLandmarksArray, '/fer/features': FeatureWindow,
              '/diagnostics': DiagnosticArray}


def truth_message(stamp, label):
    """Return the ground-truth Emotion of one frame."""
    msg = Emotion(header=Header(stamp=stamp, frame_id=CAMERA_FRAME_ID), label=label,
                  confidence=1.0, labels=[label], probabilities=[1.0],
                  valence=math.nan, arousal=math.nan, model_name='ground_truth')
    return msg


def stills_frames(images_dir, rows, frames_per_image, gap_frames):
    """
    Yield (bgr frame, label or None) for a labelled image folder.

    rows: (file, label) or (file, label, track). Blank frames follow every
    image, except between consecutive images of one track: those play as
    one face track (one person changing expression); ``frame_layout`` of
    the track protocol says which frame shows which row.
    """
    import cv2

    blank, image, shown = None, None, None
    for row in frame_layout(rows, frames_per_image, gap_frames):
        if row is None:
            if blank is None or blank.shape != image.shape:
                blank = np.full_like(image, 128)
            yield blank, None
            continue
        if row != shown:
            path = os.path.join(images_dir, rows[row][0])
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f'cannot read image {path}')
            shown = row
        yield image, rows[row][1]


def video_frames(path, label):
    """Yield (bgr frame, label) for every frame of a video."""
    import cv2

    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'cannot open video {path}')
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame, label
    finally:
        capture.release()


def make_bag(out, frames, fps):
    """Write frames and their labels to a new bag; return the frame count."""
    count = 0
    start_ns = time.time_ns()
    with BagWriter(out) as bag:
        for index, (frame, label) in enumerate(frames):
            time_ns = start_ns + int(index * 1e9 / fps)
            header = Header(frame_id=CAMERA_FRAME_ID)
            header.stamp.sec, header.stamp.nanosec = divmod(time_ns, 1_000_000_000)
            bag.write(IMAGE_TOPIC, numpy_to_image(frame, 'bgr8', header), time_ns)
            if label is not None:
                bag.write(TRUTH_TOPIC, truth_message(header.stamp, label), time_ns)
            count += 1
    return count


def load_labelled_frames(path):
    """Return [(Image, true label or None, recorded time ns)] of a labelled bag."""
    truths = {}
    images = []
    for topic, time_ns, msg in read_messages(path, topics={IMAGE_TOPIC, TRUTH_TOPIC}):
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if topic == TRUTH_TOPIC:
            truths[key] = msg.label
        else:
            images.append((msg, key, time_ns))
    if not images:
        raise ValueError(f'{path} has no {IMAGE_TOPIC} messages')
    return [(image, truths.get(key), time_ns) for image, key, time_ns in images]


def stamp_key(stamp):
    """Return a hashable (sec, nanosec) of a stamp."""
    return (stamp.sec, stamp.nanosec)


class BagReplayer(Node):
    """Feeds frames to the pipeline and collects its answers."""

    def __init__(self, record_path=None):
        """Create the image publisher and the result subscriptions."""
        super().__init__('fer_bag_eval')
        self.images = self.create_publisher(Image, 'camera/image_raw', qos_profile_sensor_data)
        self.truth_by_stamp = {}  # stamp key: (true label, index of the frame in the bag)
        self.published_ns = {}
        self.answered = set()
        # Per frame stamp: landmark arrays and faces in them, and emotions. More
        # than one array, or more emotions than faces, or answers to a frame this
        # replay never sent: another pipeline shares the DDS domain.
        self.landmark_arrays = Counter()
        self.faces = {}
        self.emotions_by_frame = Counter()
        # (true label, predicted label, publish-to-receipt latency ms, frame index,
        #  neutral baseline state)
        self.results = []
        self.writer = BagWriter(record_path) if record_path else None
        self.recording = False  # set once priming frames are out of the way
        self.create_subscription(FaceLandmarksArray, 'fer/landmarks', self._on_landmarks, 100)
        self.emotions = self.create_subscription(Emotion, 'emotion', self._on_emotion, 100)
        self.classifier_matches = {}  # classifier name: subscribers it matched on its /emotion
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)

    def _now_ns(self):
        return self.get_clock().now().nanoseconds

    def _on_landmarks(self, msg):
        key = stamp_key(msg.header.stamp)
        self.answered.add(key)
        self.landmark_arrays[key] += 1
        self.faces[key] = len(msg.faces)
        if self.writer and self.recording:
            self.writer.write('/fer/landmarks', msg, self._now_ns())

    def _on_emotion(self, msg):
        received_ns = self._now_ns()
        if self.writer and self.recording:
            self.writer.write('/emotion', msg, received_ns)
        key = stamp_key(msg.header.stamp)
        self.emotions_by_frame[key] += 1
        if key in self.truth_by_stamp:
            truth, frame_index = self.truth_by_stamp[key]
            latency_ms = (received_ns - self.published_ns[key]) / 1e6
            state = msg.neutral_baseline or Emotion.NEUTRAL_BASELINE_OFF
            self.results.append((truth, msg.label, latency_ms, frame_index, state))

    def _on_diagnostics(self, msg):
        for status in msg.status:
            if status.name.endswith('emotion_classifier_node'):
                values = status_values(status)
                if OUTPUT_SUBSCRIBERS_MATCHED in values:
                    self.classifier_matches[status.name] = int(values[OUTPUT_SUBSCRIBERS_MATCHED])

    def emotions_connected(self):
        """
        Return True once both sides of the /emotion connection have matched.

        This node's subscription seeing the classifier's publisher does not
        mean the classifier has matched this subscription: emotions it sends
        before that are lost. Its /diagnostics report how many subscribers
        it matched; that must reach the number this node sees.
        """
        return (self.emotions.get_publisher_count() >= 1
                and any(count >= self.count_subscribers('emotion')
                        for count in self.classifier_matches.values()))

    def pipeline_ready(self):
        """Return True once every pipeline stage is subscribed downstream."""
        return (self.images.get_subscription_count() > 0
                and self.count_subscribers('fer/landmarks') >= 2
                and self.count_subscribers('fer/features') >= 1
                and self.count_publishers('emotion') >= 1)

    def publish(self, image, truth, stamp_ns, frame_index=None):
        """Publish ``image`` (bag frame ``frame_index``) stamped ``stamp_ns``; return its key."""
        image.header.stamp = Time(nanoseconds=stamp_ns).to_msg()
        key = stamp_key(image.header.stamp)
        if truth is not None:
            self.truth_by_stamp[key] = (truth, frame_index)
        self.published_ns[key] = self._now_ns()
        self.images.publish(image)
        return key

    def foreign_answers(self):
        """
        Return a sentence on the answers no single pipeline fed by this replay gives, or None.

        Each frame sent gets one landmark array and at most one emotion per
        face in it.
        """
        emotions = sum(self.emotions_by_frame.values())
        unsent = sum(n for key, n in (self.emotions_by_frame + self.landmark_arrays).items()
                     if key not in self.published_ns)
        repeated = sum(n - 1 for n in self.landmark_arrays.values() if n > 1)
        extra = sum(max(0, n - self.faces.get(key, 0))
                    for key, n in self.emotions_by_frame.items() if key in self.published_ns)
        if not (unsent or repeated or extra):
            return None
        return (f'{emotions} emotions and {sum(self.landmark_arrays.values())} landmark arrays '
                f'for {len(self.published_ns)} frames sent: {unsent} answer frames this replay '
                f'never sent, {repeated} frames answered twice, {extra} emotions beyond their '
                "frame's faces")

    def close(self):
        """Finish the recording, if any."""
        if self.writer:
            self.writer.close()


def spin_until(node, predicate, timeout):
    """Spin ``node`` until ``predicate()``; return whether it became true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        rclpy.spin_once(node, timeout_sec=0.01)
    return predicate()


def low_power_copy(params_file):
    """Return a temporary copy of a parameter file with the low-power preset."""
    with open(params_file) as source:
        params = with_low_power(yaml.safe_load(source))
    with tempfile.NamedTemporaryFile('w', prefix='fer_low_power_', suffix='.yaml',
                                     delete=False) as copy:
        yaml.safe_dump(params, copy, sort_keys=False)
    return copy.name


def start_pipeline(mode, params_file):
    """Start the pipeline without camera_node; return the Popen."""
    if mode == 'composed':
        command = [executable('fer_pipeline'), '--no-camera', '--ros-args',
                   '--params-file', params_file]
    else:
        command = [executable('fer_launch'), '--no-camera', '--params-file', params_file]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def prime(node, image, timeout=30.0):
    """
    Return once the landmark node answers a blank frame like ``image``.

    Seeing the pipeline's subscriptions does not mean its side has matched
    this publisher yet: a best-effort frame sent before that is lost.
    """
    blank = Image(header=image.header, height=image.height, width=image.width,
                  encoding=image.encoding, is_bigendian=image.is_bigendian, step=image.step,
                  data=bytes([128]) * len(image.data))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        key = node.publish(blank, None, node.get_clock().now().nanoseconds)
        if spin_until(node, lambda: key in node.answered, timeout=0.5):
            return True
    return False


def replay(node, frames, rate):
    """
    Publish every frame; return the stamp keys of the frames sent.

    Stamps follow the bag's own timeline from now on, at either rate: the
    nodes' time-based logic (track and face timeouts) then sees the
    recorded timing, so results do not depend on how fast this machine is.
    """
    keys = []
    start_wall = time.monotonic()
    start_ns = node.get_clock().now().nanoseconds
    first_ns = frames[0][2]
    for frame_index, (image, truth, time_ns) in enumerate(frames):
        offset_ns = time_ns - first_ns
        if rate == 'recorded':
            due = start_wall + offset_ns / 1e9
            spin_until(node, lambda: time.monotonic() >= due, timeout=60.0)
            keys.append(node.publish(image, truth, start_ns + offset_ns, frame_index))
        else:
            key = node.publish(image, truth, start_ns + offset_ns, frame_index)
            keys.append(key)
            spin_until(node, lambda: key in node.answered, timeout=5.0)
    return keys


def evaluate_bag(path, mode='composed', params_file=None, rate='max', record=None,
                 low_power=False, answers=False):
    """
    Replay a labelled bag through a pipeline; return the report dict.

    ``mode`` 'composed' or 'processes' starts a fresh pipeline without
    camera_node, 'running' uses the one already running (its parameters are
    its own: ``params_file`` and ``low_power`` are ignored). ``low_power``:
    landmark_node in the low-power preset. With ``answers`` the report lists
    every answer as [frame index in the bag, true label, label, neutral
    baseline state] and the labelled frames in which a face was found.
    """
    frames = load_labelled_frames(path)
    if mode == RUNNING:
        params_file = None
        claim = contextlib.nullcontext()
    else:
        params_file = os.path.abspath(params_file or default_params_file())
        # The replay and its pipeline talk on a domain claimed for this run.
        claim = claimed_dds_domain()
    with claim:
        node, unanswered, elapsed, low_power_params = _replay_through_pipeline(
            frames, mode, params_file, rate, record, low_power)
        domain = os.environ.get('ROS_DOMAIN_ID', '0')
    foreign = node.foreign_answers()
    if foreign:
        raise RuntimeError(f'{foreign}: another pipeline shares DDS domain {domain}; '
                           f'no report for {path}')
    truths = [r[0] for r in node.results]
    labels = [label for label in ALL_LABELS if label in set(truths) | {
        r[1] for r in node.results}]
    report = classification_report(truths, [r[1] for r in node.results], labels)
    report.update({
        'bag': os.path.abspath(path), 'mode': mode, 'rate': rate,
        'frames': len(frames), 'labelled_frames': sum(f[1] is not None for f in frames),
        'frames_without_answer': unanswered, 'seconds': round(elapsed, 1),
        'frames_per_second': round(len(frames) / elapsed, 1) if elapsed else None,
        # Measured here, from publishing a frame to receiving its /emotion:
        # at 'max' rate the stamps run ahead of the wall clock.
        'latency_ms': percentiles([r[2] for r in node.results]),
        'answers_by_neutral_baseline': dict(Counter(r[4] for r in node.results)),
        'params_file': params_file, 'low_power': low_power_params is not None,
    })
    if answers:
        report['answers'] = [[r[3], r[0], r[1], r[4]] for r in node.results]
        # Labelled frames in which the landmark node found a face.
        report['frames_with_face'] = sorted(index for key, (_, index) in
                                            node.truth_by_stamp.items() if node.faces.get(key))
    return report


def _replay_through_pipeline(frames, mode, params_file, rate, record, low_power):
    """
    Start the pipeline (unless ``mode`` is RUNNING) and replay ``frames`` into it.

    Returns (the replay node, frames without a landmark answer, seconds, the
    low-power parameter file or None).
    """
    pipeline = None
    low_power_params = None
    if mode != RUNNING:
        if low_power:
            low_power_params = low_power_copy(params_file)
        pipeline = start_pipeline(mode, low_power_params or params_file)
    init_ros()
    node = BagReplayer(record)

    def pipeline_ended():
        return pipeline is not None and pipeline.poll() is not None

    try:
        if not spin_until(node, lambda: node.pipeline_ready() or pipeline_ended(),
                          timeout=60.0) or pipeline_ended():
            if pipeline is None:
                raise RuntimeError('no running pipeline found in 60 s (start one with '
                                   'ros2 launch fer_ros fer.launch.py camera_source:=none)')
            raise RuntimeError('the pipeline did not come up:\n'
                               + pipeline.stderr.read().decode(errors='replace')[-2000:])
        if not prime(node, frames[0][0]):
            raise RuntimeError('the landmark node did not answer a blank frame within 30 s')
        if not spin_until(node, node.emotions_connected, timeout=30.0):
            raise RuntimeError('the emotion classifier did not report matching the /emotion '
                               'subscription of this replay within 30 s (its /diagnostics '
                               f'value {OUTPUT_SUBSCRIBERS_MATCHED})')
        node.recording = True
        started = time.monotonic()
        sent = replay(node, frames, rate)
        spin_until(node, lambda: False, timeout=1.5)  # the last windows
        elapsed = time.monotonic() - started
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()
        if pipeline is not None:
            stop_child(pipeline)
        if low_power_params is not None:
            os.unlink(low_power_params)
    return node, sum(key not in node.answered for key in sent), elapsed, low_power_params


def record_topics(out, topics, duration):
    """Record FER topics of a running pipeline into a new bag."""
    unknown = [t for t in topics if t not in RECORDABLE]
    if unknown:
        raise ValueError(f"cannot record {', '.join(unknown)}; recordable: "
                         f"{', '.join(RECORDABLE)} (images stay out of bags by design)")
    init_ros()
    node = Node('fer_bag_record')
    counts = dict.fromkeys(topics, 0)
    with BagWriter(out) as bag:
        def keep(topic):
            def callback(msg):
                bag.write(topic, msg, node.get_clock().now().nanoseconds)
                counts[topic] += 1
            return callback
        for topic in topics:
            node.create_subscription(RECORDABLE[topic], topic, keep(topic), 100)
        try:
            spin_until(node, lambda: False, timeout=duration or float('inf'))
        except KeyboardInterrupt:
            pass
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
    return counts


def main(argv=None):
    """Dispatch ``make``, ``eval`` and ``record``."""
    parser = argparse.ArgumentParser(description='Labelled rosbags for fer_ros.')
    commands = parser.add_subparsers(dest='command', required=True)
    make = commands.add_parser('make', help='build a labelled bag from images or a video')
    make.add_argument('--out', required=True, help='new bag folder')
    make.add_argument('--images', help='image folder (with --labels)')
    make.add_argument('--labels', help='CSV with columns file,label')
    make.add_argument('--video', help='video file (with --label)')
    make.add_argument('--label', help='expression shown in the whole video')
    make.add_argument('--fps', type=float, default=15.0, help='frame rate (default 15)')
    make.add_argument('--frames-per-image', type=int, default=12)
    make.add_argument('--gap-frames', type=int, default=12,
                      help='blank frames after each still; at --fps they must last longer '
                      "than landmark_node's track_timeout_s (0.5 s) for each image to start "
                      'a new face track (default 12)')
    make.add_argument('--track-column', default=None,
                      help='CSV column (e.g. performer): consecutive images with the same '
                      'value play as one face track, with no blank frames between them')
    evaluate = commands.add_parser('eval', help='replay a labelled bag through the pipeline')
    evaluate.add_argument('bag')
    evaluate.add_argument('--mode', choices=('composed', 'processes', RUNNING),
                          default='composed',
                          help="pipeline to start ('running': replay into the pipeline "
                          'already running, started without a camera)')
    evaluate.add_argument('--params-file', default=None)
    evaluate.add_argument('--low-power', action='store_true',
                          help="landmark_node in the low-power preset (README 'Low-power mode')")
    evaluate.add_argument('--rate', choices=('max', 'recorded'), default='max')
    evaluate.add_argument('--json', default=None)
    evaluate.add_argument('--confusion', default=None, help='confusion-matrix PNG')
    evaluate.add_argument('--record', default=None,
                          help='also record /emotion and /fer/landmarks into this new bag')
    record = commands.add_parser('record', help='record FER topics of a running pipeline')
    record.add_argument('--out', required=True)
    record.add_argument('--topics', nargs='+', default=['/emotion', '/fer/landmarks'])
    record.add_argument('--duration', type=float, default=0.0, help='seconds (0: Ctrl-C)')
    options = parser.parse_args(argv)
    try:
        if options.command == 'make':
            if options.images and options.labels:
                frames = stills_frames(
                    options.images, read_labels(options.labels, options.track_column),
                    options.frames_per_image, options.gap_frames)
            elif options.video and options.label:
                frames = video_frames(options.video, canonical_label(options.label))
            else:
                make.error('give --images with --labels, or --video with --label')
            count = make_bag(options.out, frames, options.fps)
            print(f'fer bag: wrote {count} frames to {options.out}')
        elif options.command == 'eval':
            report = evaluate_bag(options.bag, options.mode, options.params_file,
                                  options.rate, options.record, options.low_power)
            print(format_report(report))
            print(f"{report['frames']} frames in {report['seconds']} s "
                  f"({report['frames_per_second']} fps, {options.mode}, rate {options.rate}); "
                  f"latency ms {report['latency_ms']}")
            print(f"{report['frames_without_answer']} of {report['frames']} frames got no "
                  'answer from the landmark node' + (
                      ' (at rate recorded the pipeline may drop frames, as on a robot)'
                      if report['frames_without_answer'] and options.rate == 'recorded'
                      else ''))
            if options.json:
                with open(options.json, 'w') as out:
                    json.dump(report, out, indent=1)
            if options.confusion:
                save_confusion_png(report, options.confusion)
        else:
            counts = record_topics(options.out, options.topics, options.duration)
            print(f'fer bag: recorded {counts} into {options.out}')
    except (OSError, ValueError, RuntimeError) as error:
        print(f'fer bag: {error}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
