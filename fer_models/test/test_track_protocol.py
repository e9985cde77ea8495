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

"""The track protocol's ROS-free parts: orders, frame layout, scores, arms, criterion."""

from fer_models.research import track_protocol as tp
import numpy as np
import pytest

pytestmark = pytest.mark.pure

STILLS = [('a1', 'happy', 'A'), ('a2', 'neutral', 'A'), ('a3', 'sad', 'A'),
          ('a4', 'neutral', 'A'), ('b1', 'angry', 'B'), ('b2', 'neutral', 'B')]
SHIPPED = {'landmark_node': {'ros__parameters': {'appearance_model_path': 'ean_union.onnx'}},
           'emotion_classifier_node': {'ros__parameters': {'model_path': '', 'fusion': 'late',
                                                           'smoothing': 'ema'}},
           '/**': {'ros__parameters': {'neutral_baseline': 'off'}}}
MODELS = {'landmark': '/m/abs.onnx', 'landmark_neutral': '/m/rel.onnx',
          'appearance': '/m/crop.onnx'}


def test_neutral_first_puts_each_persons_neutral_stills_first():
    rows = tp.order_stills(STILLS, ['B', 'A'], tp.NEUTRAL_FIRST)
    assert [r[0] for r in rows] == ['b2', 'b1', 'a2', 'a4', 'a1', 'a3']


def test_shuffled_order_is_a_fixed_permutation_per_person():
    stills = [(f'{p}{i}', 'happy', p) for p in 'AB' for i in range(8)]
    rows = tp.order_stills(stills, ['A', 'B'], tp.SHUFFLED, seed=0)
    assert rows == tp.order_stills(stills, ['A', 'B'], tp.SHUFFLED, seed=0)
    assert sorted(rows) == sorted(stills) and rows != stills
    assert [r[2] for r in rows] == ['A'] * 8 + ['B'] * 8
    # One person's order does not depend on who else is replayed, but on the seed.
    assert tp.order_stills(stills, ['B'], tp.SHUFFLED, seed=0) == rows[8:]
    assert tp.order_stills(stills, ['B'], tp.SHUFFLED, seed=1) != rows[8:]
    with pytest.raises(ValueError, match='unknown order'):
        tp.order_stills(stills, ['A'], 'backwards')


def test_frame_layout_joins_the_stills_of_one_track():
    rows = [('x', 'happy', 'a'), ('y', 'happy', 'a'), ('z', 'sad', 'b')]
    layout = list(tp.frame_layout(rows, 2, 3))
    assert layout == [0, 0, 1, 1, None, None, None, 2, 2, None, None, None]
    # Without a track column every still is its own track.
    assert list(tp.frame_layout([r[:2] for r in rows], 1, 1)) == [0, None, 1, None, 2, None]


def test_a_change_is_a_new_label_within_a_track():
    rows = [('1', 'neutral', 'a'), ('2', 'neutral', 'a'), ('3', 'happy', 'a'),
            ('4', 'sad', 'b'), ('5', 'sad', 'b'), ('6', 'angry', 'b')]
    assert tp.changes(rows) == [False, False, True, False, False, True]


def replay(rows, answers, frames_per_still=4, faces=None):
    """Return TrackFrames of answers given per labelled frame in order (None: no answer)."""
    layout = list(tp.frame_layout(rows, frames_per_still, 2))
    labelled = [i for i, row in enumerate(layout) if row is not None]
    by_frame = {i: a for i, a in zip(labelled, answers) if a is not None}
    return tp.TrackFrames.of_replay(rows, frames_per_still, 2, by_frame, faces)


def test_every_labelled_frame_counts_and_no_answer_is_wrong():
    rows = [('1', 'neutral', 'a'), ('2', 'happy', 'a')]
    answers = [None, None, 'neutral', 'neutral', 'neutral', 'unknown', 'happy', 'happy']
    scores = tp.scores(replay(rows, answers))
    assert scores['frames'] == 8 and scores['stills'] == 2
    assert scores['accuracy'] == pytest.approx(4 / 8)
    assert scores['no_answer'] == pytest.approx(2 / 8)
    assert scores['unknown'] == pytest.approx(1 / 8)
    # Right on the third frame (offset 2) of the one change.
    assert scores['frames_to_right'] == {'changes': 1, 'median': 2.0, 'mean': 2.0,
                                         'never': 0.0}
    assert scores['recall'] == {'neutral': 0.5, 'happy': 0.5}


def test_changes_never_answered_right_are_counted_apart():
    rows = [('1', 'neutral', 'a'), ('2', 'happy', 'a'), ('3', 'sad', 'a'),
            ('4', 'angry', 'b'), ('5', 'fear', 'b')]
    answers = (['neutral'] * 4 + ['happy'] * 4 + ['happy'] * 4  # sad never right
               + ['angry'] * 4 + ['angry', 'fear', 'fear', 'fear'])
    frames = replay(rows, answers)
    assert tp.change_latencies(frames) == [0, None, 1]
    latency = tp.scores(frames)['frames_to_right']
    assert latency == {'changes': 3, 'median': 0.5, 'mean': 0.5, 'never': round(1 / 3, 4)}


def test_replays_concatenate_with_their_stills_renumbered():
    rows = [('1', 'neutral', 'a'), ('2', 'happy', 'a')]
    first = replay(rows, ['neutral'] * 4 + ['neutral'] * 4)
    second = replay(rows, ['neutral'] * 4 + ['happy'] * 4)
    both = tp.TrackFrames.concatenate([first, second])
    assert list(both.change) == [False, True, False, True]
    assert tp.change_latencies(both) == [None, 0]
    again = tp.TrackFrames.from_json(both.to_json())
    assert tp.scores(again) == tp.scores(both)


def test_paired_difference_uses_frames_both_runs_saw_a_face():
    rows = [('1', 'happy', 'a')]
    layout_frames = [0, 1, 2, 3]
    better = replay(rows, ['happy'] * 4, faces=layout_frames)
    worse = replay(rows, [None, 'sad', 'happy', 'happy'], faces=layout_frames[1:])
    # Frame 0 has no face in the worse run: left out of the pairing.
    assert tp.paired_difference(better, worse) == (pytest.approx(1 / 3, abs=1e-4), 3)
    assert tp.paired_difference(worse, better)[0] == pytest.approx(-1 / 3, abs=1e-4)
    other = replay([('1', 'sad', 'a')], ['sad'] * 4)
    with pytest.raises(ValueError, match='same frames'):
        tp.paired_difference(better, other)


def test_arms_point_the_classifier_at_the_model_of_their_baseline_mode():
    params = tp.arm_parameters(SHIPPED, {}, MODELS)
    classifier = params['emotion_classifier_node']['ros__parameters']
    assert classifier['model_path'] == '/m/abs.onnx' and classifier['fusion'] == 'late'
    assert params['landmark_node']['ros__parameters']['appearance_model_path'] == '/m/crop.onnx'
    auto = tp.arm_parameters(SHIPPED, tp.ARMS['baseline-auto'], MODELS)
    assert auto['/**']['ros__parameters']['neutral_baseline'] == 'auto'
    assert auto['emotion_classifier_node']['ros__parameters']['model_path'] == '/m/rel.onnx'
    # Until a face's baseline is ready, the held-out absolute model reads it.
    assert auto['emotion_classifier_node']['ros__parameters'][
        'absolute_model_path'] == '/m/abs.onnx'
    assert 'absolute_model_path' not in classifier
    # A held-out appearance model brings its own resting correction to auto arms only.
    corrected = {**MODELS, 'appearance_resting': '/m/crop.resting.json'}
    auto = tp.arm_parameters(SHIPPED, tp.ARMS['baseline-auto'], corrected)
    assert auto['feature_buffer_node']['ros__parameters'][
        'appearance_resting_path'] == '/m/crop.resting.json'
    params = tp.arm_parameters(SHIPPED, {}, corrected)
    assert 'appearance_resting_path' not in params.get('feature_buffer_node', {}).get(
        'ros__parameters', {})
    own = tp.arm_parameters(SHIPPED, {**tp.ARMS['baseline-auto'], 'feature_buffer_node': {
        'appearance_resting_path': 'mine.json'}}, corrected)
    assert own['feature_buffer_node']['ros__parameters']['appearance_resting_path'] == 'mine.json'
    assert tp.uses_baseline(tp.ARMS['baseline-auto']) and not tp.uses_baseline({})
    # The shipped dict is left as it was.
    assert SHIPPED['emotion_classifier_node']['ros__parameters']['model_path'] == ''
    assert SHIPPED['/**']['ros__parameters']['neutral_baseline'] == 'off'


def test_arms_a_set_cannot_run_are_refused_and_no_appearance_means_landmark_fusion():
    lodo = {**MODELS, 'landmark_neutral': None}
    with pytest.raises(tp.ArmUnavailable, match='landmark_neutral'):
        tp.arm_parameters(SHIPPED, tp.ARMS['baseline-auto'], lodo)
    landmark_only = {**MODELS, 'appearance': None}
    params = tp.arm_parameters(SHIPPED, {}, landmark_only)
    assert params['emotion_classifier_node']['ros__parameters']['fusion'] == 'landmark'
    assert params['landmark_node']['ros__parameters']['appearance_model_path'] == ''
    with pytest.raises(tp.ArmUnavailable, match='appearance'):
        tp.arm_parameters(SHIPPED, tp.ARMS['fusion-appearance'], landmark_only)
    # The landmark path alone: no appearance model run for nothing, but under
    # auto the feature buffer chooses resting frames by its P(neutral).
    params = tp.arm_parameters(SHIPPED, tp.ARMS['fusion-landmark'], MODELS)
    assert params['landmark_node']['ros__parameters']['appearance_model_path'] == ''
    params = tp.arm_parameters(SHIPPED, tp.ARMS['fusion-landmark-baseline-auto'], MODELS)
    assert params['landmark_node']['ros__parameters']['appearance_model_path'] == '/m/crop.onnx'
    # A new node parameter (another engineer's arm) is passed through.
    params = tp.arm_parameters(SHIPPED, {'feature_buffer_node': {'rest': 'robust'}}, MODELS)
    assert params['feature_buffer_node']['ros__parameters'] == {'rest': 'robust'}


def test_command_line_arms():
    assert tp.parse_arm('shipped') == ('shipped', {})
    name, overrides = tp.parse_arm('ema03={"emotion_classifier_node": {"ema_alpha": 0.3}}')
    assert name == 'ema03' and overrides == {'emotion_classifier_node': {'ema_alpha': 0.3}}
    with pytest.raises(ValueError, match='unknown arm'):
        tp.parse_arm('fast')
    with pytest.raises(ValueError, match='node'):
        tp.parse_arm('bad={"emotion_classifier_node": 0.3}')


def test_track_criterion_weighs_both_orders_alike():
    def arm(accuracy):
        return {'arms': {'shipped': {'scores': {'accuracy': accuracy}}}}

    result = {'sets': {'tfeid-lodo': {'orders': {tp.NEUTRAL_FIRST: arm(0.7)}}}}
    assert tp.track_criterion(result) is None
    result['sets']['tfeid-lodo']['orders'][tp.SHUFFLED] = arm(0.5)
    assert tp.track_criterion(result) == 0.6
    assert tp.track_criterion(result, 'baseline-auto') is None


def test_person_chunks_cover_every_person_once():
    persons = [f'{i:02d}' for i in range(23)]
    chunks = tp.person_chunks(persons, 5, seed=0)
    assert len(chunks) == 5 and sorted(sum(chunks, [])) == persons
    assert {len(c) for c in chunks} == {4, 5}
    assert np.all(np.array(chunks[0]) == np.array(tp.person_chunks(persons, 5, seed=0)[0]))
