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
EAN (appearance path, after Kong et al. 2022) and its teacher; KD loss; export.

EAN is a small CNN of depthwise-separable convolution blocks, each followed
by an efficient local channel attention (ECA) gate: global average pooling,
a 1-D convolution across channels with a kernel size adapted to the channel
count, and a sigmoid. The teacher is a plain VGG-style CNN trained from
scratch. Both take (N, 1, 48, 48) grayscale face crops scaled to [0, 1]
and standardise them inside the network (the statistics are buffers), so
the exported graph needs no preprocessing beyond ``pixel / 255``.
"""

import json
import math

from fer_models.core.crops import CROP_SIZE, CropClassifier
from fer_models.research.export import check_parity, write_onnx
from fer_models.research.fer2013 import FER2013_LABELS
import torch
from torch import nn
from torch.nn import functional

INPUT_NORMALISATION = ('grayscale face crop resized to 48x48, float32 pixel / 255 in [0, 1]; '
                       'the graph standardises with the FER2013 training mean and std')
# Student: a stride-2 stem (48 -> 24 px), then (output channels, stride) per
# depthwise-separable block; sized for CPU-only training on two cores.
EAN_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 1))
# Teacher: conv widths per stage, 2x2 max pooling between stages.
TEACHER_STAGES = ((64, 64), (128, 128), (256,))


def eca_kernel_size(channels, gamma=2, b=1):
    """Return the ECA 1-D kernel size: |log2(C) / gamma + b / gamma|, made odd."""
    size = int(abs(math.log2(channels) / gamma + b / gamma))
    return size if size % 2 else size + 1


class LocalChannelAttention(nn.Module):
    """
    Efficient (local) channel attention: GAP, 1-D conv across channels, sigmoid.

    Each channel's gate depends on its k neighbouring channels only, so the
    module adds just k weights (no dimensionality reduction, unlike SE).
    """

    def __init__(self, channels, gamma=2, b=1):
        """Build the gate for ``channels`` channels."""
        super().__init__()
        self.kernel_size = eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, self.kernel_size, padding=self.kernel_size // 2, bias=False)

    def forward(self, x):
        """Return ``x`` (N, C, H, W) with every channel scaled by its gate."""
        pooled = x.mean(dim=(2, 3))  # (N, C)
        gate = torch.sigmoid(self.conv(pooled.unsqueeze(1))).squeeze(1)
        return x * gate[:, :, None, None]


class SeparableBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 convolution (BN, ReLU), optional ECA, residual."""

    def __init__(self, in_channels, out_channels, stride=1, attention=True):
        """Build one block; a residual is added when the shapes allow it."""
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))
        self.pointwise = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.attention = LocalChannelAttention(out_channels) if attention else nn.Identity()
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        """Return the block's output."""
        y = self.attention(self.pointwise(self.depthwise(x)))
        return functional.relu(y + x if self.residual else y)


class Standardise(nn.Module):
    """Subtract the training mean and divide by the training std (buffers)."""

    def __init__(self, mean=0.5, std=0.25):
        """Store the statistics of pixels scaled to [0, 1]."""
        super().__init__()
        self.register_buffer('mean', torch.tensor(float(mean)))
        self.register_buffer('std', torch.tensor(float(std)))

    def forward(self, x):
        """Return the standardised input."""
        return (x - self.mean) / self.std


class CropNet(nn.Module):
    """Shared head of the crop networks: standardise, features, global average pool, linear."""

    def logits(self, x):
        """Return class logits of (N, 1, 48, 48) crops in [0, 1]."""
        return self.classifier(self.features(self.standardise(x)).mean(dim=(2, 3)))

    def forward(self, x):
        """Return class probabilities."""
        return torch.softmax(self.logits(x), dim=-1)


class EAN(CropNet):
    """Efficient attention network: the student (``attention=False`` for the ablation)."""

    def __init__(self, num_classes=7, attention=True, blocks=EAN_BLOCKS, stem=32,
                 stem_stride=2, dropout=0.2, mean=0.5, std=0.25):
        """Build the network; ``blocks`` lists (channels, stride) per block."""
        super().__init__()
        self.standardise = Standardise(mean, std)
        layers = [nn.Conv2d(1, stem, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(stem),
                  nn.ReLU(inplace=True)]
        channels = stem
        for out_channels, stride in blocks:
            layers.append(SeparableBlock(channels, out_channels, stride, attention))
            channels = out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))


class TeacherCNN(CropNet):
    """VGG-style teacher: stride-2 stem, 3x3 conv stages with max pooling, GAP, linear."""

    def __init__(self, num_classes=7, stages=TEACHER_STAGES, stem=32, dropout=0.4, mean=0.5,
                 std=0.25):
        """Build the network; ``stages`` lists the conv widths of each stage."""
        super().__init__()
        self.standardise = Standardise(mean, std)
        layers = [nn.Conv2d(1, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem),
                  nn.ReLU(inplace=True)]
        channels = stem
        for index, widths in enumerate(stages):
            for width in widths:
                layers += [nn.Conv2d(channels, width, 3, 1, 1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
            if index < len(stages) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))


def build_model(kind, num_classes=7, mean=0.5, std=0.25):
    """Return a new network: ``teacher``, ``ean`` or ``ean_noatt``."""
    if kind == 'teacher':
        return TeacherCNN(num_classes, mean=mean, std=std)
    if kind in ('ean', 'ean_noatt'):
        return EAN(num_classes, attention=kind == 'ean', mean=mean, std=std)
    raise ValueError(f"unknown model kind '{kind}'; known: teacher, ean, ean_noatt")


def kd_loss(student_logits, teacher_logits, targets, temperature=4.0, alpha=0.5, weight=None):
    """
    Return alpha * CE(hard) + (1 - alpha) * T^2 * KL(p_teacher^T || p_student^T).

    The KL term is averaged over the batch; T^2 keeps its gradient scale
    independent of the temperature (Hinton et al. 2015). ``weight``: class
    weights of the hard-label term.
    """
    hard = functional.cross_entropy(student_logits, targets, weight=weight)
    if alpha >= 1.0:
        return hard
    soft = functional.kl_div(functional.log_softmax(student_logits / temperature, dim=-1),
                             functional.log_softmax(teacher_logits / temperature, dim=-1),
                             reduction='batchmean', log_target=True)
    return alpha * hard + (1.0 - alpha) * temperature ** 2 * soft


def count_mflops(model, size=CROP_SIZE):
    """Return multiply-accumulates (in millions) of one crop through convs and linears."""
    total = []

    def conv_hook(module, _inputs, output):
        kernel = module.kernel_size[0] * module.kernel_size[-1]
        total.append(output.numel() * kernel * module.in_channels // module.groups)

    def linear_hook(module, _inputs, output):
        total.append(output.numel() * module.in_features)

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules()
             if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules()
              if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return round(sum(total) / 1e6, 2)


def export_crop_model(model, path, *, model_name, labels=FER2013_LABELS, extra_metadata=None,
                      seed=0, size=CROP_SIZE):
    """
    Export a crop classifier ((N, 1, size, size) -> probabilities) to ONNX; return CropClassifier.

    Writes ``fer.*`` metadata (labels, input spec and normalisation), then
    checks onnxruntime against PyTorch on random crops and raises ExportError
    beyond PARITY_TOLERANCE (the same contract as fer_models.research.export).
    """
    model = model.eval()
    example = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(seed))
    write_onnx(model, example, path, 'crops', {
        'model_name': model_name, 'labels': json.dumps(list(labels)), 'input': 'face_crop',
        'input_shape': json.dumps([1, size, size]),
        'input_normalisation': INPUT_NORMALISATION, **(extra_metadata or {})})
    exported = CropClassifier(path)
    probe = torch.rand(5, 1, size, size, generator=torch.Generator().manual_seed(seed + 1))
    check_parity(model, probe, exported.predict(probe.numpy()))
    return exported
