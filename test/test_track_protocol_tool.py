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

"""The track protocol tool: TFEID performers as face tracks through the real nodes."""

import json
import os

from fer_models.research import track_protocol as protocol
from fer_models.research.protocol import FRAMES_PER_STILL
from fer_models.research.studies import track
from fer_ros.tools import track_protocol
import pytest
from ros_helpers import TAIWANESE

pytestmark = pytest.mark.skipif(not os.path.isdir(TAIWANESE),
                                reason=f'TFEID images not found in {TAIWANESE}')

STILLS = 3


def test_two_performers_replayed_as_tracks_scored_and_paired(tmp_path, monkeypatch):
    # A cache of its own: the answers must come from this replay.
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    out = str(tmp_path / 'track.json')
    assert track_protocol.main([
        '--models', 'shipped', '--persons', '2', '--stills', str(STILLS), '--order', 'shuffled',
        '--arm', 'shipped', 'smoothing-none', '--json', out, '--no-render']) == 0
    with open(out) as handle:
        result = json.load(handle)
    arms = result['sets']['tfeid-lodo']['orders']['shuffled']['arms']
    persons = sorted({s[2] for s in protocol.stills_of('taiwanese')})[:2]
    rows = [row for person in persons for row in protocol.order_stills(
        protocol.stills_of('taiwanese'), [person], protocol.SHUFFLED)[:STILLS]]
    shipped = arms['shipped']['scores']
    assert shipped['frames'] == len(rows) * FRAMES_PER_STILL
    assert shipped['frames_to_right']['changes'] == sum(protocol.changes(rows))
    # The first frames of each track fill the feature window: no answer there.
    assert shipped['no_answer'] * shipped['frames'] >= 2 * 5
    # The shipped models saw these performers: most answered frames are right.
    assert shipped['accuracy'] > 0.4, shipped
    paired = arms['smoothing-none']['paired_vs_shipped']
    assert paired['frames'] >= shipped['frames'] * 0.8
    assert arms['smoothing-none']['overrides'] == protocol.ARMS['smoothing-none']
    cached = os.listdir(os.path.join(tmp_path, 'cache', 'fer_ros', 'track_protocol', 'answers'))
    assert len(cached) == 2 * 2  # two persons' chunks, two arms
    text = track.markdown(result)
    assert '| shuffled | **shipped** |' in text and 'SYNTHETIC' in text


def test_a_replay_with_another_appearance_run_is_refused_before_it_starts(tmp_path, capsys):
    out = tmp_path / 'track.json'
    committed = {'sets': {'tfeid-lodo': {'appearance_run': None, 'orders': {}}}}
    out.write_text(json.dumps(committed))
    assert track_protocol.main([
        '--appearance-run', 'another_recipe_lodo_taiwanese', '--arm', 'shipped',
        '--json', str(out), '--no-render']) == 2
    assert 'write this replay to another --json' in capsys.readouterr().err
    assert json.loads(out.read_text()) == committed
    # A replay stored before the shipped recipe changed names its run in its models.
    replayed_before = {'sets': {'tfeid-lodo': {'appearance_run': None, 'orders': {}, 'models': [
        {'appearance': {'name': 'an_earlier_recipe_lodo_taiwanese'}}]}}}
    out.write_text(json.dumps(replayed_before))
    assert track_protocol.main(['--arm', 'shipped', '--json', str(out), '--no-render']) == 2
    assert 'an_earlier_recipe_lodo_taiwanese, not' in capsys.readouterr().err
    # The same run with its logits divided by a temperature is another model.
    calibrated = {'sets': {'tfeid-lodo': {'appearance_run': 'a_run_lodo_taiwanese', 'orders': {},
                                          'appearance_model_run': protocol.with_temperature(
                                              'a_run_lodo_taiwanese', 2.5)}}}
    out.write_text(json.dumps(calibrated))
    assert track_protocol.main(['--appearance-run', 'a_run_lodo_taiwanese', '--arm', 'shipped',
                                '--json', str(out), '--no-render']) == 2
    assert 'a_run_lodo_taiwanese at temperature 2.5, not a_run_lodo_taiwanese:' in \
        capsys.readouterr().err
