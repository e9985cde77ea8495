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
Landmark extraction for datasets, cached outside the repository.

Images go through the pipeline's own detector the way the landmark node sees
a still shown for a few frames (``FaceMeshDetector.detect_still``), so that
training sees the landmarks the live pipeline produces.

FER2013 (48x48 grayscale arrays, official train and test splits) goes
through the same detector, upscaled to ``min_input_size``; it has no person
ids, so each face is its own group.

Usage: python -m fer_models.research.extract taiwanese|ckplus48|fer2013_train|fer2013_test
       [--min-input-size N]
"""

import argparse
from dataclasses import dataclass
import hashlib
import os
import sys
import time

from fer_models.core.labels import canonical_label
from fer_models.research.datasets import load_dataset
from fer_models.research.evaluate import load_rgb
from fer_models.research.fer2013 import fer2013_path
import numpy as np

CACHE_VERSION = 1


@dataclass
class LandmarkSet:
    """Landmarks of a dataset: one row per image, ``found`` marks detections."""

    points: np.ndarray  # (N, 468, 3) float32, normalised to the image size
    sizes: np.ndarray  # (N, 2) image width, height
    found: np.ndarray  # (N,) bool
    labels: np.ndarray  # (N,) str
    groups: np.ndarray  # (N,) str
    files: np.ndarray  # (N,) str

    def detected(self):
        """Return a LandmarkSet of the images with a detected face."""
        keep = self.found
        return LandmarkSet(self.points[keep], self.sizes[keep], self.found[keep],
                           self.labels[keep], self.groups[keep], self.files[keep])


def cache_dir():
    """Return the landmark cache folder."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'landmarks')


FER2013_SPLITS = {'fer2013_train': 'train', 'fer2013_test': 'test'}
LANDMARK_DATASETS = ('taiwanese', 'ckplus48') + tuple(FER2013_SPLITS)


def extract(name, min_input_size=192, root=None, progress=True):
    """Return the LandmarkSet of a dataset (LANDMARK_DATASETS), from the cache when possible."""
    if name in FER2013_SPLITS:
        return _extract_fer2013(name, min_input_size, root, progress)
    records = load_dataset(name, root)
    key = hashlib.sha256(repr((CACHE_VERSION, min_input_size, [
        (os.path.basename(r.path), r.group, r.label) for r in records])).encode()).hexdigest()
    path = os.path.join(cache_dir(), f'{name}-{key[:16]}.npz')
    return _cached(path, lambda: _detect(
        name, (load_rgb(r.path) for r in records), [r.label for r in records],
        [r.group for r in records], [os.path.basename(r.path) for r in records],
        min_input_size, progress))


def _extract_fer2013(name, min_input_size, root, progress):
    split = FER2013_SPLITS[name]
    source = fer2013_path(root)
    if not os.path.isfile(source):
        raise FileNotFoundError(f'{source} not found (set FER_DATA_DIR to the data folder)')
    with np.load(source) as data:
        images = data[f'{split}_x']
        targets = data[f'{split}_y']
        classes = [canonical_label(str(c)) for c in data['classes']]
    digest = hashlib.sha256(images.tobytes() + targets.tobytes()).hexdigest()
    key = hashlib.sha256(repr((CACHE_VERSION, min_input_size, digest)).encode()).hexdigest()
    path = os.path.join(cache_dir(), f'{name}-{key[:16]}.npz')
    # No person ids in FER2013: each face is its own group.
    names = [f'{split}/{index:05d}' for index in range(len(images))]
    return _cached(path, lambda: _detect(
        name, (np.repeat(image[:, :, None], 3, axis=2) for image in images),
        [classes[t] for t in targets], names, names, min_input_size, progress))


def _cached(path, compute):
    if os.path.isfile(path):
        with np.load(path) as cached:
            return LandmarkSet(**{k: cached[k] for k in cached.files})
    landmarks = compute()
    os.makedirs(cache_dir(), exist_ok=True)
    partial = f'{path}.partial.npz'
    np.savez_compressed(partial, **landmarks.__dict__)
    os.replace(partial, path)
    return landmarks


def _detect(name, images, labels, groups, files, min_input_size, progress):
    from fer_models.core.landmarks import FaceMeshDetector

    count = len(labels)
    detector = FaceMeshDetector(max_faces=1, min_input_size=min_input_size)
    points = np.zeros((count, 468, 3), np.float32)
    sizes = np.zeros((count, 2), np.int32)
    found = np.zeros(count, bool)
    started = time.monotonic()
    try:
        for index, rgb in enumerate(images):
            sizes[index] = rgb.shape[1], rgb.shape[0]
            faces = detector.detect_still(rgb)
            if faces:
                face = max(faces, key=lambda f: f.bbox[2] * f.bbox[3])
                points[index] = face.points[:468]
                found[index] = True
            if progress and (index + 1) % 500 == 0:
                print(f'{name}: {index + 1}/{count} images, '
                      f'{time.monotonic() - started:.0f} s', file=sys.stderr)
    finally:
        detector.close()
    return LandmarkSet(points, sizes, found, np.array(labels), np.array(groups),
                       np.array(files))


def main(argv=None):
    """Extract (or load) a dataset's landmarks and print the detection rate."""
    parser = argparse.ArgumentParser(description='Extract and cache dataset landmarks.')
    parser.add_argument('dataset', choices=LANDMARK_DATASETS)
    parser.add_argument('--min-input-size', type=int, default=192)
    options = parser.parse_args(argv)
    started = time.monotonic()
    landmarks = extract(options.dataset, options.min_input_size)
    print(f'{options.dataset}: face found in {int(landmarks.found.sum())} of '
          f'{len(landmarks.found)} images ({100 * landmarks.found.mean():.1f} %), '
          f'{time.monotonic() - started:.1f} s; cache: {cache_dir()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
