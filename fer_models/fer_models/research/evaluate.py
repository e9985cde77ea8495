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
``./fer eval``: accuracy of the landmark pipeline on labelled still images.

Usage: ./fer eval --images DIR --labels CSV [--model ONNX] [--json OUT]
       [--confusion PNG] [--pipeline landmark|appearance|fusion]
       [--appearance-model ONNX] [--appearance-weight W]

The CSV needs columns ``file`` (relative to DIR) and ``label``; other columns
are ignored. Each image goes through the same code as the nodes: MediaPipe
Face Mesh in tracking mode on the image shown for a few frames (largest
face), the model's feature type, and the ONNX model on a window of identical
frames (a still is a window with no motion). ``--pipeline appearance`` runs
the appearance (crop) model on the face's crop as landmark_node does, and
``fusion`` fuses both like the classifier node's late fusion. ``accuracy``
counts images without a detected face as errors; ``accuracy_detected`` is
over the images with a face.
"""

import argparse
import csv
import json
import os
import sys
import time

from fer_models.core.crops import CropClassifier
from fer_models.core.features import FeatureExtractor
from fer_models.core.fusion import combine, DEFAULT_APPEARANCE_MODEL, DEFAULT_APPEARANCE_WEIGHT
from fer_models.core.labels import canonical_label
from fer_models.core.onnx_model import default_model_path, EmotionModel
from fer_models.core.resources import shipped_model
from fer_models.research.metrics import classification_report, format_report, save_confusion_png
import numpy as np

NO_FACE = 'no_face'
PIPELINES = {'landmark': 'landmark', 'appearance': 'appearance', 'fusion': 'late'}


def read_labels(path, extra_column=None):
    """
    Return [(file, canonical label)] from a CSV with file and label columns.

    With ``extra_column`` each row is (file, label, that column's value).
    """
    with open(path, newline='') as handle:
        reader = csv.DictReader(handle)
        needed = {'file', 'label'} | ({extra_column} if extra_column else set())
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
        return [(row['file'].strip(), canonical_label(row['label']))
                + ((row[extra_column].strip(),) if extra_column else ())
                for row in reader]


def load_rgb(path):
    """Return an image file as HxWx3 uint8 RGB; raise ValueError if unreadable."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class StillImageClassifier:
    """Detector, features and models of the pipeline, for single images."""

    def __init__(self, model_path=None, min_input_size=192, pipeline='landmark',
                 appearance_model=None, appearance_weight=DEFAULT_APPEARANCE_WEIGHT,
                 max_faces=1):
        """Load the model(s) and a Face Mesh detector."""
        from fer_models.core.landmarks import FaceMeshDetector

        if pipeline not in PIPELINES:
            raise ValueError(f"pipeline '{pipeline}' is not one of {', '.join(PIPELINES)}")
        self.pipeline = pipeline
        self.appearance_weight = appearance_weight
        self.model = EmotionModel(model_path or default_model_path())
        self.extractor = FeatureExtractor(self.model.feature_type)
        self.detector = FaceMeshDetector(max_faces=max_faces, min_input_size=min_input_size)
        self.appearance = None
        if pipeline != 'landmark':
            path = appearance_model or shipped_model(DEFAULT_APPEARANCE_MODEL)
            self.appearance = CropClassifier(path)

    def classify(self, rgb):
        """Return (label, probabilities) of the largest face, or (NO_FACE, None)."""
        faces = self.detector.detect_still(rgb)
        if not faces:
            return NO_FACE, None
        face = max(faces, key=lambda f: f.bbox[2] * f.bbox[3])
        probabilities = self.face_probabilities(rgb, face)
        return self.model.labels[int(np.argmax(probabilities))], probabilities

    def face_probabilities(self, rgb, face):
        """Return the pipeline's probabilities over ``model.labels`` for one DetectedFace."""
        frame = self.extractor.frame(face.points, rgb.shape[1], rgb.shape[0])
        window = self.extractor.window(np.tile(frame, (self.model.window_length, 1)))
        probabilities = self.model.predict(window)[0][0]
        appearance = None
        if self.appearance is not None:
            _, appearance = self.appearance.classify_face(rgb, face.bbox, face.points)
        return combine(PIPELINES[self.pipeline], probabilities, self.model.labels, appearance,
                       self.appearance.labels if self.appearance else (), self.appearance_weight)

    def close(self):
        """Release the detector."""
        self.detector.close()


def evaluate_images(images_dir, rows, model_path=None, min_input_size=192, pipeline='landmark',
                    appearance_model=None, appearance_weight=DEFAULT_APPEARANCE_WEIGHT):
    """Classify every (file, label) row; return the report dict."""
    classifier = StillImageClassifier(model_path, min_input_size, pipeline, appearance_model,
                                      appearance_weight)
    truths, predictions, per_image = [], [], []
    started = time.perf_counter()
    try:
        for name, truth in rows:
            predicted, _ = classifier.classify(load_rgb(os.path.join(images_dir, name)))
            truths.append(truth)
            predictions.append(predicted)
            per_image.append({'file': name, 'label': truth, 'predicted': predicted})
    finally:
        classifier.close()
    labels = list(classifier.model.labels)
    labels += sorted({t for t in truths if t not in labels})
    report = classification_report(truths, predictions, labels)
    detected = [(t, p) for t, p in zip(truths, predictions) if p != NO_FACE]
    report.update({
        'n_no_face': len(truths) - len(detected),
        'accuracy_detected': (round(sum(t == p for t, p in detected) / len(detected), 4)
                              if detected else None),
        'pipeline': pipeline,
        'model': classifier.model.path,
        'model_name': classifier.model.model_name,
        'appearance_model': classifier.appearance.path if classifier.appearance else None,
        'appearance_weight': appearance_weight if pipeline == 'fusion' else None,
        'feature_type': classifier.model.feature_type,
        'images': os.path.abspath(images_dir),
        'seconds': round(time.perf_counter() - started, 1),
        'per_image': per_image,
    })
    return report


def main(argv=None):
    """Evaluate a model on labelled images and print/write the report."""
    parser = argparse.ArgumentParser(description=__doc__.strip().split('\n')[0])
    parser.add_argument('--images', required=True, help='folder the CSV file names are in')
    parser.add_argument('--labels', required=True, help='CSV with columns file,label')
    parser.add_argument('--model', default=None, help='ONNX model (default: shipped)')
    parser.add_argument('--json', default=None, help='write the report here')
    parser.add_argument('--confusion', default=None, help='write a confusion-matrix PNG here')
    parser.add_argument('--min-input-size', type=int, default=192,
                        help='upscale smaller images before detection (default 192)')
    parser.add_argument('--pipeline', choices=sorted(PIPELINES), default='landmark',
                        help='landmark model, appearance (crop) model, or their late fusion')
    parser.add_argument('--appearance-model', default=None,
                        help='appearance ONNX model (default: shipped '
                        f'{DEFAULT_APPEARANCE_MODEL})')
    parser.add_argument('--appearance-weight', type=float, default=DEFAULT_APPEARANCE_WEIGHT,
                        help='weight of the appearance path with --pipeline fusion '
                             f'(default {DEFAULT_APPEARANCE_WEIGHT})')
    options = parser.parse_args(argv)
    try:
        rows = read_labels(options.labels)
        report = evaluate_images(options.images, rows, options.model, options.min_input_size,
                                 options.pipeline, options.appearance_model,
                                 options.appearance_weight)
    except (OSError, ValueError, RuntimeError) as error:
        print(f'fer eval: {error}', file=sys.stderr)
        return 2
    print(f"{report['pipeline']} pipeline: model {report['model_name']} "
          f"({report['feature_type']}), appearance model {report['appearance_model']}, "
          f"on {report['images']}")
    print(format_report(report))
    print(f"no face detected: {report['n_no_face']} of {report['n']}; accuracy on detected "
          f"faces {report['accuracy_detected']}; {report['seconds']} s")
    if options.json:
        with open(options.json, 'w') as out:
            json.dump(report, out, indent=1)
    if options.confusion:
        save_confusion_png(report, options.confusion, f"{report['model_name']}: "
                           f"accuracy {report['accuracy']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
