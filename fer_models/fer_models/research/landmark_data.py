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
The landmark path's data for training: per-frame feature tables and windows of one dataset.

``StudyData`` turns a dataset's cached landmarks (``extract``) into frame
tables (one normalisation per frame serving every feature kind) and window
sets under a protocol: ``stills`` (a still held over the window),
``sequences`` (CK+48's real sequences) or ``synthetic`` (SYNTHETIC neutral
-> apex sequences added for training). Detectors: ``mediapipe`` (Face Mesh,
layouts ``mesh468`` and the mapped ``dlib68``) and ``dlib`` (real dlib
68-point landmarks from the cache ``dlib_extract.py`` writes).
"""

import os

from fer_models.core.features import (
    align_to_eyes, frame_kind, LAYOUTS, normalise_points, pairwise_distances, window_features)
from fer_models.core.labels import ALL_LABELS
from fer_models.research.extract import cache_dir, extract
from fer_models.research.sequences import (
    ckplus_sequences, mirror_points, still_sequences, synthetic_sequences, window_ends,
    window_rows)
import numpy as np


# The distance subset of features.DISTANCE_POINTS expressed in the real dlib
# 68-point layout (nearest dlib point to each mesh vertex).
DLIB_DISTANCE_POINTS = np.array([
    17, 19, 21, 22, 24, 26,
    36, 38, 39, 40, 42, 44, 45, 46,
    48, 51, 54, 57, 62, 66, 60, 64,
    30, 33,
], dtype=np.intp)


def mesh_frame_tables(points, sizes):
    """
    Return per-frame feature tables of Face Mesh frames, one per kind.

    Keys ``mesh468:coords``, ``dlib68:coords``, ``distances`` and
    ``geometric``: the core extractor's kinds, one normalisation per frame
    serving every kind.
    """
    faces = [normalise_points(p, w, h) for p, (w, h) in zip(points, sizes)]
    tables = {f'{layout}:coords': np.stack([frame_kind(f, 'coords', LAYOUTS[layout])
                                            for f in faces])
              for layout in ('mesh468', 'dlib68')}
    for kind in ('distances', 'geometric'):
        tables[kind] = np.stack([frame_kind(f, kind, None) for f in faces])
    return {key: table.astype(np.float32) for key, table in tables.items()}


def dlib_frame_tables(points, sizes):
    """
    Return per-frame tables of real dlib 68-point frames (coords, distances).

    Aligned as the core aligns the mesh: centred on the points' mean, eyes
    level, inter-ocular distance (between eye-corner midpoints) 1.
    """
    pts = np.asarray(points, dtype=np.float64) * np.asarray(sizes, dtype=np.float64)[:, None]
    faces = np.stack([align_to_eyes(face, (36, 39), (42, 45), slice(None)) for face in pts])
    return {
        'dlib:coords': faces.reshape(len(faces), -1).astype(np.float32),
        'dlib:distances': np.stack([pairwise_distances(f[DLIB_DISTANCE_POINTS])
                                    for f in faces]).astype(np.float32),
    }


def table_keys(detector, spec):
    """Return the frame-table keys of a (detector, FeatureSpec) in feature order."""
    if detector == 'dlib':
        return [f'dlib:{kind}' for kind in spec.frame_kinds]
    return [f'{spec.layout}:coords' if kind == 'coords' else kind for kind in spec.frame_kinds]


def dlib_landmarks(dataset, landmarks):
    """Return real dlib (points (N, 68, 2), found) aligned with ``landmarks`` files, or None."""
    path = os.path.join(cache_dir(), f'dlib68-{dataset}.npz')
    if not os.path.isfile(path):
        return None
    with np.load(path) as cached:
        where = {str(f): i for i, f in enumerate(cached['files'])}
        rows = np.array([where.get(os.path.basename(str(f)), -1) for f in landmarks.files])
        points = np.zeros((len(rows), 68, 2), np.float32)
        found = rows >= 0
        points[found] = cached['points'][rows[found]]
        found[found] = cached['found'][rows[found]]
    return points, found


class StudyData:
    """
    The frames and windows of one dataset and protocol, for one detector.

    ``frames`` holds every frame (real stills, their mirror images, synthetic
    sequence frames); window sets are (rows (W, T), targets, groups) into it.
    """

    def __init__(self, dataset, protocol, detector='mediapipe', window_length=8, seed=0,
                 mirror=False, subset_groups=None, extra_dataset=None):
        """Load landmarks, build sequences and frame tables (first ``subset_groups`` groups)."""
        self.dataset, self.protocol, self.detector = dataset, protocol, detector
        self.window_length = window_length
        every = extract(dataset)
        landmarks = every.detected()
        self.detected = (int(len(landmarks.files)), int(len(every.files)))
        if subset_groups:
            keep = np.isin(landmarks.groups, np.unique(landmarks.groups)[:subset_groups])
            landmarks = landmarks.__class__(*(getattr(landmarks, f)[keep]
                                              for f in landmarks.__dict__))
        if detector == 'dlib':
            real = dlib_landmarks(dataset, landmarks)
            if real is None:
                raise FileNotFoundError('no dlib landmark cache: run dlib_extract.py first')
            dlib_points, dlib_found = real
            self.detected = (int(dlib_found.sum()), self.detected[1])
            keep = dlib_found
            landmarks = landmarks.__class__(*(getattr(landmarks, f)[keep]
                                              for f in landmarks.__dict__))
            dlib_points = dlib_points[keep]
        self.labels = [label for label in ALL_LABELS if label in set(landmarks.labels)]
        stills = still_sequences(landmarks)
        parts = [('stills', stills, False)]
        if mirror and detector == 'mediapipe':
            flipped = still_sequences(landmarks)
            flipped.points = mirror_points(flipped.points)
            parts.append(('mirror', flipped, False))
        if extra_dataset and detector == 'mediapipe':
            # Another dataset's stills for training only (its labels outside
            # this dataset's label set are dropped); never scored.
            other = extract(extra_dataset).detected()
            keep = np.isin(other.labels, self.labels)
            other = other.__class__(*(getattr(other, f)[keep] for f in other.__dict__))
            other.groups = np.array([f'{extra_dataset}:{g}' for g in other.groups])
            parts.append(('extra', still_sequences(other), False))
        if protocol == 'sequences':
            parts.append(('sequences', ckplus_sequences(landmarks), False))
        elif protocol == 'synthetic':
            parts.append(('synthetic', synthetic_sequences(landmarks, window_length, seed),
                          True))
        offset, points, sizes = 0, [], []
        self.sets = {}
        rng = np.random.default_rng(seed)
        for name, sequences, synthetic in parts:
            limit = 3 if synthetic else None
            ends = window_ends(sequences, window_length, limit=limit, rng=rng)
            rows = window_rows(sequences, ends, window_length) + offset
            numbers = np.array([n for n, _ in ends], dtype=np.intp)
            targets = np.array([self.labels.index(label) for label in sequences.labels[numbers]])
            self.sets[name] = (rows, targets, sequences.groups[numbers])
            points.append(sequences.points)
            sizes.append(sequences.sizes)
            offset += len(sequences.points)
        if detector == 'dlib':
            # Stills and CK+ sequences both index every detected image once.
            if any(len(p) != len(dlib_points) for p in points):
                raise ValueError('the dlib detector supports the stills and sequences protocols')
            self.tables = dlib_frame_tables(np.concatenate([dlib_points] * len(points)),
                                            np.concatenate(sizes))
        else:
            self.tables = mesh_frame_tables(np.concatenate(points), np.concatenate(sizes))
        self.groups = np.unique(landmarks.groups)

    @property
    def test_set(self):
        """Return the name of the real window set that is scored."""
        return 'sequences' if self.protocol == 'sequences' else 'stills'

    def train_sets(self):
        """Return the names of the window sets used for training."""
        return list(self.sets)

    def windows(self, spec, name, group_mask_of=None):
        """Return the (W, T, D) windows, targets and groups of a set for a FeatureSpec."""
        rows, targets, groups = self.sets[name]
        if group_mask_of is not None:
            keep = np.isin(groups, group_mask_of)
            rows, targets, groups = rows[keep], targets[keep], groups[keep]
        table = np.concatenate([self.tables[k] for k in table_keys(self.detector, spec)], axis=1)
        return window_features(table[rows], spec.window_kinds), targets, groups
