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
Landmark sequences for dynamic FER: real CK+ frames and synthetic onsets.

* CK+48 holds the last three (near-apex) frames of each CK+ sequence:
  ``ckplus_sequences`` groups them by subject + sequence, in frame order.
* TFEID holds stills only. ``synthetic_sequences`` builds neutral -> apex
  sequences per performer by interpolating the Face Mesh landmarks of one of
  the performer's neutral images towards an expression image (smoothstep
  onset), with small per-point jitter and rigid head motion. These
  sequences are SYNTHETIC: results on them are reported apart from results
  on real images, never pooled with them.
* ``mirror_points`` flips a face left-right (data augmentation) with the
  Face Mesh's left/right vertex map ``MESH_MIRROR``.

The TFEID file name ``PP T V E SS`` has a digit T that is 0 for neutral and
1, 2 or 3 for every expression; the mean landmark displacement from the
performer's neutral face is the same for T = 1, 2 and 3 (0.046, 0.044,
0.041 inter-ocular distances), so T does not encode an intensity ramp and
cannot order a performer's images into a sequence.
"""

from dataclasses import dataclass
import os
import re

from fer_models.core.features import MESH_MIRROR
import numpy as np

MESH_POINTS = 468


def mirror_points(points):
    """
    Return faces flipped left-right: (..., >=468, 3) points normalised to the image.

    x becomes 1 - x and every vertex takes its counterpart's place, so the
    result is again a valid Face Mesh (the right eye stays vertex 33).
    Refined iris points beyond 468 are dropped.
    """
    points = np.asarray(points)
    flipped = points[..., MESH_MIRROR, :].copy()
    flipped[..., 0] = 1.0 - flipped[..., 0]
    return flipped


_TFEID_NAME = re.compile(r'^(\d\d)(\d)(\d)([0a-g])(\d\d)\.')


def tfeid_tags(file_name):
    """Return (performer, digit T, view, expression letter, serial) of a TFEID file name."""
    match = _TFEID_NAME.match(os.path.basename(file_name))
    if not match:
        raise ValueError(f"'{file_name}' is not a TFEID file name (PP T V E SS.jpg)")
    return match.groups()


_CKPLUS_NAME = re.compile(r'^(S\d+)_(\d+)_(\d+)\.')


def ckplus_frame(file_name):
    """Return (sequence id 'Sxxx_yyy', frame number) of a CK+48 file name."""
    match = _CKPLUS_NAME.match(os.path.basename(file_name))
    if not match:
        raise ValueError(f"'{file_name}' is not a CK+ file name (Sxxx_yyy_zzzzzzzz.png)")
    return f'{match.group(1)}_{match.group(2)}', int(match.group(3))


@dataclass
class Sequences:
    """
    Landmark sequences: ``index[i]`` are the rows of ``points`` of sequence i.

    ``weights`` is the expression weight of each frame (1 for real frames,
    0 -> 1 along a synthetic onset); ``synthetic`` says how they were made.
    """

    points: np.ndarray  # (F, 468, 3) frames of all sequences, normalised to image size
    sizes: np.ndarray  # (F, 2) image width, height of each frame
    weights: np.ndarray  # (F,) expression weight of each frame
    index: list  # per sequence: int array of frame rows, in time order
    labels: np.ndarray  # (S,) str
    groups: np.ndarray  # (S,) performer or subject
    names: np.ndarray  # (S,) readable id
    synthetic: bool


def ckplus_sequences(landmarks):
    """Group a CK+48 LandmarkSet (detected faces only) into real 3-frame sequences."""
    keys = [ckplus_frame(f) for f in landmarks.files]
    names = sorted({k[0] for k in keys})
    index, labels, groups = [], [], []
    for name in names:
        rows = sorted((frame, row) for row, (seq, frame) in enumerate(keys) if seq == name)
        rows = np.array([row for _, row in rows], dtype=np.intp)
        if len(set(landmarks.labels[rows])) != 1:
            raise ValueError(f'sequence {name} mixes labels')
        index.append(rows)
        labels.append(landmarks.labels[rows[0]])
        groups.append(landmarks.groups[rows[0]])
    return Sequences(landmarks.points[:, :MESH_POINTS], landmarks.sizes,
                     np.ones(len(landmarks.files)), index, np.array(labels), np.array(groups),
                     np.array(names), synthetic=False)


def onset_weights(neutral_frames, onset_frames, apex_frames):
    """Return the expression weight per frame: 0 hold, smoothstep 0 -> 1, 1 hold."""
    ramp = np.linspace(0.0, 1.0, onset_frames + 2)[1:-1]
    return np.concatenate([np.zeros(neutral_frames), ramp * ramp * (3 - 2 * ramp),
                           np.ones(apex_frames)])


def _rigid_motion(points, rng, size, translation_px, rotation_deg, scale):
    """Apply a random-walk head motion about the face centre to a (L, N, 3) sequence."""
    length = len(points)
    walk = np.cumsum(rng.normal(size=(length, 4)), axis=0)
    shift = walk[:, :2] * translation_px / np.asarray(size, dtype=float)
    angle = np.deg2rad(walk[:, 2] * rotation_deg)
    zoom = 1.0 + walk[:, 3] * scale
    pixel = np.array([size[0], size[1], size[0]], dtype=float)
    out = points * pixel
    centre = out[:, :, :2].mean(axis=1, keepdims=True)
    xy = out[:, :, :2] - centre
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    rotated = np.stack([cos * xy[..., 0] - sin * xy[..., 1],
                        sin * xy[..., 0] + cos * xy[..., 1]], axis=-1)
    out[:, :, :2] = rotated * zoom[:, None, None] + centre
    out[:, :, 2] *= zoom[:, None]
    out /= pixel
    out[:, :, :2] += shift[:, None, :]
    return out


def interpolate_sequence(neutral, apex, weights, rng, size, jitter_px=0.3,
                         translation_px=0.3, rotation_deg=0.15, scale=0.002):
    """
    Return a (L, 468, 3) synthetic sequence from a neutral to an apex face.

    Frame t is ``(1 - w_t) * neutral + w_t * apex`` (points normalised to an
    image of ``size`` = (width, height) pixels), plus independent Gaussian
    jitter of ``jitter_px`` pixels per point and a random-walk head motion
    (per-frame steps of ``translation_px`` pixels, ``rotation_deg`` degrees,
    ``scale`` relative size). With zero jitter and motion the first frame is
    the neutral face and the last the apex face exactly (for w = 0 and 1).
    """
    neutral = np.asarray(neutral, dtype=np.float64)[:MESH_POINTS]
    apex = np.asarray(apex, dtype=np.float64)[:MESH_POINTS]
    weights = np.asarray(weights, dtype=np.float64)[:, None, None]
    frames = (1.0 - weights) * neutral + weights * apex
    if translation_px or rotation_deg or scale:
        frames = _rigid_motion(frames, rng, size, translation_px, rotation_deg, scale)
    if jitter_px:
        pixel = np.array([size[0], size[1], size[0]], dtype=float)
        frames = frames + rng.normal(size=frames.shape) * jitter_px / pixel
    return frames.astype(np.float32)


def synthetic_sequences(landmarks, window_length, seed=0, per_image=1, neutral_label='neutral',
                        onset_range=(4, 12), **jitter):
    """
    Build SYNTHETIC neutral -> apex sequences from a LandmarkSet of stills.

    For each expression image, ``per_image`` sequences start from a random
    neutral image of the same performer: a neutral hold of 1..window_length
    frames, a smoothstep onset of ``onset_range`` frames (about 0.13-0.4 s
    at 30 fps) and an apex hold of window_length frames. Each neutral image
    gives neutral -> neutral sequences (towards another neutral image of the
    performer) of the same length, labelled neutral. Performers without a
    neutral image are skipped.
    """
    rng = np.random.default_rng(seed)
    points, sizes, weights, index = [], [], [], []
    labels, groups, names = [], [], []
    start = 0
    for performer in np.unique(landmarks.groups):
        own = np.flatnonzero(landmarks.groups == performer)
        neutrals = own[landmarks.labels[own] == neutral_label]
        if not len(neutrals):
            continue
        for row in own:
            for copy in range(per_image):
                source = rng.choice(neutrals)
                if row in neutrals and len(neutrals) > 1:
                    source = rng.choice(neutrals[neutrals != row])
                curve = onset_weights(int(rng.integers(1, window_length + 1)),
                                      int(rng.integers(onset_range[0], onset_range[1] + 1)),
                                      window_length)
                size = tuple(int(v) for v in landmarks.sizes[row])
                frames = interpolate_sequence(landmarks.points[source], landmarks.points[row],
                                              curve, rng, size, **jitter)
                points.append(frames)
                sizes.append(np.repeat(landmarks.sizes[row][None], len(frames), axis=0))
                weights.append(curve)
                index.append(np.arange(start, start + len(frames)))
                start += len(frames)
                labels.append(landmarks.labels[row])
                groups.append(performer)
                names.append(f'{os.path.basename(str(landmarks.files[source]))}->'
                             f'{os.path.basename(str(landmarks.files[row]))}#{copy}')
    return Sequences(np.concatenate(points), np.concatenate(sizes), np.concatenate(weights),
                     index, np.array(labels), np.array(groups), np.array(names),
                     synthetic=True)


def still_sequences(landmarks):
    """Return each still image as a one-frame real sequence (held by resampling)."""
    rows = np.arange(len(landmarks.files))
    return Sequences(landmarks.points[:, :MESH_POINTS], landmarks.sizes,
                     np.ones(len(rows)), [np.array([r]) for r in rows],
                     np.asarray(landmarks.labels), np.asarray(landmarks.groups),
                     np.asarray(landmarks.files), synthetic=False)


def window_ends(sequences, window_length, min_weight=0.5, stride=1, limit=None, rng=None):
    """
    Return [(sequence number, end frame position)] of the windows to classify.

    A window ends at a frame whose expression weight is at least
    ``min_weight`` (before that the face does not yet show the label); at most
    ``limit`` ends per sequence, drawn with ``rng`` when given. Sequences
    shorter than ``window_length`` give one window ending at their last frame.
    """
    ends = []
    for number, rows in enumerate(sequences.index):
        if len(rows) < window_length:
            ends.append((number, len(rows) - 1))
            continue
        eligible = [p for p in range(window_length - 1, len(rows), stride)
                    if sequences.weights[rows[p]] >= min_weight]
        if limit is not None and len(eligible) > limit:
            eligible = (sorted(rng.choice(eligible, limit, replace=False)) if rng is not None
                        else eligible[-limit:])
        ends.extend((number, p) for p in eligible)
    return ends


def window_rows(sequences, ends, window_length):
    """
    Return (W, window_length) frame rows of the windows ending at ``ends``.

    A window inside a sequence is its last window_length frames; a sequence
    shorter than the window is stretched over it by nearest-frame
    resampling (a held still, or CK+'s three near-apex frames).
    """
    out = np.empty((len(ends), window_length), dtype=np.intp)
    for i, (number, end) in enumerate(ends):
        rows = sequences.index[number]
        if len(rows) < window_length:
            picks = np.floor(np.linspace(0, len(rows), window_length, endpoint=False))
            out[i] = rows[picks.astype(np.intp)]
        else:
            out[i] = rows[end - window_length + 1:end + 1]
    return out
