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
The test lanes of the whole repository (``pytest.ini`` at this root).

``./fer test`` runs everything. ``-m pure`` is the fast lane (core maths,
import rules, report rendering): it collects only the test modules that mark
tests ``pure`` and needs neither the colcon workspace nor DDS; any other
selection of ``test/`` needs the workspace and says so.
"""

import importlib.util
import os
import sys

import pytest

PURE = 'pure'
REPO = os.path.dirname(os.path.abspath(__file__))


def only_pure(config):
    """Return True when the run selects the pure lane alone (``-m pure``)."""
    return (config.getoption('markexpr') or '').strip() == PURE


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """In the pure lane without a built workspace, import fer_models from the source tree."""
    config.pure_lane = only_pure(config)  # test/conftest.py needs the workspace otherwise
    spec = importlib.util.find_spec('fer_models')
    if config.pure_lane and (spec is None or spec.origin is None):  # none, or this folder
        sys.path.insert(0, os.path.join(REPO, 'fer_models'))


def pytest_ignore_collect(collection_path, config):
    """In the pure lane, skip importing test modules that hold no pure test (they need ROS)."""
    if only_pure(config) and collection_path.suffix == '.py' and \
            collection_path.name.startswith('test_'):
        return f'mark.{PURE}' not in collection_path.read_text()
    return None
