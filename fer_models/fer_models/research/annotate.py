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

Usage: ./fer annotate --images DIR --out DIR [--max-faces N] [--params-file YAML]
       [--pipeline landmark|appearance|fusion|stacked] [--model M.onnx] ...

Each image of DIR goes through the pipeline ``config/fer.yaml`` ships (or
``--params-file``'s, with ``./fer eval``'s overrides): Face Mesh on the still
held for a few frames, head pose, features, both paths' models, the fusion,
the confidence threshold and the pose gate. The face box, the 68
dlib-layout points, the face id, label, confidence and head pose are drawn,
and which pipeline ran along the bottom; the picture is written to OUT as
PNG. Images smaller than MIN_SIDE_PX on their shorter side are enlarged
(the faces are read at their own size) so that the text stays readable.
Nothing else is written.
"""

import argparse
import math
import os
import sys

from fer_models.core.annotate import draw_faces, FaceAnnotation
from fer_models.core.head_pose import head_pose
from fer_models.research.evaluate import (
    add_pipeline_options, load_rgb, pipeline_from_options, StillImageClassifier)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
MIN_SIDE_PX = 480


def enlargement(width, height):
    """Return the whole factor that brings an image's shorter side to MIN_SIDE_PX or more."""
    return max(1, math.ceil(MIN_SIDE_PX / min(width, height)))


def annotate_image(classifier, rgb):
    """Return (annotated RGB, [FaceAnnotation]) of one still."""
    import cv2

    faces = []
    height, width = rgb.shape[:2]
    factor = enlargement(width, height)
    for index, face in enumerate(classifier.detector.detect_still(rgb)):
        probabilities = classifier.face_probabilities(rgb, face)
        label, confidence = classifier.decide(rgb, face, probabilities)
        pose = head_pose(face.points, width, height)
        box = tuple(v * factor for v in face.bbox)
        faces.append(FaceAnnotation(box, face.points, index + 1, label, confidence, pose))
    shown = rgb if factor == 1 else cv2.resize(rgb, (width * factor, height * factor),
                                               interpolation=cv2.INTER_CUBIC)
    return draw_faces(shown, faces, classifier.params.summary()), faces


def main(argv=None):
    """Annotate every image of a folder; return 0, or 2 on a bad folder or parameters."""
    import cv2

    parser = argparse.ArgumentParser(prog='fer annotate', description=__doc__.splitlines()[1])
    parser.add_argument('--images', required=True, help='folder of images')
    parser.add_argument('--out', required=True, help='folder for the annotated PNGs')
    parser.add_argument('--max-faces', type=int, default=4)
    add_pipeline_options(parser)
    options = parser.parse_args(argv)
    if not os.path.isdir(options.images):
        print(f'error: {options.images} is not a folder', file=sys.stderr)
        return 2
    try:
        params = pipeline_from_options(options)
        classifier = StillImageClassifier(params, max_faces=options.max_faces)
    except (ValueError, RuntimeError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    names = sorted(n for n in os.listdir(options.images) if n.lower().endswith(IMAGE_SUFFIXES))
    os.makedirs(options.out, exist_ok=True)
    print(f'pipeline: {params.summary()}')
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
