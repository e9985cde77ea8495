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
48x48 grayscale face crops for the appearance path: FER2013, CK+48, TFEID.

FER2013 comes as arrays (``fer2013/fer2013.npz``); a stratified, seeded
share of its training split is held out for validation (model selection),
so the official test split is used only for the final report. CK+48 crops
are used as they are. TFEID images are cropped with the pipeline's own
detector (MediaPipe Face Mesh, ``FaceMeshDetector``) and
``fer_models.core.crops.square_crop``; the crops are cached outside the repository.
"""

from dataclasses import dataclass
import hashlib
import os
import sys
import time

from fer_models.core.crops import square_crop
from fer_models.research.datasets import data_root, load_dataset
import numpy as np

CROP_CACHE_VERSION = 1
# FER2013 index order; all are canonical fer_models.core.labels names.
FER2013_LABELS = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')


@dataclass
class CropSet:
    """Grayscale crops (N, 48, 48) uint8 with label indices into ``labels``."""

    images: np.ndarray
    targets: np.ndarray
    labels: tuple = FER2013_LABELS


def fer2013_path(root=None):
    """Return the path of fer2013.npz in the shared data folder."""
    return os.path.join(root or data_root(), 'fer2013', 'fer2013.npz')


def load_fer2013(validation_share=0.1, seed=0, root=None):
    """
    Return (train, validation, test) CropSets of FER2013.

    The validation set is ``validation_share`` of each class of the official
    training split, drawn with ``seed``; train is the rest.
    """
    path = fer2013_path(root)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} not found (set FER_DATA_DIR to the data folder)')
    with np.load(path) as data:
        classes = tuple(str(c) for c in data['classes'])
        if classes != FER2013_LABELS:
            raise ValueError(f'unexpected FER2013 classes {classes}')
        train_x, train_y = data['train_x'], data['train_y'].astype(np.int64)
        test = CropSet(data['test_x'], data['test_y'].astype(np.int64))
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(train_y), bool)
    for label in range(len(FER2013_LABELS)):
        rows = np.flatnonzero(train_y == label)
        held_out[rng.choice(rows, int(round(validation_share * len(rows))), replace=False)] = True
    return (CropSet(train_x[~held_out], train_y[~held_out]),
            CropSet(train_x[held_out], train_y[held_out]), test)


def crop_cache_dir():
    """Return the folder of cached cross-dataset crops."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'ean', 'crops')


def load_ckplus48(root=None):
    """Return the CK+48 crops with labels in FER2013 order (contempt dropped)."""
    from fer_models.research.evaluate import load_rgb

    records = [r for r in load_dataset('ckplus48', root) if r.label in FER2013_LABELS]
    images = np.stack([load_rgb(r.path)[:, :, 0] for r in records])
    return CropSet(images, np.array([FER2013_LABELS.index(r.label) for r in records]))


def load_taiwanese(root=None, scale=1.2, progress=True):
    """
    Return (CropSet of detected faces, number of images) of TFEID.

    Faces are found with FaceMeshDetector in static mode (as the extraction
    of the landmark path does) and cropped with ``square_crop(scale)``.
    """
    from fer_models.core.landmarks import FaceMeshDetector
    from fer_models.research.evaluate import load_rgb

    records = load_dataset('taiwanese', root)
    key = hashlib.sha256(repr((CROP_CACHE_VERSION, scale, [
        (os.path.basename(r.path), r.label) for r in records])).encode()).hexdigest()[:16]
    path = os.path.join(crop_cache_dir(), f'taiwanese-{key}.npz')
    if os.path.isfile(path):
        with np.load(path) as cached:
            return CropSet(cached['images'], cached['targets']), int(cached['total'])
    detector = FaceMeshDetector(max_faces=1, static_image_mode=True)
    images, targets = [], []
    started = time.monotonic()
    try:
        for index, record in enumerate(records):
            rgb = load_rgb(record.path)
            faces = detector.detect(rgb)
            if faces:
                face = max(faces, key=lambda f: f.bbox[2] * f.bbox[3])
                images.append(square_crop(rgb, face.bbox, scale))
                targets.append(FER2013_LABELS.index(record.label))
            if progress and (index + 1) % 200 == 0:
                print(f'taiwanese crops: {index + 1}/{len(records)}, '
                      f'{time.monotonic() - started:.0f} s', file=sys.stderr)
    finally:
        detector.close()
    crops = CropSet(np.stack(images), np.array(targets, dtype=np.int64))
    os.makedirs(crop_cache_dir(), exist_ok=True)
    np.savez_compressed(path, images=crops.images, targets=crops.targets, total=len(records))
    return crops, len(records)
