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


"""When a node's input topic has gone quiet although somebody publishes on it."""


class InputWatch:
    """
    Tracks the last message of one input and tells when its silence is news.

    The report names the likely cause: with no publisher matched, the node
    upstream is not running (or, after a crash, discovery did not reach this
    node); with a publisher matched, the source is paused or this node's DDS
    input broke when it was restarted after a crash (Fast DDS shared memory,
    see README: Troubleshooting).
    """

    def __init__(self, topic, now):
        """Watch ``topic``, counting its silence from ``now`` (seconds)."""
        self.topic = topic
        self._last_message = now
        self._silent = False

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

    def check(self, now, timeout_s, publishers):
        """
        Return the silence report at ``now``, or None while the input is fine.

        ``timeout_s`` of 0 disables the check; ``publishers`` is the number
        of publishers matched on the topic.
        """
        quiet_s = now - self._last_message
        self._silent = timeout_s > 0 and quiet_s >= timeout_s
        if not self._silent:
            return None
        silence = f'no message on {self.topic} for {quiet_s:.0f} s'
        if publishers == 0:
            return (f'{silence}: no publisher is matched (is the node upstream running? '
                    'After a crash, see README: Troubleshooting)')
        return (f'{silence} although {publishers} publisher(s) are matched: the source is '
                "paused, or this node's DDS input broke when it was restarted after a crash "
                '(README: Troubleshooting)')
