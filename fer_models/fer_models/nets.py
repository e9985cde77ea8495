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

"""Window-statistics MLP: the landmark path's baseline classifier."""

import torch
from torch import nn


class WindowStatsMLP(nn.Module):
    """
    Averages a (N, T, D) feature window over time, standardises, classifies.

    The standardisation statistics of the training set are buffers, so the
    exported graph takes raw features from the feature buffer node. The
    output is class probabilities (softmax inside the graph).
    """

    def __init__(self, feature_mean, feature_std, num_classes, hidden=128, dropout=0.3):
        """Build the network for features with the given mean and std."""
        super().__init__()
        self.register_buffer('feature_mean', torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer('feature_std', torch.as_tensor(feature_std, dtype=torch.float32))
        dim = self.feature_mean.numel()
        self.classifier = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        features = (windows.mean(dim=1) - self.feature_mean) / self.feature_std
        return self.classifier(features)

    def forward(self, windows):
        """Return class probabilities of (N, T, D) windows."""
        return torch.softmax(self.logits(windows), dim=-1)


def parameter_count(model):
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
