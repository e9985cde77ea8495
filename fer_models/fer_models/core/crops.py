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
Appearance-path inference without PyTorch: face crops and the ONNX crop model.

A crop model (exported by fer_models.research.ean) takes (N, 1, 48, 48) grayscale
face crops scaled to [0, 1] and returns class probabilities; its labels and
input contract are in the ``fer.*`` ONNX metadata. The nodes use this module
so that PyTorch, needed only for training, is never loaded on a robot.
"""

import json

from fer_models.core.onnx_model import METADATA_PREFIX, ModelError, open_session
import numpy as np

CROP_SIZE = 48


def square_crop(image, bbox, scale=1.2, size=CROP_SIZE):
    """
    Return a (size, size) uint8 grayscale crop around a face box.

    image: (H, W, 3) RGB or (H, W) grayscale uint8; bbox: (x, y, w, h) in
    pixels (e.g. FaceMeshDetector's). The square side is ``scale`` times the
    longer box side, centred on the box; outside the image is edge-padded.
    """
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    x, y, w, h = bbox
    side = max(1, int(round(scale * max(w, h))))
    x0 = int(round(x + w / 2 - side / 2))
    y0 = int(round(y + h / 2 - side / 2))
    pad = max(0, -x0, -y0, x0 + side - gray.shape[1], y0 + side - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    patch = gray[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


class CropClassifier:
    """An onnxruntime session of an exported crop model plus its metadata."""

    def __init__(self, path, threads=1):
        """Load ``path``; raise ModelError naming the file."""
        self.path, self._session, self.metadata = open_session(path, threads)
        try:
            self.model_name = self.metadata[METADATA_PREFIX + 'model_name']
            self.labels = tuple(json.loads(self.metadata[METADATA_PREFIX + 'labels']))
        except (KeyError, ValueError) as error:
            raise ModelError(f'crop model {self.path} lacks valid fer.* metadata: {error} '
                             '(export it with fer_models.research.ean)') from error
        self._input_name = self._session.get_inputs()[0].name

    def predict(self, crops):
        """
        Return (N, C) probabilities.

        crops: (N, 1, 48, 48) float32 in [0, 1], or (N, 48, 48) / (48, 48) uint8.
        """
        batch = np.asarray(crops)
        if batch.dtype == np.uint8:
            batch = batch.astype(np.float32) / 255.0
        while batch.ndim < 4:
            batch = batch[None] if batch.ndim < 3 else batch[:, None]
        return self._session.run(None, {self._input_name: batch.astype(np.float32)})[0]

    def classify_face(self, image, bbox):
        """Return (label, probabilities) of the face at ``bbox`` in an RGB image."""
        probabilities = self.predict(square_crop(image, bbox))[0]
        return self.labels[int(np.argmax(probabilities))], probabilities
