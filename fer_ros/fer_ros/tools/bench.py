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
``./fer bench``: end-to-end latency, throughput, CPU and memory of the pipeline.

Each scenario runs the real pipeline (one process per node, or all composed
in one process) on the built-in 640x480 sample with one or two real faces at
a given frame rate. A separate probe process subscribes to ``emotion`` and
``/diagnostics`` like a behaviour node would and measures, after a warm-up:
latency from the source frame's stamp to reception (median, p95, p99),
emotions per second per face, the share of camera frames the landmark node
dropped (keep-latest) and the latency drift between the first and last third
of the run. CPU, RSS and PSS of every pipeline process are read from /proc;
CPU is also given in milliseconds per processed frame.

The floor is measured in the same run: MediaPipe Face Mesh alone, in a
process of its own with landmark_node's settings, on the same sample frames
at the same rate; each scenario gives its CPU per frame as a multiple of it.

RSS growth compares the total RSS of the run's last tenth with its first.
The memory floor is the RSS of a process that only starts rclpy, imports
fer_msgs and creates one node: what each process of processes mode costs
before any fer_ros code runs.

Usage: ./fer bench [--duration S] [--warmup S] [--scenarios NAME ...]
       [--out DIR]  (writes bench.json, bench.md, latency_histogram.png)
       ./fer bench --scenarios composed-1face-30fps composed-1face-30fps-hri
                              (the REP-155 output's extra CPU per frame)
       ./fer bench --soak S   (one long processes-1face-30fps run: memory
                               growth and latency drift over S seconds)
       ./fer bench --label TEXT   (names the run in its JSON, for --history)
       ./fer bench --params-file FILE   (the scenarios and stages with a user's YAML)
       ./fer bench --stages-only --appearance-models ean_union.onnx ENSEMBLE.onnx
                              (appearance path per face of each crop model, no DDS)
       ./fer bench --history A.json B.json ... --out DIR   (before/after table
                               of earlier runs: DIR/history.md)
"""

import argparse
from dataclasses import asdict, dataclass
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from diagnostic_msgs.msg import DiagnosticArray
from fer_models.research.figures import png_figure
from fer_models.research.metrics import machine, time_calls_ms
from fer_msgs.msg import Emotion
from fer_ros.conversions import stamp_to_seconds
from fer_ros.runtime import (
    default_params_file, executable, init_ros, stop_child)
from fer_ros.tools.dds_domain import claimed_dds_domain
import numpy as np
import rclpy
from rclpy.node import Node
import yaml

CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
# Shortest span of diagnostics readings that gives a frame rate.
MIN_COUNTER_SPAN_S = 2.0
# A soak's floor needs no more than this: Face Mesh alone neither leaks nor drifts.
FLOOR_MAX_S = 20.0
# The appearance path's CPU budget per face (issue 24): crop + model, 1 thread.
APPEARANCE_BUDGET_MS = 1.5


@dataclass(frozen=True)
class Scenario:
    """One benchmark run: runner mode, faces in the stream, input rate, options."""

    mode: str
    faces: int
    fps: float
    low_power: bool = False
    # With hri_bridge_node (the REP-155 output; needs hri_msgs).
    hri: bool = False

    @property
    def name(self):
        """
        Return e.g. ``processes-1face-30fps``.

        ``-lowpower`` with the low-power preset, ``-hri`` with the REP-155 output.
        """
        return (f'{self.mode}-{self.faces}face-{self.fps:g}fps'
                + ('-lowpower' if self.low_power else '') + ('-hri' if self.hri else ''))


SCENARIOS = (
    Scenario('processes', 1, 30.0), Scenario('processes', 2, 30.0),
    Scenario('composed', 1, 30.0), Scenario('composed', 2, 30.0),
    Scenario('processes', 1, 60.0), Scenario('composed', 1, 60.0),
    Scenario('composed', 1, 30.0, low_power=True),
)
# Run only when named (--scenarios): they need hri_msgs. The extra CPU of the
# REP-155 output is the difference to the same scenario without -hri.
OPTIONAL_SCENARIOS = (
    Scenario('processes', 1, 30.0, hri=True), Scenario('composed', 1, 30.0, hri=True),
    Scenario('composed', 2, 30.0, hri=True),
)


class BenchProbe(Node):
    """Records emotion latencies and pipeline counters after a warm-up."""

    def __init__(self, warmup_s):
        """Subscribe to emotion and /diagnostics."""
        super().__init__('fer_bench_probe')
        self.start = time.monotonic()
        self.warmup_s = warmup_s
        self.samples = []  # (seconds since measuring began, face_id, latency ms)
        # node -> {counter: [first value, its stamp, last value, its stamp]} while measuring
        self.counters = {}
        self.create_subscription(Emotion, 'emotion', self._on_emotion, 100)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 100)

    def measuring_for(self):
        """Return seconds since the warm-up ended (negative during it)."""
        return time.monotonic() - self.start - self.warmup_s

    def _on_emotion(self, msg):
        now = self.get_clock().now().nanoseconds * 1e-9
        elapsed = self.measuring_for()
        if elapsed >= 0:
            latency = 1e3 * (now - stamp_to_seconds(msg.header.stamp))
            self.samples.append((elapsed, msg.face_id, latency))

    def _on_diagnostics(self, msg):
        if self.measuring_for() < 0:
            return
        for status in msg.status:
            node = status.name.rsplit('/', 1)[-1]
            for item in status.values:
                if item.key in ('frames_published', 'frames_processed',
                                'frames_skipped_low_power'):
                    # The publishing node's stamp: under load, arrays arrive in bursts.
                    now = stamp_to_seconds(msg.header.stamp)
                    span = self.counters.setdefault(node, {}).setdefault(
                        item.key, [int(item.value), now, None, None])
                    span[2:] = [int(item.value), now]


def run_probe(out_path, duration_s, warmup_s):
    """Run the probe process: record for warm-up + duration, write JSON."""
    init_ros()
    probe = BenchProbe(warmup_s)
    try:
        while probe.measuring_for() < duration_s:
            rclpy.spin_once(probe, timeout_sec=0.05)
    finally:
        with open(out_path, 'w') as out:
            json.dump({'samples': probe.samples, 'counters': probe.counters}, out)
        probe.destroy_node()
        rclpy.try_shutdown()


def process_name(pid):
    """Return the executable name of a process (script name for Python)."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as cmdline:
            args = [a.decode() for a in cmdline.read().split(b'\0') if a]
    except OSError:
        return None
    if len(args) > 1 and os.path.basename(args[0]).startswith('python'):
        return os.path.basename(args[1])
    return os.path.basename(args[0]) if args else None


def descendants(pid):
    """Return the pids of every descendant of ``pid``."""
    found = []
    try:
        for task in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{task}/children') as children:
                for child in children.read().split():
                    found.append(int(child))
                    found.extend(descendants(int(child)))
    except OSError:
        pass
    return found


def cpu_seconds(stat_text):
    """Return user + system CPU seconds from the text of a /proc .../stat file."""
    fields = stat_text.rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_usage(pid):
    """
    Return (CPU seconds used, RSS MB, PSS MB) of a process, or None if it is gone.

    RSS counts every shared page (libraries, shared memory) in full in each
    process that maps it; PSS divides them among those processes, so a sum of
    PSS does not count them twice.
    """
    try:
        with open(f'/proc/{pid}/stat') as stat:
            cpu = cpu_seconds(stat.read())
        with open(f'/proc/{pid}/smaps_rollup') as rollup:
            sizes_kb = {line.split(':')[0]: int(line.split()[1]) for line in rollup
                        if line.startswith(('Rss:', 'Pss:'))}
    except (OSError, IndexError, ValueError):
        return None
    if len(sizes_kb) != 2:
        return None
    return cpu, sizes_kb['Rss'] / 1024.0, sizes_kb['Pss'] / 1024.0


def write_params(scenario, path, params_file=None):
    """Write the config (default: the installed one) with the scenario's source, rate, faces."""
    with open(params_file or default_params_file()) as config:
        params = yaml.safe_load(config)
    params['camera_node']['ros__parameters'].update(
        source='sample' if scenario.faces == 1 else 'sample2', fps=scenario.fps)
    params['landmark_node']['ros__parameters'].update(max_faces=scenario.faces)
    if scenario.low_power:
        from fer_ros.landmark_node import with_low_power

        with_low_power(params)
    with open(path, 'w') as out:
        yaml.safe_dump(params, out, sort_keys=False)


def thread_cpu(pid):
    """
    Return {thread group: CPU seconds} of a process's threads.

    Threads are grouped by name without its trailing number (e.g. the two
    'mediapipe/NNNN' workers form 'mediapipe'); the Python main thread is
    named after the interpreter.
    """
    groups = {}
    try:
        tasks = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return groups
    for task in tasks:
        try:
            with open(f'/proc/{pid}/task/{task}/stat') as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index('(') + 1:text.rindex(')')]
        group = re.sub(r'[\d./:_-]+$', '', name) or name
        groups[group] = groups.get(group, 0.0) + cpu_seconds(text)
    return groups


def landmark_settings(params_path):
    """Return landmark_node's parameters from a params file (the floor uses the same)."""
    with open(params_path) as params:
        return yaml.safe_load(params)['landmark_node']['ros__parameters']


def run_floor(out_path, params_path, faces, fps, duration_s, warmup_s):
    """
    Run the floor process: Face Mesh alone on the sample frames; write JSON.

    The detector gets landmark_node's settings (max_faces, confidences,
    refine_landmarks, min_input_size) and the frames come from the same
    sample source at the same rate, so this is what the pipeline cannot go
    below. CPU is the whole process's (MediaPipe's own threads included),
    counted around each detect call only.
    """
    from fer_models.core.landmarks import FaceMeshDetector
    from fer_ros.frame_sources import SampleSource
    from fer_ros.landmark_node import DETECTOR_PARAMETERS

    settings = {**landmark_settings(params_path), 'max_faces': faces}
    detector = FaceMeshDetector(**{name: settings[name] for name in DETECTOR_PARAMETERS})
    source = SampleSource(faces=faces)
    period = 1.0 / fps
    cpu_s, wall_ms, found = 0.0, [], []
    started = time.monotonic()
    next_frame = started
    while time.monotonic() - started < warmup_s + duration_s:
        frame = source.read()
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        detected = detector.detect(frame)
        if time.monotonic() - started >= warmup_s:
            cpu_s += time.process_time() - cpu_before
            wall_ms.append(1e3 * (time.perf_counter() - wall_before))
            found.append(len(detected))
        next_frame += period
        time.sleep(max(0.0, next_frame - time.monotonic()))
    detector.close()
    with open(out_path, 'w') as out:
        json.dump({'frames': len(wall_ms),
                   'cpu_ms_per_frame': round(1e3 * cpu_s / max(len(wall_ms), 1), 3),
                   'detect_ms': percentiles(wall_ms),
                   'faces_found_mean': round(float(np.mean(found)), 2) if found else None},
                  out)


def bare_node_rss_mb():
    """
    Return the RSS (MB) of a process that only starts rclpy with fer_msgs and one node.

    Read by ``process_usage``, as the pipeline's processes are, while the
    process waits on its standard input.
    """
    code = ('import sys\nimport rclpy\nfrom rclpy.node import Node\nimport fer_msgs.msg\n'
            "rclpy.init()\nnode = Node('bench_bare_node')\nprint('ready', flush=True)\n"
            'sys.stdin.read()')
    child = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        usage = process_usage(child.pid) if child.stdout.readline().strip() == 'ready' else None
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    if usage is None:
        raise RuntimeError(f'the bare rclpy node process failed (exit code {child.returncode})')
    return round(usage[1], 1)


def measure_floor(scenario, params, duration_s, warmup_s, workdir):
    """Run the floor process for a scenario's faces and rate; return its JSON."""
    out_path = os.path.join(workdir, f'floor-{scenario.faces}face-{scenario.fps:g}fps.json')
    subprocess.run([sys.executable, '-m', 'fer_ros.tools.bench', '--floor', out_path,
                    '--floor-params', params, '--floor-faces', str(scenario.faces),
                    '--fps', str(scenario.fps), '--duration', str(duration_s),
                    '--warmup', str(warmup_s)], check=True)
    with open(out_path) as floor:
        return json.load(floor)


def dropped_text(ratio):
    """Return a dropped-frame ratio as the reports print it."""
    return 'n/a' if ratio is None else f'{100 * ratio:.1f} %'


def percentiles(values):
    """Return median/p95/p99/max of a list, rounded, or Nones if empty."""
    if not len(values):
        return {'median': None, 'p95': None, 'p99': None, 'max': None}
    values = np.asarray(values)
    return {'median': round(float(np.median(values)), 2),
            'p95': round(float(np.percentile(values, 95)), 2),
            'p99': round(float(np.percentile(values, 99)), 2),
            'max': round(float(values.max()), 2)}


def run_scenario(scenario, duration_s, warmup_s, workdir, params_file=None):
    """Run one scenario on a params file (default: the installed one); return its measurements."""
    params = os.path.join(workdir, f'{scenario.name}.yaml')
    probe_out = os.path.join(workdir, f'{scenario.name}.probe.json')
    write_params(scenario, params, params_file)
    if scenario.mode == 'processes':
        command = [executable('fer_launch'), '--params-file', params]
    else:
        command = [executable('fer_pipeline'), '--ros-args', '--params-file', params]
    if scenario.hri:
        command.insert(1, '--hri')
    runner = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = subprocess.Popen([sys.executable, '-m', 'fer_ros.tools.bench', '--probe', probe_out,
                              '--duration', str(duration_s), '--warmup', str(warmup_s)])
    start = time.monotonic()
    first, last = {}, {}
    rss_peak, pss_peak = {}, {}
    rss_timeline = []  # (seconds since start, total RSS MB of the pipeline)
    while probe.poll() is None:
        time.sleep(0.5)
        if time.monotonic() - start < warmup_s:
            continue
        pids = [runner.pid] if scenario.mode == 'composed' else descendants(runner.pid)
        total_rss = 0.0
        for pid in pids:
            usage = process_usage(pid)
            name = process_name(pid)
            if usage is None or name is None:
                continue
            reading = (time.monotonic(), usage[0], thread_cpu(pid))
            first.setdefault(name, reading)
            last[name] = reading
            rss_peak[name] = max(rss_peak.get(name, 0.0), usage[1])
            pss_peak[name] = max(pss_peak.get(name, 0.0), usage[2])
            total_rss += usage[1]
        rss_timeline.append((round(time.monotonic() - start, 1), round(total_rss, 1)))
    stop_child(runner)
    with open(probe_out) as probe_file:
        recorded = json.load(probe_file)
    return summarise(scenario, recorded, duration_s, first, last, (rss_peak, pss_peak),
                     rss_timeline)


def add_floor(result, floor):
    """Attach the floor run to a scenario's result, with the pipeline-to-floor ratio."""
    result['floor'] = floor
    total, base = result['cpu_ms_per_frame'], floor['cpu_ms_per_frame']
    result['floor_ratio'] = round(total / base, 2) if total and base else None


def rss_growth_percent(rss_timeline):
    """Return how much the mean total RSS of the last tenth exceeds the first's."""
    totals = np.asarray([total for _, total in rss_timeline])
    if len(totals) < 2:
        return None
    tenth = max(1, len(totals) // 10)
    start, end = totals[:tenth].mean(), totals[-tenth:].mean()
    return round(float(100.0 * (end - start) / start), 2) if start > 0 else None


def counter_rate(span):
    """
    Return (increase, increase per second) of a diagnostics counter span.

    Each node publishes its diagnostics on its own clock, so counts of two
    nodes over the run cover different intervals; their rates compare. A
    span shorter than MIN_COUNTER_SPAN_S gives no rate (0.0): a node can
    publish twice in quick succession, and a short run may catch only that.
    """
    if not span or span[2] is None or span[3] - span[1] < MIN_COUNTER_SPAN_S:
        return 0, 0.0
    return span[2] - span[0], (span[2] - span[0]) / (span[3] - span[1])


def ms_per_frame(cpu_share, frame_rate):
    """Return CPU ms per frame of a CPU share (CPU seconds per second), or None without frames."""
    return round(1e3 * cpu_share / frame_rate, 2) if frame_rate > 0 else None


def refuse_foreign_answers(scenario, emotions, duration_s, camera_fps):
    """
    Raise RuntimeError when more emotions arrived than the camera's frames can give.

    Each camera frame yields at most one emotion per face: more means another
    pipeline answers on this run's DDS domain, and no number of this run can
    be trusted. The margin covers the two counts' different time windows.
    """
    if camera_fps <= 0:
        return
    most = scenario.faces * camera_fps * duration_s
    if emotions > 1.1 * most + 10:
        raise RuntimeError(
            f'{scenario.name}: {emotions} emotions in {duration_s:g} s for about '
            f'{most:.0f} camera frame-faces ({camera_fps:.1f} fps x {scenario.faces} face(s)): '
            f"another pipeline answers on DDS domain {os.environ.get('ROS_DOMAIN_ID')}; "
            'no report')


def summarise(scenario, recorded, duration_s, first, last, memory_peaks, rss_timeline):
    """Turn probe samples and /proc readings into the scenario's results."""
    rss_peak, pss_peak = memory_peaks
    samples = recorded['samples']
    latency = [s[2] for s in samples]
    per_face = {}
    for _, face_id, _ in samples:
        per_face[face_id] = per_face.get(face_id, 0) + 1
    # Faces seen for a moment (a lost and re-found track) would distort the
    # per-face rate: count the scenario's faces with the most messages.
    busiest = sorted(per_face.values(), reverse=True)[:scenario.faces]
    fps_per_face = [round(n / duration_s, 1) for n in busiest]
    thirds = np.array_split(np.asarray([s[2] for s in sorted(samples)]), 3) if samples else []
    drift = (round(float(np.median(thirds[-1]) - np.median(thirds[0])), 2)
             if samples and len(thirds[0]) and len(thirds[-1]) else None)
    counters = recorded['counters']
    sent, sent_rate = counter_rate(counters.get('camera_node', {}).get('frames_published'))
    done, processed_fps = counter_rate(
        counters.get('landmark_node', {}).get('frames_processed'))
    refuse_foreign_answers(scenario, len(samples), duration_s, sent_rate)
    # Frames skipped on purpose (low-power mode) are not drops.
    _, skipped_fps = counter_rate(counters.get('landmark_node', {}).get(
        'frames_skipped_low_power'))
    processes = {}
    total_share = 0.0
    for name, (stamp, cpu, threads) in last.items():
        start_stamp, start_cpu, start_threads = first[name]
        wall = max(stamp - start_stamp, 1e-6)
        cpu_share = (cpu - start_cpu) / wall
        total_share += cpu_share
        by_thread = {group: ms_per_frame((seconds - start_threads.get(group, 0.0)) / wall,
                                         processed_fps)
                     for group, seconds in threads.items()}
        processes[name] = {
            'cpu_percent': round(100.0 * cpu_share, 1),
            'cpu_ms_per_frame': ms_per_frame(cpu_share, processed_fps),
            'threads_cpu_ms_per_frame': {g: v for g, v in sorted(
                by_thread.items(), key=lambda item: -(item[1] or 0)) if v},
            'rss_mb': round(rss_peak[name], 1), 'pss_mb': round(pss_peak[name], 1)}
    return {
        'scenario': scenario.name, **asdict(scenario),
        'duration_s': duration_s,
        'emotions': len(samples),
        'latency_ms': percentiles(latency),
        'latency_drift_ms': drift,
        'output_fps_per_face': fps_per_face,
        'frames_published': sent,
        'frames_processed': done,
        'dropped_frame_ratio': (round(max(0.0, 1.0 - (processed_fps + skipped_fps) / sent_rate),
                                      3) if sent_rate > 0 else None),
        'processed_fps': round(processed_fps, 2),
        'processes': processes,
        'cpu_ms_per_frame': ms_per_frame(total_share, processed_fps) if processes else None,
        # Differs from cpu_ms_per_frame when landmark_node skips frames (low-power mode).
        'cpu_ms_per_camera_frame': ms_per_frame(total_share, sent_rate) if processes else None,
        'total_rss_mb': round(sum(p['rss_mb'] for p in processes.values()), 1),
        'total_pss_mb': round(sum(p['pss_mb'] for p in processes.values()), 1),
        'rss_growth_percent': rss_growth_percent(rss_timeline),
        'rss_timeline_mb': rss_timeline,
        'latencies_ms': [round(v, 2) for v in latency],
    }


def git_commit():
    """Return the short commit of the source checkout, or '' outside one."""
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ''


def time_ms(function, runs):
    """Return the median wall time of ``function()`` over ``runs`` calls, in ms."""
    return round(float(np.median(time_calls_ms(function, runs, warmup=1))), 3)


def cpu_ms(function, runs):
    """Return the median CPU time of this thread in ``function()`` over ``runs`` calls, in ms."""
    return round(float(np.median(time_calls_ms(function, runs, 5, time.thread_time))), 3)


def configured_appearance_model(params_file=None):
    """Return landmark_node's appearance_model_path in a params file ('' = appearance off)."""
    from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL

    settings = landmark_settings(params_file or default_params_file())
    return settings.get('appearance_model_path', DEFAULT_APPEARANCE_MODEL)


def appearance_path_timing(path, frame, face, runs):
    """
    Return the appearance path's CPU cost per face of one crop model (1 thread, median ms).

    crop: the model's crop of the face; model: one onnxruntime call on it;
    path: both, as landmark_node runs them per face. An ensemble
    (``fer.ensemble_members``) is one call whatever its members and flip.
    """
    from fer_models.core.crops import CropClassifier
    from fer_models.core.resources import model_file

    model = CropClassifier(model_file(path), threads=1)
    crops = model.face_crop(frame, face.bbox, face.points)[None]
    metadata = model.metadata
    return {
        'model': path, 'model_name': model.model_name, 'input_px': model.size,
        'members': json.loads(metadata.get('fer.ensemble_members', 'null')) or [
            metadata.get('fer.run', model.model_name)],
        'flip': metadata.get('fer.flip_test_time_augmentation') == 'true',
        'crop_ms': cpu_ms(lambda: model.face_crop(frame, face.bbox, face.points), runs),
        'model_ms': cpu_ms(lambda: model.predict(crops), runs),
        'path_ms': cpu_ms(lambda: model.classify_face(frame, face.bbox, face.points), runs)}


def appearance_timings(models, runs=300):
    """Return appearance_path_timing of each crop model on the built-in sample's face."""
    from fer_models.core.landmarks import FaceMeshDetector
    from fer_ros.frame_sources import SampleSource

    frame = SampleSource(faces=1).read()
    detector = FaceMeshDetector(max_faces=1)
    try:
        face = detector.detect_still(frame)[0]
    finally:
        detector.close()
    return [appearance_path_timing(path, frame, face, runs) for path in models]


def stage_timings(runs=100, appearance_model=None):
    """
    Time each hot-path stage in this process, on the same sample frames.

    The in-process cost of what one frame goes through, without DDS: the
    image message built, serialised and read back; Face Mesh (1 and 2
    faces); the appearance crop and model (``appearance_model``: the
    configured appearance_model_path; '' = off, not timed); head pose; the
    landmark message; feature extraction and windowing; the window message;
    the landmark model. Medians of warm calls: the live pipeline, woken once
    per frame, pays more (cold caches).
    """
    from fer_models.core.crops import CropClassifier
    from fer_models.core.features import FeatureExtractor
    from fer_models.core.fusion import DEFAULT_APPEARANCE_MODEL
    from fer_models.core.head_pose import head_pose
    from fer_models.core.landmarks import FaceMeshDetector
    from fer_models.core.onnx_model import default_model_path, EmotionModel
    from fer_models.core.resources import model_file
    from fer_msgs.msg import FaceLandmarksArray
    from fer_ros.conversions import (
        Appearance, faces_to_msg, image_to_rgb, numpy_to_image, window_to_msg)
    from fer_ros.frame_sources import SampleSource
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    model = EmotionModel(default_model_path())
    if appearance_model is None:
        appearance_model = DEFAULT_APPEARANCE_MODEL
    appearance = CropClassifier(model_file(appearance_model)) if appearance_model else None
    extractor = FeatureExtractor(model.feature_type)
    stages = {}
    for faces in (1, 2):
        frame = SampleSource(faces=faces).read()
        detector = FaceMeshDetector(max_faces=faces)
        found = detector.detect_still(frame)
        stages[f'face_mesh_{faces}face_ms'] = time_ms(lambda: detector.detect(frame), runs)
        detector.close()
        if faces != 1:
            continue
        message = numpy_to_image(frame, 'rgb8')
        serialised = serialize_message(message)
        stages['numpy_to_image_ms'] = time_ms(lambda: numpy_to_image(frame, 'rgb8'), runs)
        stages['image_serialise_ms'] = time_ms(lambda: serialize_message(message), runs)
        stages['image_deserialise_ms'] = time_ms(
            lambda: deserialize_message(serialised, Image), runs)
        stages['image_to_rgb_ms'] = time_ms(lambda: image_to_rgb(message), runs)
        face = found[0]
        height, width = frame.shape[:2]
        appearances = None  # the node's message when the appearance path is off
        if appearance is not None:
            stages['appearance_crop_ms'] = time_ms(
                lambda: appearance.face_crop(frame, face.bbox, face.points), runs)
            crops = appearance.face_crop(frame, face.bbox, face.points)[None]
            stages['appearance_model_ms'] = time_ms(lambda: appearance.predict(crops), runs)
            appearances = [Appearance(appearance.model_name, appearance.labels,
                                      appearance.predict(crops)[0])]
        stages['head_pose_ms'] = time_ms(lambda: head_pose(face.points, width, height), runs)
        poses = [head_pose(face.points, width, height)]
        stages['landmarks_to_msg_ms'] = time_ms(
            lambda: faces_to_msg(found, [1], detector.landmark_model, Header(), width, height,
                                 appearances, poses), runs)
        landmarks = serialize_message(faces_to_msg(found, [1], detector.landmark_model,
                                                   Header(), width, height, appearances, poses))
        stages['landmarks_deserialise_ms'] = time_ms(
            lambda: deserialize_message(landmarks, FaceLandmarksArray), runs)
        stages['features_per_frame_ms'] = time_ms(
            lambda: extractor.frame(face.points, width, height), runs)
        frames = np.tile(extractor.frame(face.points, width, height), (model.window_length, 1))
        stages['window_ms'] = time_ms(lambda: extractor.window(frames), runs)
        window = extractor.window(frames)
        stages['window_to_msg_ms'] = time_ms(
            lambda: window_to_msg(window, 1, extractor.name, Header(),
                                  appearances[0] if appearances else None, poses[0]),
            runs)
        batch = window[None].astype(np.float32)
        stages['onnx_model_ms'] = time_ms(lambda: model.predict(batch), runs)
    return stages


def markdown(report):
    """Return the report as Markdown tables."""
    lines = [
        '# fer_ros benchmark', '',
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"Python {report['machine']['python']}, {report['machine']['date']}"
        + (f", commit {report['commit']}" if report.get('commit') else '')
        + (f" ({report['label']})" if report.get('label') else '')
        + '. Input: built-in 640x480 sample (real face: scikit-image astronaut; two faces = '
        'portrait and mirror). Parameters: '
        + (f"`{report['params_file']}`" if report.get('params_file') else
           'the installed config/fer.yaml') + '.'
        + (f" {report['duration_s']:g} s measured after {report['warmup_s']:g} s warm-up per "
           'scenario.' if report['scenarios'] else ''), '']
    if not report['scenarios']:
        return '\n'.join(lines + stages_markdown(report) + [''])
    lines += [
        '| scenario | latency median / p95 / p99 ms | drift ms | emotions/s per face '
        '| dropped frames |',
        '| --- | --- | --- | --- | --- |',
    ]
    for result in report['scenarios']:
        lat = result['latency_ms']
        lines.append(
            f"| {result['scenario']} | {lat['median']} / {lat['p95']} / {lat['p99']} "
            f"| {result['latency_drift_ms']} "
            f"| {', '.join(map(str, result['output_fps_per_face'])) or '0'} "
            f"| {dropped_text(result['dropped_frame_ratio'])} |")
    lines += ['', '| scenario | CPU ms per frame | per camera frame | floor ms | pipeline / floor '
              '| per process: CPU ms per frame (% of a core), RSS MB | total RSS MB '
              '| total PSS MB | RSS growth |',
              '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |']
    for result in report['scenarios']:
        floor = result.get('floor') or {}
        processes = ', '.join(
            f"{name} {p.get('cpu_ms_per_frame')} ({p['cpu_percent']:g} %), {p['rss_mb']:g}"
            for name, p in sorted(result['processes'].items()))
        lines.append(
            f"| {result['scenario']} | {result.get('cpu_ms_per_frame')} "
            f"| {result.get('cpu_ms_per_camera_frame')} "
            f"| {floor.get('cpu_ms_per_frame')} | {result.get('floor_ratio')} | {processes} "
            f"| {result['total_rss_mb']} | {result.get('total_pss_mb')} "
            f"| {result['rss_growth_percent']} % |")
    lines += ['', 'CPU ms per frame by thread (main = the Python thread that runs the '
              'callbacks):', '']
    for result in report['scenarios']:
        for name, process in sorted(result['processes'].items()):
            threads = ', '.join(f'{group} {value}' for group, value in
                                process.get('threads_cpu_ms_per_frame', {}).items())
            lines.append(f"- {result['scenario']}, {name}: {threads}")
    if report.get('bare_node_rss_mb'):
        bare = report['bare_node_rss_mb']
        lines += ['', f'Memory floor: a process that only starts rclpy, imports fer_msgs and '
                  f'creates one node has {bare:g} MB RSS; the four processes of processes '
                  f'mode start from {4 * bare:g} MB before any fer_ros code runs.']
    lines += stages_markdown(report)
    lines += ['', 'Latency: source frame stamp (camera_node) to reception by a separate '
              'subscriber process. Dropped frames: camera frames the landmark node skipped '
              'because a newer one had arrived (keep-latest). Drift: median latency of the '
              "run's last third minus its first third. CPU ms per frame: CPU time of the "
              'pipeline processes (all their threads) per frame that landmark_node '
              'processed; per camera frame: per frame camera_node published (they differ '
              'when landmark_node skips frames in low-power mode). Floor: MediaPipe Face '
              'Mesh alone on the same frames at the same rate with '
              "landmark_node's settings, in a process of its own, CPU per frame. "
              'RSS counts shared pages (libraries, shared memory) in every process that maps '
              'them; PSS shares them out. RSS growth: mean total RSS of the '
              "run's last tenth against its first tenth.", '']
    return '\n'.join(lines)


def stages_markdown(report):
    """Return the lines of the in-process stage timings and the appearance path per model."""
    lines = []
    if report.get('stages_ms'):
        lines += ['', 'Hot-path stages, in-process median ms per call (no DDS): ' + ', '.join(
            f'{name[:-3]} {value}' for name, value in report['stages_ms'].items()) + '.']
    if report.get('appearance_paths'):
        lines += ['', 'Appearance path per face (crop + one onnxruntime call, 1 thread, median '
                  f'CPU ms of the calling thread; budget {APPEARANCE_BUDGET_MS} ms):', '',
                  '| crop model | members | flip | input px | crop ms | model ms | path ms '
                  '| within budget |', '| --- | --- | --- | ---: | ---: | ---: | ---: | --- |']
        for entry in report['appearance_paths']:
            lines.append(
                f"| `{entry['model']}` ({entry['model_name']}) | {', '.join(entry['members'])} "
                f"| {'yes' if entry['flip'] else 'no'} | {entry['input_px']} "
                f"| {entry['crop_ms']} | {entry['model_ms']} | {entry['path_ms']} "
                f"| {'yes' if entry['path_ms'] <= APPEARANCE_BUDGET_MS else 'no'} |")
    return lines


def history_markdown(paths):
    """Return a before/after table of earlier bench JSONs, one row per run and scenario."""
    reports = []
    for path in paths:
        with open(path) as report:
            reports.append((os.path.basename(path), json.load(report)))
    lines = ['# fer_ros benchmark: before and after', '',
             'Generated by `./fer bench --history ' + ' '.join(paths) + '`; each row is one '
             '`./fer bench --label ...` run at the commit shown (re-run it with git checkout '
             'of that commit).', '',
             '| run | commit | scenario | CPU ms per frame | per camera frame | floor ms '
             '| pipeline / floor | latency median / p99 ms | dropped | total RSS MB '
             '| total PSS MB |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |']
    for name, report in reports:
        for result in report['scenarios']:
            floor = result.get('floor') or {}
            lat = result['latency_ms']
            lines.append(
                f"| {report.get('label') or name} | {report.get('commit', '')} "
                f"| {result['scenario']} | {result.get('cpu_ms_per_frame')} "
                f"| {result.get('cpu_ms_per_camera_frame')} "
                f"| {floor.get('cpu_ms_per_frame')} | {result.get('floor_ratio')} "
                f"| {lat['median']} / {lat['p99']} "
                f"| {dropped_text(result['dropped_frame_ratio'])} "
                f"| {result['total_rss_mb']} | {result.get('total_pss_mb')} |")
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores"
                       for _, r in reports})
    lines += ['', f"Machine(s): {'; '.join(machines)}.", '']
    return '\n'.join(lines)


def histogram(report, path):
    """Save a latency histogram of every scenario as PNG."""
    with png_figure(path, (8, 4.5)) as (_, axis, _):
        for result in report['scenarios']:
            if result['latencies_ms']:
                axis.hist(result['latencies_ms'], bins=60, range=(0, 60), histtype='step',
                          label=result['scenario'])
        axis.set_xlabel('frame stamp -> /emotion received (ms)')
        axis.set_ylabel('messages')
        axis.legend(fontsize=8)


def time_stages(options):
    """Return the in-process stage timings and the appearance path of each crop model."""
    print('bench: timing hot-path stages in-process ...', flush=True)
    configured = configured_appearance_model(options.params_file)
    models = ([configured] if configured else []) + [
        path for path in options.appearance_models if path != configured]
    return {'stages_ms': stage_timings(appearance_model=configured),
            'appearance_paths': appearance_timings(models)}


def run_stages_only(options):
    """Return the report of the in-process timings alone (no scenario, no DDS)."""
    return {'machine': machine(), 'label': options.label, 'commit': git_commit(),
            'params_file': options.params_file, 'duration_s': 0, 'warmup_s': 0,
            'scenarios': [], **time_stages(options)}


def run_scenarios(options, scenarios):
    """Measure ``scenarios`` on a DDS domain claimed for the run; return the report."""
    with claimed_dds_domain() as domain:
        report = {'machine': machine(), 'label': options.label, 'commit': git_commit(),
                  'params_file': options.params_file, 'ros_domain_id': domain,
                  'duration_s': options.duration, 'warmup_s': options.warmup, 'scenarios': []}
        report['bare_node_rss_mb'] = bare_node_rss_mb()
        if options.stages:
            report.update(time_stages(options))
        floors = {}
        with tempfile.TemporaryDirectory() as workdir:
            for scenario in scenarios:
                name = scenario.name
                print(f'bench: {name} ...', flush=True)
                result = run_scenario(scenario, options.duration, options.warmup, workdir,
                                      options.params_file)
                if (scenario.faces, scenario.fps) not in floors:
                    print(f'bench: floor, Face Mesh alone, {scenario.faces} face(s) at '
                          f'{scenario.fps:g} fps ...', flush=True)
                    floors[scenario.faces, scenario.fps] = measure_floor(
                        scenario, os.path.join(workdir, f'{name}.yaml'),
                        min(options.duration, FLOOR_MAX_S), options.warmup, workdir)
                add_floor(result, floors[scenario.faces, scenario.fps])
                lat = result['latency_ms']
                print(f"bench: {name}: median {lat['median']} ms, p99 {lat['p99']} ms, "
                      f"{result['output_fps_per_face']} emotions/s per face, "
                      f"CPU {result['cpu_ms_per_frame']} ms per frame "
                      f"({result['floor_ratio']}x the floor), RSS {result['total_rss_mb']} MB",
                      flush=True)
                report['scenarios'].append(result)
    return report


def main(argv=None):
    """Run the benchmark scenarios and write JSON, Markdown and a histogram."""
    parser = argparse.ArgumentParser(description='Benchmark the fer_ros pipeline.')
    parser.add_argument('--duration', type=float, default=20.0,
                        help='seconds measured per scenario (default 20)')
    parser.add_argument('--warmup', type=float, default=5.0,
                        help='seconds before measuring (default 5)')
    parser.add_argument('--scenarios', nargs='*', default=None,
                        help=f"subset of: {' '.join(s.name for s in SCENARIOS)} (the default), "
                        f"or the REP-155 output's "
                        f"{' '.join(s.name for s in OPTIONAL_SCENARIOS)} (needs hri_msgs)")
    parser.add_argument('--out', default='bench_out', help='output folder (default bench_out)')
    parser.add_argument('--json', default=None, help='JSON path (default OUT/bench.json)')
    parser.add_argument('--soak', type=float, default=None, metavar='S',
                        help='one run of S seconds (processes-1face-30fps unless '
                        '--scenarios says otherwise) for memory growth and latency drift')
    parser.add_argument('--stages', action='store_true',
                        help='also time each hot-path stage in-process (median ms)')
    parser.add_argument('--params-file', default=None, metavar='YAML',
                        help='parameters the scenarios run with and whose landmark_node '
                        'appearance_model_path the stages time (default: the installed '
                        'config/fer.yaml)')
    parser.add_argument('--appearance-models', nargs='+', default=[], metavar='ONNX',
                        help='with --stages: also time the appearance path (crop + model per '
                        'face) of these crop models, e.g. an ensemble against the shipped one '
                        '(a bare file name is a shipped model)')
    parser.add_argument('--stages-only', action='store_true',
                        help='time the in-process stages and appearance models only: no '
                        'scenario, no DDS (implies --stages)')
    parser.add_argument('--raw', action='store_true',
                        help='keep every latency sample in the JSON (large for soaks)')
    parser.add_argument('--label', default='',
                        help='what this run measures, e.g. the change it follows (kept in the '
                        'JSON for --history)')
    parser.add_argument('--history', nargs='+', metavar='JSON',
                        help='write OUT/history.md: a before/after table of these bench JSONs, '
                        'in this order (runs nothing)')
    parser.add_argument('--probe', help=argparse.SUPPRESS)
    parser.add_argument('--floor', help=argparse.SUPPRESS)
    parser.add_argument('--floor-params', help=argparse.SUPPRESS)
    parser.add_argument('--floor-faces', type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument('--fps', type=float, default=30.0, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.probe:
        run_probe(options.probe, options.duration, options.warmup)
        return 0
    if options.floor:
        run_floor(options.floor, options.floor_params, options.floor_faces, options.fps,
                  options.duration, options.warmup)
        return 0
    if options.history:
        os.makedirs(options.out, exist_ok=True)
        path = os.path.join(options.out, 'history.md')
        with open(path, 'w') as out:
            out.write(history_markdown(options.history))
        print(f'bench: wrote {path}')
        return 0
    if options.soak is not None:
        if options.soak <= 0:
            parser.error('--soak needs a positive number of seconds')
        options.duration = options.soak
        options.scenarios = options.scenarios or ['processes-1face-30fps']
    by_name = {s.name: s for s in SCENARIOS + OPTIONAL_SCENARIOS}
    names = options.scenarios or [s.name for s in SCENARIOS]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    if options.params_file and not os.path.isfile(options.params_file):
        parser.error(f'--params-file {options.params_file}: no such file')
    options.stages = options.stages or options.stages_only or bool(options.appearance_models)
    os.makedirs(options.out, exist_ok=True)
    try:
        report = (run_stages_only(options) if options.stages_only else
                  run_scenarios(options, [by_name[name] for name in names]))
    except RuntimeError as error:
        print(f'bench: {error}', file=sys.stderr)
        return 2
    json_path = options.json or os.path.join(options.out, 'bench.json')
    if report['scenarios']:
        histogram(report, os.path.join(options.out, 'latency_histogram.png'))
    if not options.raw:
        for result in report['scenarios']:
            del result['latencies_ms']
    with open(json_path, 'w') as out:
        json.dump(report, out, indent=1)
    with open(os.path.join(options.out, 'bench.md'), 'w') as out:
        out.write(markdown(report))
    print(markdown(report))
    print(f'bench: wrote {json_path}, bench.md'
          + (' and latency_histogram.png' if report['scenarios'] else '') + f' in {options.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
