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

"""FrameClock: frame time from stamps that behave, arrival time when they do not."""

from fer_ros.frame_clock import FrameClock, FROZEN, JUMPED_AHEAD, WENT_BACK, ZERO
import pytest


def feed(clock, messages):
    """Return [(time, problem kind or None)] of (stamp, arrival) pairs."""
    return [(round(t, 6), p and p[0]) for t, p in (clock.update(s, a) for s, a in messages)]


def test_good_stamps_give_their_own_time_even_ahead_of_arrival():
    # A bag replayed as fast as the nodes go: stamps run ahead of arrival.
    steps = feed(FrameClock(), [(100.0 + 0.1 * i, 5.0 + 0.01 * i) for i in range(20)])
    assert [p for _, p in steps] == [None] * 20
    assert steps[-1][0] == pytest.approx(1.9)


def test_zero_stamps_are_named_and_arrival_time_passes():
    steps = feed(FrameClock(), [(0.0, 10.0 + i) for i in range(4)])
    assert steps == [(0.0, ZERO), (1.0, ZERO), (2.0, ZERO), (3.0, ZERO)]
    reason = FrameClock().update(0.0, 1.0)[1][1]
    assert 'header stamps are zero' in reason and 'arrival time' in reason


def test_a_frozen_stamp_is_named_after_a_second():
    steps = feed(FrameClock(), [(50.0, 0.0), (50.0, 0.5), (50.0, 1.0), (50.0, 2.0)])
    assert steps == [(0.0, None), (0.5, None), (1.0, FROZEN), (2.0, FROZEN)]


def test_one_stamp_far_ahead_does_not_age_the_faces():
    clock = FrameClock()
    steps = feed(clock, [(100.0, 0.0), (100.1, 0.1), (1e6, 0.2), (100.3, 0.3), (100.4, 0.4)])
    assert [p for _, p in steps] == [None, None, JUMPED_AHEAD, WENT_BACK, None]
    assert steps[-1][0] == pytest.approx(0.4)  # not 1e6 - 100
