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
Aligned face crops of FER2013, TFEID and CK+48, cached outside the repository.

Every image of a landmark set (``fer_models.research.extract``: the
pipeline's own detector) is cropped with ``fer_models.core.crops``'
aligned_v1 transform, the one ``landmark_node`` applies at run time. The
rows keep the order of the landmark cache, so row i of a crop set, of its
landmarks and of ``dataset_probabilities`` are the same image.

Faces the detector missed (about 4 % of FER2013, none of TFEID and CK+48):
the datasets are already face crops of one fixed size, so the image gets the
transform of the *average* eye centres of the detected faces of the same
source (FER2013 test uses FER2013 train's), i.e. a centred crop framed like
the aligned ones. FER2013 test is thus scored on all 7178 images.

Other sizes: the aligned transform scales with the side of the crop, so a
crop of side S is the crop of a larger side resized to S. A size without a
cache of its own is made from a cached larger one (``DERIVED_FROM``, the
112 px crops of face-api.js's teacher) by area resampling in memory,
without re-aligning (minutes for FER2013) and without writing a cache.
``landmark_node`` warps straight to the model's side; the two differ only by
resampling (``derivation_error`` measures it).
"""

from dataclasses import dataclass
import hashlib
import os

from fer_models.core.crops import aligned_transform, CROP_SIZE, eye_centres, warp_crop
from fer_models.research import protocol
from fer_models.research.datasets import load_dataset
from fer_models.research.extract import extract, FER2013_SPLITS
from fer_models.research.fer2013 import fer2013_path
import numpy as np

CACHE_VERSION = 1
SOURCES = ('fer2013_train', 'fer2013_test', 'taiwanese', 'ckplus48')
# Cached crop side that smaller sides are resized from (see the module docstring).
DERIVED_FROM = 112
# The landmark set whose detected faces give a source's fallback eye centres.
FALLBACK_REFERENCE = {'fer2013_test': 'fer2013_train'}


@dataclass
class CropTable:
    """Crops of one or more sources with the protocol's per-sample columns."""

    images: np.ndarray  # (N, S, S) uint8
    labels: np.ndarray  # (N,) str, canonical label (contempt kept; see usable)
    datasets: np.ndarray  # (N,) str, protocol.DATASETS
    parts: np.ndarray  # (N,) str, 'train' / 'test' for FER2013, '' elsewhere
    groups: np.ndarray  # (N,) str, person group prefixed with its dataset
    found: np.ndarray  # (N,) bool, face found by the detector

    def subset(self, mask):
        """Return the rows selected by a boolean mask or index array."""
        return CropTable(*(column[mask] for column in self.__dict__.values()))

    def targets(self):
        """Return label indices into protocol.LABELS (-1 for labels outside it)."""
        index = {label: i for i, label in enumerate(protocol.LABELS)}
        return np.array([index.get(label, -1) for label in self.labels], np.int64)

    def usable(self):
        """Return the mask of rows with a protocol label (CK+48's contempt left out)."""
        return np.isin(self.labels, protocol.LABELS)


def crops_dir():
    """Return the folder of cached aligned crops."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'ean', 'aligned')


def source_images(name, root=None):
    """Yield the images of a source in the order of its landmark set."""
    from fer_models.research.evaluate import load_rgb

    if name in FER2013_SPLITS:
        with np.load(fer2013_path(root)) as data:
            yield from data[f'{FER2013_SPLITS[name]}_x']
    else:
        for record in load_dataset(name, root):
            yield load_rgb(record.path)


def mean_eye_centres(landmarks):
    """Return the mean normalised (left, right) eye centres of a LandmarkSet's detected faces."""
    detected = landmarks.detected()
    centres = [eye_centres(points, 1.0, 1.0) for points in detected.points]
    return np.mean([c[0] for c in centres], axis=0), np.mean([c[1] for c in centres], axis=0)


def _dataset_of(name):
    return 'fer2013' if name in FER2013_SPLITS else name


def cache_path(name, size, landmarks):
    """Return the cache file of a source's crops of one side, keyed by its landmarks."""
    digest = hashlib.sha256(repr((CACHE_VERSION, size)).encode())
    digest.update(landmarks.points.tobytes())
    digest.update(landmarks.found.tobytes())
    return os.path.join(crops_dir(), f'{name}-{size}-{digest.hexdigest()[:16]}.npz')


def resized(images, size):
    """Return (N, size, size) uint8 crops area-resampled from (N, S, S) larger ones."""
    import cv2

    out = np.empty((len(images), size, size), np.uint8)
    for index, image in enumerate(images):
        out[index] = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return out


def derivation_error(name, size, count=200, root=None):
    """
    Return the mean and max absolute grey-level difference of derived and warped crops.

    The first ``count`` faces of a source, each cropped straight at ``size``
    (as landmark_node does) and resized from the DERIVED_FROM cache (as
    training does), on the 0-255 scale.
    """
    table = load_source(name, size, root)
    direct = _aligned_images(name, size, root, limit=count)
    difference = np.abs(table.images[:count].astype(np.int16) - direct.astype(np.int16))
    return round(float(difference.mean()), 2), int(difference.max())


def _aligned_images(name, size, root=None, limit=None):
    """Return (N, size, size) uint8 aligned crops of a source's images (the first ``limit``)."""
    landmarks = extract(name, root=root)
    reference = extract(FALLBACK_REFERENCE.get(name, name), root=root)
    fallback = mean_eye_centres(reference)
    count = len(landmarks.found) if limit is None else min(limit, len(landmarks.found))
    images = np.zeros((count, size, size), np.uint8)
    for index, image in enumerate(source_images(name, root)):
        if index >= count:
            break
        width, height = landmarks.sizes[index]
        if landmarks.found[index]:
            left, right = eye_centres(landmarks.points[index], width, height)
        else:
            left, right = fallback[0] * (width, height), fallback[1] * (width, height)
        images[index] = warp_crop(image, aligned_transform(left, right, size), size)
    return images


def load_source(name, size=CROP_SIZE, root=None):
    """
    Return the CropTable of one source (SOURCES), from the cache when possible.

    A side without a cache of its own, smaller than DERIVED_FROM, is resized
    from that cache when it exists; otherwise the crops are made and cached.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source '{name}'; known: {', '.join(SOURCES)}")
    landmarks = extract(name, root=root)
    path = cache_path(name, size, landmarks)
    larger = cache_path(name, DERIVED_FROM, landmarks)
    if os.path.isfile(path):
        with np.load(path) as cached:
            images = cached['images']
    elif size < DERIVED_FROM and os.path.isfile(larger):
        with np.load(larger) as cached:
            images = resized(cached['images'], size)
    else:
        images = _aligned_images(name, size, root)
        os.makedirs(crops_dir(), exist_ok=True)
        np.savez_compressed(path + '.partial.npz', images=images)
        os.replace(path + '.partial.npz', path)
    dataset = _dataset_of(name)
    part = FER2013_SPLITS.get(name, '')
    return CropTable(images, landmarks.labels.astype(str), np.full(len(images), dataset),
                     np.full(len(images), part),
                     np.char.add(f'{dataset}/', landmarks.groups.astype(str)),
                     landmarks.found.copy())


def load_union(size=CROP_SIZE, root=None):
    """Return the CropTable of all SOURCES with a protocol label, concatenated in order."""
    tables = [load_source(name, size, root) for name in SOURCES]
    table = CropTable(*(np.concatenate(columns) for columns in zip(
        *(t.__dict__.values() for t in tables))))
    return table.subset(table.usable())
