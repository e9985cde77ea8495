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
Real dlib 68-point landmarks of a dataset, for the landmark study only.

dlib is not a dependency of fer_ros: the study compares it with MediaPipe
Face Mesh. This script runs in a separate virtual environment holding the
prebuilt ``dlib-bin`` wheel and ``face-recognition-models`` (which ships
``shape_predictor_68_face_landmarks.dat``), and needs nothing else from this
package::

    python3 -m venv /tmp/dlibvenv
    /tmp/dlibvenv/bin/pip install dlib-bin face-recognition-models numpy pillow
    /tmp/dlibvenv/bin/python fer_models/fer_models/research/dlib_extract.py taiwanese ckplus48

It writes ``dlib68-<dataset>.npz`` (points (N, 68, 2) normalised to the
image size, ``found``, ``files``) into the landmark cache, which
``fer_models.research.landmark_data`` reads when present. Images whose shorter side is under
192 px are upscaled first (bicubic), as for Face Mesh.
"""

import csv
import os
import sys
import time

import numpy as np

MIN_INPUT_SIZE = 192


def cache_path(dataset):
    """Return the cache file of a dataset's dlib landmarks."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'landmarks', f'dlib68-{dataset}.npz')


def extract(dataset, root):
    """Detect the largest face of every image of ``dataset``; write the cache."""
    import dlib
    import face_recognition_models
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    folder = os.path.join(root, dataset)
    with open(os.path.join(folder, 'labels.csv'), newline='') as handle:
        files = [row['file'].strip() for row in csv.DictReader(handle)]
    points = np.zeros((len(files), 68, 2), np.float32)
    found = np.zeros(len(files), bool)
    started = time.monotonic()
    for index, name in enumerate(files):
        image = Image.open(os.path.join(folder, name)).convert('RGB')
        width, height = image.size
        scale = max(1.0, MIN_INPUT_SIZE / min(width, height))
        if scale > 1.0:
            image = image.resize((round(width * scale), round(height * scale)),
                                 Image.BICUBIC)
        pixels = np.asarray(image)
        boxes = detector(pixels, 1)
        if len(boxes):
            box = max(boxes, key=lambda b: b.width() * b.height())
            shape = predictor(pixels, box)
            points[index] = [(p.x / pixels.shape[1], p.y / pixels.shape[0])
                             for p in shape.parts()]
            found[index] = True
    path = cache_path(dataset)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path, points=points, found=found,
                        files=np.array([os.path.basename(f) for f in files]))
    print(f'{dataset}: dlib found a face in {int(found.sum())} of {len(files)} images, '
          f'{time.monotonic() - started:.0f} s -> {path}')


def main(argv=None):
    """Extract the datasets named on the command line."""
    root = os.environ.get('FER_DATA_DIR', os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'data'))
    for dataset in (argv if argv is not None else sys.argv[1:]):
        extract(dataset, root)
    return 0


if __name__ == '__main__':
    sys.exit(main())
