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
Landmark-path classifiers: (N, T, D) raw feature windows -> probabilities.

Every network standardises its input inside the graph (training-set mean and
std as buffers, optionally followed by a fixed linear projection such as
PCA), so the exported ONNX model takes the feature buffer node's windows as
they are, and ends with a softmax. ``build_classifier`` makes any of them by
name (``CLASSIFIERS``); ``WindowStatsMLP`` is the baseline.
"""

import numpy as np
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


class TemperatureScaled(nn.Module):
    """A classifier whose logits are divided by a fitted temperature before the softmax."""

    def __init__(self, model, temperature):
        """Wrap a model that has ``logits(windows)``."""
        super().__init__()
        self.model = model
        self.register_buffer('temperature', torch.tensor(float(temperature)))

    def logits(self, windows):
        """Return the calibrated logits."""
        return self.model.logits(windows) / self.temperature

    def forward(self, windows):
        """Return calibrated class probabilities."""
        return torch.softmax(self.logits(windows), dim=-1)


class _Standardised(nn.Module):
    """Base: per-feature standardisation, optional projection, softmax output."""

    def __init__(self, feature_mean, feature_std, projection=None):
        super().__init__()
        self.register_buffer('feature_mean', torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer('feature_std', torch.as_tensor(feature_std, dtype=torch.float32))
        if projection is not None:
            self.register_buffer('projection', torch.as_tensor(projection, dtype=torch.float32))
        else:
            self.projection = None

    @property
    def input_dim(self):
        """Return the per-frame dimension after standardisation and projection."""
        if self.projection is not None:
            return int(self.projection.shape[1])
        return int(self.feature_mean.numel())

    def standardise(self, windows):
        """Return standardised (and projected) (N, T, D') windows."""
        features = (windows - self.feature_mean) / self.feature_std
        if self.projection is not None:
            features = features @ self.projection
        return features

    def forward(self, windows):
        """Return class probabilities of (N, T, D) windows."""
        return torch.softmax(self.logits(windows), dim=-1)


def _mlp(dim, hidden, num_classes, dropout, layers=2):
    blocks, width = [], dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, num_classes))


class LinearClassifier(_Standardised):
    """Multinomial logistic regression on the window's time-average."""

    def __init__(self, feature_mean, feature_std, num_classes, projection=None, dropout=0.0):
        """Build the network; see the module docstring."""
        super().__init__(feature_mean, feature_std, projection)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.input_dim, num_classes)

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        return self.classifier(self.dropout(self.standardise(windows.mean(dim=1))))


class FrameMLP(_Standardised):
    """MLP on the newest frame of the window only (a single-frame classifier)."""

    def __init__(self, feature_mean, feature_std, num_classes, projection=None, hidden=128,
                 dropout=0.3):
        """Build the network; see the module docstring."""
        super().__init__(feature_mean, feature_std, projection)
        self.classifier = _mlp(self.input_dim, hidden, num_classes, dropout)

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        return self.classifier(self.standardise(windows[:, -1]))


class StatsMLP(_Standardised):
    """MLP on window statistics: mean, standard deviation and last - first frame."""

    def __init__(self, feature_mean, feature_std, num_classes, projection=None, hidden=128,
                 dropout=0.3):
        """Build the network; see the module docstring."""
        super().__init__(feature_mean, feature_std, projection)
        self.classifier = _mlp(3 * self.input_dim, hidden, num_classes, dropout)

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        features = self.standardise(windows)
        mean = features.mean(dim=1)
        spread = (features - mean[:, None]).pow(2).mean(dim=1).add(1e-6).sqrt()
        change = features[:, -1] - features[:, 0]
        return self.classifier(torch.cat([mean, spread, change], dim=1))


class TemporalCNN(_Standardised):
    """1-D convolutions over time, then average and max pooling over time."""

    def __init__(self, feature_mean, feature_std, num_classes, projection=None, hidden=64,
                 dropout=0.3, kernel=3):
        """Build the network; see the module docstring."""
        super().__init__(feature_mean, feature_std, projection)
        self.dropout = nn.Dropout(dropout)
        self.convolutions = nn.Sequential(
            nn.Conv1d(self.input_dim, hidden, kernel, padding=kernel // 2), nn.ReLU(),
            nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2), nn.ReLU())
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        features = self.dropout(self.standardise(windows)).transpose(1, 2)
        hidden = self.convolutions(features)
        pooled = torch.cat([hidden.mean(dim=2), hidden.amax(dim=2)], dim=1)
        return self.classifier(self.dropout(pooled))


class GRUClassifier(_Standardised):
    """A one-layer GRU over the window; the last hidden state is classified."""

    def __init__(self, feature_mean, feature_std, num_classes, projection=None, hidden=64,
                 dropout=0.3):
        """Build the network; see the module docstring."""
        super().__init__(feature_mean, feature_std, projection)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(self.input_dim, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, num_classes)

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        outputs, _ = self.gru(self.dropout(self.standardise(windows)))
        return self.classifier(self.dropout(outputs[:, -1]))


class _CausalBlock(nn.Module):
    """Residual block of two dilated causal convolutions."""

    def __init__(self, channels, kernel, dilation, dropout):
        super().__init__()
        self.padding = (kernel - 1) * dilation
        self.first = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.second = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        y = torch.relu(self.first(nn.functional.pad(x, (self.padding, 0))))
        y = torch.relu(self.second(nn.functional.pad(self.dropout(y), (self.padding, 0))))
        return torch.relu(x + self.dropout(y))


class TCN(_Standardised):
    """Small temporal convolutional network (dilations 1, 2, 4); newest step classified."""

    def __init__(self, feature_mean, feature_std, num_classes, projection=None, hidden=48,
                 dropout=0.3, kernel=3, dilations=(1, 2, 4)):
        """Build the network; see the module docstring."""
        super().__init__(feature_mean, feature_std, projection)
        self.dropout = nn.Dropout(dropout)
        self.inlet = nn.Conv1d(self.input_dim, hidden, 1)
        self.blocks = nn.Sequential(*(_CausalBlock(hidden, kernel, d, dropout)
                                      for d in dilations))
        self.classifier = nn.Linear(hidden, num_classes)

    def logits(self, windows):
        """Return class logits of (N, T, D) windows."""
        features = self.dropout(self.standardise(windows)).transpose(1, 2)
        hidden = self.blocks(self.inlet(features))
        return self.classifier(hidden[:, :, -1])


CLASSIFIERS = {
    'linear': LinearClassifier,
    'frame_mlp': FrameMLP,
    'window_mlp': WindowStatsMLP,
    'stats_mlp': StatsMLP,
    'tcnn': TemporalCNN,
    'gru': GRUClassifier,
    'tcn': TCN,
}


def build_classifier(name, feature_mean, feature_std, num_classes, projection=None, **options):
    """
    Return the classifier ``name`` of CLASSIFIERS for the given statistics.

    ``projection`` (D, K), applied after standardisation, is not available
    for ``window_mlp`` (the baseline, kept as it was).
    """
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier '{name}'; known: {', '.join(CLASSIFIERS)}")
    if name == 'window_mlp':
        if projection is not None:
            raise ValueError('window_mlp takes no projection')
        return WindowStatsMLP(feature_mean, feature_std, num_classes, **options)
    return CLASSIFIERS[name](feature_mean, feature_std, num_classes, projection, **options)


def parameter_count(model):
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def training_prior(targets, power, classes):
    """
    Return the class prior that a run's loss leaves in its logits.

    Cross-entropy weighted by count^-power is minimised by posteriors
    proportional to count^(1 - power) times the class likelihood, so that is
    the prior the logits carry (normalised to sum 1; 0 for absent classes).
    Plain cross-entropy is power 0: the training mix itself.
    """
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    prior = counts ** (1.0 - power)
    return prior / prior.sum()


def final_layer(model):
    """Return a model's last linear layer, whose outputs are its logits."""
    return [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]


def remove_training_prior(model, prior):
    """
    Subtract log(prior) from the bias of a model's final linear layer, in place.

    Post-hoc logit adjustment (Menon et al., ICLR 2021, tau = 1): the model
    then decides as if every expression were equally likely, which is what a
    robot knows about the people it meets, instead of following FER2013's
    mix (a quarter of it is happy). A class absent from training keeps the
    smallest present prior, so it is not promoted from nothing.
    """
    prior = np.asarray(prior, np.float64)
    floor = prior[prior > 0].min()
    final = final_layer(model)
    with torch.no_grad():
        final.bias -= torch.as_tensor(np.log(np.maximum(prior, floor)), dtype=final.bias.dtype)
    return model


def scale_logits(model, temperature):
    """
    Divide a model's logits by ``temperature``, in place (weights and bias of its final layer).

    Temperature scaling (Guo et al., ICML 2017): the answer (argmax) stays, the
    confidence becomes what held-out data says it should be.
    """
    final = final_layer(model)
    with torch.no_grad():
        final.weight /= temperature
        final.bias /= temperature
    return model


def fit_window_mlp(features, targets, num_classes, epochs, seed, validation=None,
                   check_every=10, batch_size=64, noise=0.05, hidden=128, dropout=0.3):
    """
    Train a WindowStatsMLP; return (model, best epoch).

    With ``validation`` (features, targets) the weights with the lowest
    validation loss (checked every ``check_every`` epochs) are kept: with a
    few validation performers, loss is a steadier guide than accuracy.
    """
    torch.manual_seed(seed)
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    model = WindowStatsMLP(mean, std, num_classes, hidden, dropout)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    inputs = torch.as_tensor(features[:, None, :], dtype=torch.float32)
    labels = torch.as_tensor(targets)
    counts = np.bincount(targets, minlength=num_classes)
    weights = torch.as_tensor(len(targets) / (num_classes * np.maximum(counts, 1)),
                              dtype=torch.float32)
    spread = torch.as_tensor(std, dtype=torch.float32) * noise
    best = (float('inf'), 0, None)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), batch_size):
            batch = order[start:start + batch_size]
            noisy = inputs[batch] + torch.randn_like(inputs[batch]) * spread
            loss = nn.functional.cross_entropy(model.logits(noisy), labels[batch],
                                               weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if validation is not None and (epoch % check_every == 0 or epoch == epochs):
            loss = window_mlp_loss(model, *validation)
            if loss < best[0]:
                best = (loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
    if best[2] is not None:
        model.load_state_dict(best[2])
    return model.eval(), (best[1] if validation is not None else epochs)


def window_mlp_loss(model, features, targets):
    """Return the mean cross-entropy of the model on held-out features."""
    model.eval()
    with torch.no_grad():
        logits = model.logits(torch.as_tensor(features[:, None, :], dtype=torch.float32))
        return float(nn.functional.cross_entropy(logits, torch.as_tensor(targets)))


def predict_window_mlp(model, features):
    """Return the predicted class index of each feature row."""
    model.eval()
    with torch.no_grad():
        windows = torch.as_tensor(features[:, None, :], dtype=torch.float32)
        return model(windows).argmax(dim=1).numpy()
