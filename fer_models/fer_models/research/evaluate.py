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
``./fer eval``: accuracy of the shipped pipeline on labelled still images.

Usage: ./fer eval --images DIR --labels CSV [--params-file YAML]
       [--pipeline landmark|appearance|fusion|stacked] [--model ONNX]
       [--appearance-model ONNX] [--appearance-weight W] [--json OUT] [--confusion PNG]

By default each image goes through the pipeline ``config/fer.yaml`` ships:
its fusion mode and appearance weight, its landmark and appearance models,
its confidence threshold and head-pose gate, landmark_node's detector input
size. ``--params-file`` reads a robot's own YAML instead; ``--pipeline``
picks another fusion mode (``fusion`` is late fusion) and the other options
override single values. The CSV needs columns ``file`` (relative to DIR) and
``label``; other columns are ignored. Each image goes through the same code
as the nodes: MediaPipe Face Mesh in tracking mode on the image shown for a
few frames (largest face), the model's feature type, the ONNX model on a
window of identical frames (a still is a window with no motion), the crop
model on the face's crop as landmark_node runs it, and the classifier
node's fusion and decision. ``accuracy`` counts images without a detected
face (and ``unknown`` answers) as errors; ``accuracy_detected`` is over the
images with a face. The report's ``params`` say what ran.
"""

import argparse
import csv
from dataclasses import replace
import json
import os
import sys
import time

from fer_models.core.baseline import AUTO
from fer_models.core.crops import CropClassifier
from fer_models.core.features import FeatureExtractor
from fer_models.core.fusion import combine, Stacker, STACKER_FILE
from fer_models.core.head_pose import head_pose
from fer_models.core.labels import canonical_label, UNKNOWN
from fer_models.core.onnx_model import default_model_path, EmotionModel
from fer_models.core.resources import model_file, shipped_model
from fer_models.core.smoothing import decide, pose_gate
from fer_models.research import pipeline_params
from fer_models.research.metrics import classification_report, format_report, save_confusion_png
import numpy as np

NO_FACE = 'no_face'


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
    """Detector, features, models, fusion and decision of the pipeline, for single images."""

    def __init__(self, params, max_faces=1):
        """Load what a PipelineParams configures and a Face Mesh detector."""
        from fer_models.core.landmarks import FaceMeshDetector

        pipeline_params.check(params)
        self.params = params
        self.fusion = params.effective_fusion()
        still_model = params.still_model_path()
        self.model = EmotionModel(model_file(still_model) if still_model
                                  else default_model_path())
        self.extractor = FeatureExtractor(self.model.feature_type)
        self.appearance = None
        if self.fusion != 'landmark':
            self.appearance = CropClassifier(model_file(params.appearance_model_path))
        self.stacker = None
        if self.fusion == 'stacked':
            self.stacker = Stacker.load(model_file(params.stacker_path) if params.stacker_path
                                        else shipped_model(STACKER_FILE))
        self.detector = FaceMeshDetector(max_faces=max_faces,
                                         min_input_size=params.min_input_size)

    def classify(self, rgb):
        """Return (label, probabilities) of the largest face, or (NO_FACE, None)."""
        faces = self.detector.detect_still(rgb)
        if not faces:
            return NO_FACE, None
        face = max(faces, key=lambda f: f.bbox[2] * f.bbox[3])
        probabilities = self.face_probabilities(rgb, face)
        label, _ = self.decide(rgb, face, probabilities)
        return label, probabilities

    def face_probabilities(self, rgb, face):
        """Return the pipeline's probabilities over ``model.labels`` for one DetectedFace."""
        frame = self.extractor.frame(face.points, rgb.shape[1], rgb.shape[0])
        window = self.extractor.window(np.tile(frame, (self.model.window_length, 1)))
        probabilities = self.model.predict(window)[0][0]
        appearance = None
        if self.appearance is not None:
            _, appearance = self.appearance.classify_face(rgb, face.bbox, face.points)
        return combine(self.fusion, probabilities, self.model.labels, appearance,
                       self.appearance.labels if self.appearance else (),
                       self.params.appearance_weight, self.stacker)

    def decide(self, rgb, face, probabilities):
        """Return (label, confidence) as the classifier node decides: threshold, then pose gate."""
        label, confidence, _ = decide(self.model.labels, probabilities,
                                      int(np.argmax(probabilities)),
                                      self.params.confidence_threshold)
        pose = head_pose(face.points, rgb.shape[1], rgb.shape[0])
        if pose_gate(pose, self.params.max_head_angle_deg):
            label = UNKNOWN
        return label, confidence

    def close(self):
        """Release the detector."""
        self.detector.close()


def evaluate_images(images_dir, rows, params):
    """Classify every (file, label) row through a PipelineParams; return the report dict."""
    classifier = StillImageClassifier(params)
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
        'pipeline': classifier.fusion,
        'pipeline_summary': params.summary(),
        'params': params.as_dict(),
        'model': classifier.model.path,
        'model_name': classifier.model.model_name,
        'appearance_model': classifier.appearance.path if classifier.appearance else None,
        'appearance_weight': params.appearance_weight if classifier.fusion == 'late' else None,
        'feature_type': classifier.model.feature_type,
        'images': os.path.abspath(images_dir),
        'seconds': round(time.perf_counter() - started, 1),
        'per_image': per_image,
    })
    return report


def add_pipeline_options(parser):
    """Add --params-file, --pipeline and the single-value overrides to an ArgumentParser."""
    parser.add_argument('--params-file', default=None,
                        help='ROS parameter YAML of the pipeline (default: the shipped '
                             'config/fer.yaml)')
    parser.add_argument('--pipeline', choices=sorted(pipeline_params.PIPELINE_NAMES),
                        default=None,
                        help="fusion mode instead of the YAML's (fusion = late fusion)")
    parser.add_argument('--model', default=None,
                        help="landmark ONNX model instead of the YAML's model_path (with "
                             'neutral_baseline auto: its absolute_model_path, which reads '
                             'stills)')
    parser.add_argument('--appearance-model', default=None,
                        help="appearance ONNX model instead of the YAML's "
                             'appearance_model_path')
    parser.add_argument('--appearance-weight', type=float, default=None,
                        help="late-fusion weight of the appearance path instead of the YAML's")
    parser.add_argument('--min-input-size', type=int, default=None,
                        help="upscale smaller images before detection (default: the YAML's)")


def pipeline_from_options(options):
    """Return the PipelineParams the parsed options ask for; raise ValueError when invalid."""
    params = pipeline_params.with_pipeline(pipeline_params.load(options.params_file),
                                           options.pipeline)
    # --model names the model that reads the stills (see still_model_path).
    model_key = 'absolute_model_path' if params.neutral_baseline == AUTO else 'model_path'
    overrides = {model_key: options.model, 'appearance_model_path': options.appearance_model,
                 'appearance_weight': options.appearance_weight,
                 'min_input_size': options.min_input_size}
    params = replace(params, **{k: v for k, v in overrides.items() if v is not None})
    pipeline_params.check(params)
    return params


def main(argv=None):
    """Evaluate a model on labelled images and print/write the report."""
    parser = argparse.ArgumentParser(description=__doc__.strip().split('\n')[0])
    parser.add_argument('--images', required=True, help='folder the CSV file names are in')
    parser.add_argument('--labels', required=True, help='CSV with columns file,label')
    parser.add_argument('--json', default=None, help='write the report here')
    parser.add_argument('--confusion', default=None, help='write a confusion-matrix PNG here')
    add_pipeline_options(parser)
    options = parser.parse_args(argv)
    try:
        rows = read_labels(options.labels)
        report = evaluate_images(options.images, rows, pipeline_from_options(options))
    except (OSError, ValueError, RuntimeError) as error:
        print(f'fer eval: {error}', file=sys.stderr)
        return 2
    print(f"pipeline: {report['pipeline_summary']}; model {report['model_name']} "
          f"({report['feature_type']}), appearance model {report['appearance_model']}, "
          f"on {report['images']}")
    print(format_report(report))
    print(f"no face detected: {report['n_no_face']} of {report['n']}; accuracy on detected "
          f"faces {report['accuracy_detected']}; {report['seconds']} s")
    if options.json:
        with open(options.json, 'w') as out:
            json.dump(report, out, indent=1)
    if options.confusion:
        save_confusion_png(report, options.confusion, f"{report['pipeline_summary']}: "
                           f"accuracy {report['accuracy']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
