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
Crop-model members for ensemble tests: seeded, untrained EANs written as finished runs.

They test a graph's arithmetic and its loading, which do not depend on
training, everywhere (no trained run needed). No ROS import.
"""

import os

from fer_models.research import protocol
from fer_models.research.appearance import Recipe
from fer_models.research.ean import build_model
import numpy as np
from skimage import color, data, transform
import torch


def write_member(folder, seed, size=48, target='taiwanese'):
    """Write a seeded, untrained EAN as a run's best.pt; return its result dict."""
    torch.manual_seed(seed)
    model = build_model('ean', len(protocol.LABELS), mean=0.45, std=0.25)
    # Batch-norm statistics of real crops, so that the answers depend on the
    # input, and spread logits, so that members disagree and the averages differ.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(torch.as_tensor(real_crops(size), dtype=torch.float32)[:, None] / 255)
        model.classifier[-1].weight.mul_(20.0)
    os.makedirs(folder, exist_ok=True)
    recipe = Recipe(seed=seed, size=size)
    path = os.path.join(folder, 'best.pt')
    torch.save({'kind': 'ean', 'mean': 0.45, 'std': 0.25, 'target': target,
                'recipe': vars(recipe), 'model': model.state_dict()}, path)
    prior = np.random.default_rng(seed).dirichlet(np.ones(len(protocol.LABELS)))
    return {'name': recipe.run_name(target), 'target': target, 'status': 'plateau',
            'recipe': vars(recipe), 'epochs': 1, 'best_epoch': 1,
            'validation_accuracy': 0.5, 'checkpoint': path,
            'training_prior': prior.round(6).tolist()}


def real_crops(size=48):
    """Return (N, size, size) uint8 patches of real photographs (scikit-image)."""
    gray = (color.rgb2gray(data.astronaut()) * 255).astype(np.uint8)
    patches = [gray[y:y + 160, x:x + 160] for y, x in ((20, 150), (60, 170), (0, 0), (300, 300))]
    patches.append(data.camera()[100:300, 200:400])
    return np.stack([(transform.resize(p, (size, size), anti_aliasing=True) * 255).astype(
        np.uint8) for p in patches])
