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
``./fer annotate``: annotated stills for a quick look at what the pipeline sees.

Usage: ./fer annotate --images DIR --out DIR [--model M.onnx] [--max-faces N]

Each image of DIR goes through the pipeline's own code (Face Mesh on the
still held for a few frames, head pose, features, the classifier model, the
pose gate and confidence threshold with their defaults); the face box, the
68 dlib-layout points, the face id, label, confidence and head pose are
drawn, and the picture is written to OUT as PNG. Nothing else is written.
"""

import argparse
import os
import sys

from fer_models.core.annotate import draw_faces, FaceAnnotation
from fer_models.core.head_pose import head_pose
from fer_models.core.smoothing import (
    decide, DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_HEAD_ANGLE_DEG, pose_gate)
from fer_models.research.evaluate import load_rgb, StillImageClassifier
import numpy as np

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def annotate_image(classifier, rgb):
    """Return (annotated RGB, [FaceAnnotation]) of one still."""
    faces = []
    height, width = rgb.shape[:2]
    for index, face in enumerate(classifier.detector.detect_still(rgb)):
        probabilities = classifier.face_probabilities(rgb, face)
        pose = head_pose(face.points, width, height)
        top = int(np.argmax(probabilities))
        label, confidence, _ = decide(classifier.model.labels, probabilities, top,
                                      DEFAULT_CONFIDENCE_THRESHOLD)
        if pose_gate(pose, DEFAULT_MAX_HEAD_ANGLE_DEG):
            label = 'unknown'
        faces.append(FaceAnnotation(face.bbox, face.points, index + 1, label, confidence, pose))
    return draw_faces(rgb, faces), faces


def main(argv=None):
    """Annotate every image of a folder; return 0, or 2 on a bad folder."""
    import cv2

    parser = argparse.ArgumentParser(prog='fer annotate', description=__doc__.splitlines()[1])
    parser.add_argument('--images', required=True, help='folder of images')
    parser.add_argument('--out', required=True, help='folder for the annotated PNGs')
    parser.add_argument('--model', default=None, help='ONNX model (default: shipped)')
    parser.add_argument('--max-faces', type=int, default=4)
    options = parser.parse_args(argv)
    if not os.path.isdir(options.images):
        print(f'error: {options.images} is not a folder', file=sys.stderr)
        return 2
    names = sorted(n for n in os.listdir(options.images) if n.lower().endswith(IMAGE_SUFFIXES))
    os.makedirs(options.out, exist_ok=True)
    classifier = StillImageClassifier(options.model, max_faces=options.max_faces)
    try:
        for name in names:
            annotated, faces = annotate_image(classifier,
                                              load_rgb(os.path.join(options.images, name)))
            target = os.path.join(options.out, os.path.splitext(name)[0] + '.png')
            cv2.imwrite(target, cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
            answers = ', '.join(f'{f.label} {f.confidence:.2f}' for f in faces)
            print(f"{name}: {answers or 'no face'}")
    finally:
        classifier.close()
    print(f'{len(names)} image(s) annotated in {options.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
