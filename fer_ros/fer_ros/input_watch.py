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


"""When a node's input topic has gone quiet, and which node upstream is to blame."""

from dataclasses import dataclass


class InputWatch:
    """
    Tracks the last message of one input and tells when its silence is news.

    The report names the likely cause: with no publisher matched, the node
    upstream is not running (or, after a crash, discovery did not reach this
    node); with a publisher matched that says on /diagnostics that it
    publishes nothing, that node and its own message (e.g. its input is
    silent too); with one that publishes, this node's DDS input broke when
    it was restarted after a crash (Fast DDS shared memory, see README:
    Troubleshooting); with a publisher that reports nothing, either.

    A publisher's status is evidence only once the period its rate counts
    lies wholly after this node's last message: a status counted while
    messages still arrived here would blame this node's input for the
    upstream's last messages.
    """

    def __init__(self, topic, now, report_period_s=1.0):
        """
        Watch ``topic``, counting its silence from ``now`` (seconds).

        ``report_period_s`` is the period over which the publishers' output
        rates on /diagnostics are counted.
        """
        self.topic = topic
        self._last_message = now
        self._silent = False
        # Half a period of slack: a late timer counts over a longer period.
        self._evidence_after_s = 1.5 * report_period_s

    @property
    def silent(self):
        """Return whether the last check found the input silent."""
        return self._silent

    def message_seen(self, now):
        """
        Record a message at ``now``.

        Returns True when this message ends a silence that was reported.
        """
        ended = self._silent
        self._last_message = now
        self._silent = False
        return ended

    def check(self, now, timeout_s, publishers, upstream=None):
        """
        Return the silence report at ``now``, or None while the input is fine.

        ``timeout_s`` of 0 disables the check; ``publishers`` is the number
        of publishers matched on the topic. ``upstream``, called only when
        the input is silent, returns an UpstreamStatus of each node that
        publishes on the topic (``status`` None for a node that reports no
        diagnostics, e.g. a bag player), so the report can name the node
        that went idle instead of blaming this node's input. Until a node's
        status covers the silence alone, the report waits for it.
        """
        quiet_s = now - self._last_message
        self._silent = timeout_s > 0 and quiet_s >= timeout_s
        if not self._silent:
            return None
        silence = f'no message on {self.topic} for {quiet_s:.0f} s'
        if publishers == 0:
            return (f'{silence}: no publisher is matched (is the node upstream running? '
                    'After a crash, see README: Troubleshooting)')
        nodes = upstream() if upstream is not None else []
        since = self._last_message + self._evidence_after_s
        told = [n for n in nodes if n.status is not None and n.status.received_at >= since]
        idle = [n for n in told if n.status.published_per_s == 0]
        if idle:
            return f'{silence}: ' + '; '.join(
                f'{n.name} publishes nothing ({n.status.message})' for n in idle)
        busy = [n for n in told if n.status.published_per_s]
        if busy:
            return (f"{silence} although {', '.join(n.name for n in busy)} publishes: this "
                    "node's DDS input broke when it was restarted after a crash (README: "
                    'Troubleshooting)')
        pending = [n.name for n in nodes if n.status is not None and n not in told]
        if pending:
            return (f'{silence} although {publishers} publisher(s) are matched (waiting for '
                    f"{', '.join(pending)} to report why on /diagnostics)")
        return (f'{silence} although {publishers} publisher(s) are matched: the source is '
                "paused, or this node's DDS input broke when it was restarted after a crash "
                '(README: Troubleshooting)')


@dataclass(frozen=True)
class ReportedStatus:
    """What a node last said on /diagnostics: its message, its output rate, and when."""

    message: str
    published_per_s: float  # None when it does not report one
    received_at: float  # seconds, on the watch's clock


@dataclass(frozen=True)
class UpstreamStatus:
    """A node publishing on a watched topic, and its last ReportedStatus (or None)."""

    name: str
    status: ReportedStatus = None
