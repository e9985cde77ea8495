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

"""The managed (lifecycle) node every fer_ros node is built on."""

import functools
import time

from diagnostic_msgs.msg import DiagnosticArray
from fer_models.core.baseline import AUTO, DEFAULT_MODELS, MODES, OFF
from fer_models.core.features import NEUTRAL_REFERENCE
from fer_ros.diagnostics import (
    ERROR, INPUT_PUBLISHERS_MATCHED, NodeDiagnostics, OK, OUTPUT_PUBLISHED,
    OUTPUT_SUBSCRIBERS_MATCHED, REPORT_PERIOD_S, status_values, WARN)
from fer_ros.frame_clock import FrameClock
from fer_ros.input_watch import InputWatch, ReportedStatus, UpstreamStatus
from fer_ros.parameters import declare_parameters, ParamSpec, validate_changes
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

AUTOSTART = ParamSpec(
    'autostart', True,
    'Configure and activate the node at start-up. False leaves it unconfigured for a '
    "lifecycle manager (e.g. 'ros2 lifecycle set /camera_node configure').")

INPUT_TIMEOUT = ParamSpec(
    'input_timeout_s', 5.0,
    'Warn on /diagnostics when the input topic has been silent this long: the node '
    'upstream is not running or paused, or this node was restarted after a crash and its '
    'input broke (README: Troubleshooting). 0 disables the check.',
    min_value=0.0, max_value=3600.0)


MAX_FACES_KEPT = ParamSpec(
    'max_faces_kept', 16,
    'Most faces whose state is kept; beyond it the face seen longest ago is forgotten. '
    'Bounds memory when face ids churn or stamps do not advance, besides face_timeout_s.',
    min_value=1, max_value=1024)

NEUTRAL_BASELINE = ParamSpec(
    'neutral_baseline', OFF,
    'Pipeline-wide, read by feature_buffer_node and emotion_classifier_node: set it once, '
    "in the parameter file's '/**' section or with ros2 launch's neutral_baseline:=auto. "
    "off: windows of absolute features; the classifier's default model is "
    f"{DEFAULT_MODELS[OFF]}. auto: feature_buffer_node estimates each face's resting face "
    'from low-motion frames the appearance path reads as neutral (see baseline_frames, '
    'baseline_max_motion, baseline_min_neutral) and publishes features relative to it, '
    f'feature type <feature_type>/{NEUTRAL_REFERENCE}, and appearance probabilities relative '
    "to the face's resting appearance; until then a face is read as with off (windows marked "
    "collecting); the classifier's default model is "
    f'{DEFAULT_MODELS[AUTO]}. A model_path whose model reads the other kind of features is '
    'refused (at start: exit code 2).',
    choices=MODES)


class ManagedNode(LifecycleNode):
    """
    A lifecycle node: resources while configured, data flow while active.

    Subclasses implement ``_configure`` (load models, build detectors),
    ``_activate`` (subscriptions, timers, devices), ``_deactivate`` (undo
    ``_activate``: nothing is published and devices are released; the input
    subscription is already gone) and
    ``_cleanup`` (undo ``_configure``), plus ``_apply_parameters(names)`` for
    live changes of a configured node. Parameters and /diagnostics exist in
    every state, so a node can be inspected and tuned before it runs. A node
    with an input topic subscribes through ``_create_input_subscription``
    (and lists ``INPUT_TIMEOUT`` among its parameters when a silent input is
    to be reported); its main output is made by ``_create_output_publisher``.
    /diagnostics then reports how many publishers DDS has matched on the
    input (``input_publishers_matched``) and subscribers on the output
    (``output_subscribers_matched``): discovery runs separately on each side
    of a connection, and until both sides have matched, messages are lost.
    """

    def __init__(self, node_name, parameters, **kwargs):
        """Declare ``parameters`` (plus ``autostart``) and start diagnostics."""
        # Set first: a node whose parameters are refused is still destroyed.
        self._configured = False
        self._active = False
        super().__init__(node_name, **kwargs)
        specs = tuple(parameters) + (AUTOSTART,)
        self._params = declare_parameters(self, specs)
        self._input_subscription = None
        self._output_publisher = None
        self._diagnostics = NodeDiagnostics(self, refresh=self._report_connections)
        self._diagnostics.set_state(OK, 'unconfigured')
        self._input_watch = None
        self._input_timer = None
        self._upstream_subscription = None
        self._upstream_statuses = {}
        self._silence_level = WARN
        self._frame_clock = FrameClock()
        self._specs = specs
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self.guarded(self._on_parameters_set,
                                                           'applying parameters'))

    @property
    def autostart(self):
        """Return whether the runner should configure and activate this node."""
        return self._params['autostart']

    def on_configure(self, state):
        """Acquire the node's resources."""
        try:
            self._configure()
        except Exception as error:  # noqa: B902 - any failure must leave the node unconfigured
            self.get_logger().error(f'configure failed: {error}')
            self._diagnostics.set_state(ERROR, f'configure failed: {error}')
            self._cleanup()
            return TransitionCallbackReturn.FAILURE
        self._configured = True
        self._diagnostics.set_state_if_ok('configured, inactive')
        return super().on_configure(state)

    def on_activate(self, state):
        """Start the data flow."""
        self._frame_clock = FrameClock()
        self._diagnostics.set_state_if_ok('active')
        self._activate()
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state):
        """Stop the data flow; publish nothing until activated again."""
        self._active = False
        self._stop_input()
        self._deactivate()
        self._diagnostics.set_state(OK, 'inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        """Release the node's resources."""
        self._configured = False
        self._cleanup()
        self._diagnostics.set_state(OK, 'unconfigured')
        return super().on_cleanup(state)

    def on_shutdown(self, state):
        """Stop and release everything."""
        self._release()
        return super().on_shutdown(state)

    def destroy_node(self):
        """Stop and release everything before the node goes."""
        self._release()
        return super().destroy_node()

    def _release(self):
        if self._active:
            self._active = False
            self._stop_input()
            self._deactivate()
        if self._configured:
            self._configured = False
            self._cleanup()

    def _create_input_subscription(self, msg_type, topic, callback, qos, watch_silence=True,
                                   silence_level=WARN):
        """
        Subscribe ``callback`` to the node's input until deactivation.

        With ``watch_silence`` a silent input is reported at ``silence_level``
        (WARN; STALE for an input that stops whenever nobody is in view),
        naming the node upstream that went idle: what the publishers say on
        /diagnostics is kept meanwhile.
        """
        if watch_silence:
            watch = InputWatch(self.resolve_topic_name(topic), time.monotonic(), REPORT_PERIOD_S)
            self._input_watch = watch
            self._silence_level = silence_level
            self._upstream_statuses = {}
            self._upstream_subscription = self.create_subscription(
                DiagnosticArray, '/diagnostics',
                self.guarded(self._on_diagnostics, 'message on /diagnostics'), 10)

            def watched(msg):
                if watch.message_seen(time.monotonic()):
                    self._diagnostics.set_input_silence(None)
                    self.get_logger().info(f'{watch.topic}: messages arrive again')
                callback(msg)

            self._input_timer = self.create_timer(1.0, self._check_input)
        self._input_subscription = self.create_subscription(
            msg_type, topic, self.guarded(watched if watch_silence else callback,
                                          f'message on {self.resolve_topic_name(topic)}'),
            qos)
        return self._input_subscription

    def _frame_time(self, stamp):
        """
        Return the time per-face state ages by, for a message stamped ``stamp``.

        The stamps' time while they behave; zero, frozen or jumping stamps are
        warned about once (and counted on /diagnostics), and arrival time
        fills in (see FrameClock).
        """
        now, problem = self._frame_clock.update(stamp.sec + stamp.nanosec * 1e-9,
                                                time.monotonic())
        if problem:
            kind, message = problem
            self._diagnostics.warn_once(f'stamps_{kind}', message)
        return now

    def _create_output_publisher(self, msg_type, topic, qos):
        """
        Create the node's main output, a lifecycle publisher; publish with ``_publish_output``.

        Its messages are counted (``output_published``, ``…_per_s``) so the
        nodes downstream can tell an idle upstream from a broken input.
        """
        self._output_publisher = self.create_lifecycle_publisher(msg_type, topic, qos)
        self._diagnostics.count(OUTPUT_PUBLISHED, 0)
        return self._output_publisher

    def _publish_output(self, msg):
        """Publish ``msg`` on the node's main output and count it."""
        self._output_publisher.publish(msg)
        self._diagnostics.count(OUTPUT_PUBLISHED)

    def _on_diagnostics(self, array):
        for status in array.status:
            rate = status_values(status).get(OUTPUT_PUBLISHED + '_per_s')
            self._upstream_statuses[status.name] = ReportedStatus(
                status.message, None if rate is None else float(rate), time.monotonic())

    def _upstream(self, topic):
        """Return an UpstreamStatus of each node publishing on ``topic``."""
        names = [f"{info.node_namespace.rstrip('/')}/{info.node_name}"
                 for info in self.get_publishers_info_by_topic(topic)]
        return [UpstreamStatus(name, self._upstream_statuses.get(name)) for name in names
                if name != self.get_fully_qualified_name()]

    def _report_connections(self):
        if self._output_publisher is not None:
            self._diagnostics.set_value(OUTPUT_SUBSCRIBERS_MATCHED,
                                        self._output_publisher.get_subscription_count())
        if self._input_subscription is not None:
            self._diagnostics.set_value(INPUT_PUBLISHERS_MATCHED,
                                        self._input_subscription.get_publisher_count())
        else:
            self._diagnostics.clear_value(INPUT_PUBLISHERS_MATCHED)

    def _check_input(self):
        watch = self._input_watch
        was_silent = watch.silent
        report = watch.check(time.monotonic(), self._params['input_timeout_s'],
                             self._input_subscription.get_publisher_count(),
                             lambda: self._upstream(watch.topic))
        self._diagnostics.set_input_silence(report, self._silence_level)
        if report and not was_silent:
            # A STALE input is no fault (nobody in view): not worth a warning.
            log = self.get_logger().warning if self._silence_level == WARN else \
                self.get_logger().info
            log(report)

    def _stop_input(self):
        if self._input_subscription is not None:
            self.destroy_subscription(self._input_subscription)
            self._input_subscription = None
        if self._input_timer is not None:
            self.destroy_timer(self._input_timer)
            self._input_timer = None
        if self._upstream_subscription is not None:
            self.destroy_subscription(self._upstream_subscription)
            self._upstream_subscription = None
        self._input_watch = None
        self._diagnostics.set_input_silence(None)

    def guarded(self, callback, where):
        """
        Return ``callback`` wrapped so that an exception cannot end the node.

        rclpy lets an exception escape from a callback through the executor
        and ends the process (every node of fer_pipeline with it). Here it
        counts as bad input: the message is dropped, the traceback logged
        once, and the node goes on.
        """
        # wraps: rclpy reads the signature (through __wrapped__) to decide
        # what to pass, e.g. a timer's TimerInfo only to a callback taking it.
        @functools.wraps(callback)
        def guarded_callback(*args):
            try:
                return callback(*args)
            except Exception as error:  # noqa: B902 - no input may end the node
                self._diagnostics.unexpected_error(where, error)
                return None

        return guarded_callback

    def _validate_parameters(self, parameters):
        try:
            result = validate_changes(self._specs, parameters)
            if result.successful and self._configured:
                problem = self._check_changes({p.name: p.value for p in parameters})
                if problem:
                    result = SetParametersResult(successful=False, reason=problem)
            return result
        except Exception as error:  # noqa: B902 - refuse the change, keep the node
            self._diagnostics.unexpected_error('checking parameters', error)
            return SetParametersResult(successful=False,
                                       reason=f'unexpected {type(error).__name__}: {error}')

    def _check_changes(self, changes):
        """
        Return why a live change of a configured node is refused, or None.

        ``changes``: {name: new value}. Called before the change is made, so
        a subclass can try it (e.g. load a model) and keep what it has.
        """
        return None

    def _on_parameters_set(self, parameters):
        for parameter in parameters:
            self._params[parameter.name] = parameter.value
        if self._configured:
            self._apply_parameters({p.name for p in parameters})

    def _configure(self):
        pass

    def _activate(self):
        pass

    def _deactivate(self):
        pass

    def _cleanup(self):
        pass

    def _apply_parameters(self, names):
        pass
