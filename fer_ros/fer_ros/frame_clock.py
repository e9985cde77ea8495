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

"""The time per-face state ages by: the frames' stamps while they behave."""

# Stamps may run ahead of arrival (a bag replayed as fast as the nodes go)
# by this much per message before a step counts as a jump.
MAX_STEP_AHEAD_S = 5.0
# A stamp that has not moved for this long (arrival time) is frozen.
FROZEN_AFTER_S = 1.0

ZERO, FROZEN, JUMPED_AHEAD, WENT_BACK = 'zero', 'frozen', 'jumped_ahead', 'went_back'
_REMEDY = 'face timeouts follow arrival time meanwhile'


class FrameClock:
    """
    Turns the header stamps of one input into the time face timeouts use.

    Per-face state (tracks, windows, smoothing) expires in frame time, so a
    pause in processing does not expire a face. That needs stamps that move
    forward with the frames: a driver without a clock stamps 0,
    ``use_sim_time`` without /clock freezes them, and one stamp far in the
    future would expire every face at once. The clock advances by the
    stamps' step while it is plausible (0 < step <= arrival step +
    MAX_STEP_AHEAD_S) and by the arrival step otherwise; ``update`` names
    the problem so the node can warn. O(1) per message.
    """

    def __init__(self):
        """Start at time 0; the first message only sets the references."""
        self._time = 0.0
        self._stamp = None
        self._arrival = None
        self._stamp_moved_at = None

    def update(self, stamp_s, arrival_s):
        """
        Return (frame time, problem) of a message stamped ``stamp_s``, arriving at ``arrival_s``.

        ``arrival_s``: a monotonic clock in seconds. ``problem`` is None, or
        (kind, message) with kind one of ZERO, FROZEN, JUMPED_AHEAD, WENT_BACK.
        """
        if self._stamp is None:
            self._stamp, self._arrival, self._stamp_moved_at = stamp_s, arrival_s, arrival_s
            return self._time, self._zero() if stamp_s == 0 else None
        arrival_step = max(0.0, arrival_s - self._arrival)
        stamp_step = stamp_s - self._stamp
        problem = None
        if stamp_s == 0:
            problem = self._zero()
        elif stamp_step == 0:
            if arrival_s - self._stamp_moved_at >= FROZEN_AFTER_S:
                problem = (FROZEN, f'header stamps frozen at {stamp_s:.3f} s for '
                                   f'{arrival_s - self._stamp_moved_at:.0f} s (use_sim_time '
                                   f'without a running /clock?); {_REMEDY}')
        elif stamp_step < 0:
            problem = (WENT_BACK, f'header stamp went back {-stamp_step:.3f} s (a bag '
                                  f'restarted?); {_REMEDY}')
        elif stamp_step > arrival_step + MAX_STEP_AHEAD_S:
            problem = (JUMPED_AHEAD, f'header stamp jumped {stamp_step:.1f} s ahead in '
                                     f'{arrival_step:.1f} s; {_REMEDY}')
        if stamp_step != 0:
            self._stamp_moved_at = arrival_s
        plausible = problem is None and stamp_step > 0
        self._time += stamp_step if plausible else arrival_step
        self._stamp, self._arrival = stamp_s, arrival_s
        return self._time, problem

    @staticmethod
    def _zero():
        return (ZERO, 'header stamps are zero (a driver without a clock, or use_sim_time '
                      f'without /clock); {_REMEDY}')
