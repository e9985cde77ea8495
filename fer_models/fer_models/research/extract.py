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

Usage: python -m fer_models.research.extract taiwanese|ckplus48 [--min-input-size N]
"""

import argparse
from dataclasses import dataclass
import hashlib
import os
import sys
import time

from fer_models.research.datasets import load_dataset
from fer_models.research.evaluate import load_rgb
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


def extract(name, min_input_size=192, root=None, progress=True):
    """Return the LandmarkSet of a dataset, from the cache when possible."""
    records = load_dataset(name, root)
    key = hashlib.sha256(repr((CACHE_VERSION, min_input_size, [
        (os.path.basename(r.path), r.group, r.label) for r in records])).encode()).hexdigest()
    path = os.path.join(cache_dir(), f'{name}-{key[:16]}.npz')
    if os.path.isfile(path):
        with np.load(path) as cached:
            return LandmarkSet(**{k: cached[k] for k in cached.files})
    from fer_models.core.landmarks import FaceMeshDetector

    detector = FaceMeshDetector(max_faces=1, min_input_size=min_input_size)
    points = np.zeros((len(records), 468, 3), np.float32)
    sizes = np.zeros((len(records), 2), np.int32)
    found = np.zeros(len(records), bool)
    started = time.monotonic()
    try:
        for index, record in enumerate(records):
            rgb = load_rgb(record.path)
            sizes[index] = rgb.shape[1], rgb.shape[0]
            faces = detector.detect_still(rgb)
            if faces:
                face = max(faces, key=lambda f: f.bbox[2] * f.bbox[3])
                points[index] = face.points[:468]
                found[index] = True
            if progress and (index + 1) % 100 == 0:
                print(f'{name}: {index + 1}/{len(records)} images, '
                      f'{time.monotonic() - started:.0f} s', file=sys.stderr)
    finally:
        detector.close()
    landmarks = LandmarkSet(points, sizes, found, np.array([r.label for r in records]),
                            np.array([r.group for r in records]),
                            np.array([os.path.basename(r.path) for r in records]))
    os.makedirs(cache_dir(), exist_ok=True)
    np.savez_compressed(path, **landmarks.__dict__)
    return landmarks


def main(argv=None):
    """Extract (or load) a dataset's landmarks and print the detection rate."""
    parser = argparse.ArgumentParser(description='Extract and cache dataset landmarks.')
    parser.add_argument('dataset')
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
