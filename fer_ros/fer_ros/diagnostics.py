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

"""Diagnostics and throttled error reporting shared by the fer_ros nodes."""

import time
import traceback

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE
# Endpoints DDS matched on a node's own side of its connections (ManagedNode).
INPUT_PUBLISHERS_MATCHED = 'input_publishers_matched'
OUTPUT_SUBSCRIBERS_MATCHED = 'output_subscribers_matched'
# Messages a node published on its main output (ManagedNode._publish_output).
OUTPUT_PUBLISHED = 'output_published'
# Seconds between a node's reports, and over which its ``…_per_s`` rates count.
REPORT_PERIOD_S = 1.0


def status_values(status):
    """Return the key/value pairs of a DiagnosticStatus as a dict of strings."""
    return {pair.key: pair.value for pair in status.values}


class NodeDiagnostics:
    """
    Publishes one DiagnosticStatus of a node on /diagnostics periodically.

    The level is the worst of the node's declared state (``set_state``), a
    silent input (``set_input_silence``, WARN) and the bad inputs seen since
    the last report (WARN). Each kind of bad input is logged at most once per
    ``log_period_s``; all of them are counted.
    Every counter is reported as a total and as a rate over the last period
    (``<name>_per_s``).
    """

    def __init__(self, node, period_s=REPORT_PERIOD_S, log_period_s=5.0, refresh=None):
        """
        Create the /diagnostics publisher and its timer on ``node``.

        ``refresh``, if given, is called before every report to update values.
        """
        self._node = node
        self._refresh = refresh
        self._log_period_s = log_period_s
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = node.create_timer(period_s, self.publish)
        self._state = (OK, 'starting')
        self._counters = {}
        self._counters_at_report = {}
        self._values = {}
        self._errors_since_report = 0
        self._last_error = ''
        self._last_logged = {}
        self._tracebacks_logged = set()
        self._warned = set()
        self._warning = None
        self._last_report = time.monotonic()
        self._input_silence = None
        self._input_silence_level = WARN

    def set_state(self, level, message):
        """Set the node's persistent level and message, e.g. (ERROR, 'no model')."""
        self._state = (level, message)

    def set_state_if_ok(self, message):
        """Set an OK ``message`` unless the node is in a WARN or ERROR state."""
        if self._state[0] == OK:
            self._state = (OK, message)

    def set_input_silence(self, report, level=WARN):
        """Report a silent input (at ``level``: WARN, or STALE) until called with None."""
        self._input_silence = report
        self._input_silence_level = level

    def count(self, name, amount=1):
        """Add ``amount`` to the counter ``name`` (reported as a value)."""
        self._counters[name] = self._counters.get(name, 0) + amount

    def set_value(self, name, value):
        """Report ``value`` under ``name`` from now on."""
        self._values[name] = value

    def clear_value(self, name):
        """Stop reporting the value ``name``."""
        self._values.pop(name, None)

    def bad_input(self, kind, message):
        """Count a rejected input and log it, at most once per period per kind."""
        self._count_error(f'rejected_{kind}', message)
        now = time.monotonic()
        if now - self._last_logged.get(kind, -1e9) >= self._log_period_s:
            self._last_logged[kind] = now
            self._node.get_logger().warning(f'{message} (input dropped; further such '
                                            f'errors are counted in /diagnostics)')

    def unexpected_error(self, where, error):
        """
        Count an exception that a callback did not expect, as bad input.

        Called from inside the ``except`` block: its traceback is logged the
        first time this kind of error happens in ``where``, then it is only
        counted (``rejected_unexpected_error``).
        """
        message = f'{where}: unexpected {type(error).__name__}: {error}'
        self._count_error('rejected_unexpected_error', message)
        key = (where, type(error).__name__)
        if key not in self._tracebacks_logged:
            self._tracebacks_logged.add(key)
            self._node.get_logger().error(
                f'{message} (input dropped, the node keeps running; further such errors are '
                f'counted in /diagnostics)\n{traceback.format_exc()}')

    def warn_once(self, kind, message):
        """
        Count a condition of the input (``kind``) and report it as WARN this period.

        Logged the first time only: a driver that stamps 0 does it on every
        frame.
        """
        self.count(kind)
        self._warning = message
        if kind not in self._warned:
            self._warned.add(kind)
            self._node.get_logger().warning(f'{message} (logged once; counted as {kind} in '
                                            '/diagnostics)')

    def _count_error(self, counter, message):
        self.count(counter)
        self._errors_since_report += 1
        self._last_error = message

    def status(self):
        """Return the current DiagnosticStatus."""
        now = time.monotonic()
        elapsed = max(now - self._last_report, 1e-6)
        level, message = self._state
        # STALE (3) ranks above ERROR (2) in numbers, not in meaning.
        if self._input_silence and level < WARN:
            level, message = self._input_silence_level, self._input_silence
        if self._errors_since_report and level < WARN:
            level = WARN
            message = (f'{self._errors_since_report} bad input(s) in the last {elapsed:.1f} s; '
                       f'last: {self._last_error}')
        if self._warning and level < WARN:
            level, message = WARN, self._warning
        rates = {f'{k}_per_s': f'{(v - self._counters_at_report.get(k, 0)) / elapsed:.1f}'
                 for k, v in self._counters.items()}
        values = {**{k: str(v) for k, v in self._counters.items()}, **rates,
                  **{k: str(v) for k, v in self._values.items()}}
        return DiagnosticStatus(
            level=level, name=self._node.get_fully_qualified_name(), message=message,
            hardware_id='fer_ros',
            values=[KeyValue(key=k, value=v) for k, v in sorted(values.items())])

    def publish(self):
        """Publish the current status and start a new reporting period."""
        if self._refresh is not None:
            self._refresh()
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = [self.status()]
        self._publisher.publish(array)
        self._errors_since_report = 0
        self._warning = None
        self._counters_at_report = dict(self._counters)
        self._last_report = time.monotonic()
