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
The still-image pipeline a ROS parameter file configures (``config/fer.yaml`` by default).

``./fer eval`` and ``./fer annotate`` read the same YAML the nodes read, so
that their numbers and pictures describe the robot's pipeline: the classifier
node's fusion mode and weight, models and thresholds, landmark_node's
appearance model and detector input size. Values a section leaves out take
the nodes' own defaults (the code's, not a copy here).
"""

from dataclasses import asdict, dataclass, replace
import os

from fer_models.core.baseline import AUTO, MODES, OFF
from fer_models.core.fusion import (
    DEFAULT_APPEARANCE_MODEL, DEFAULT_APPEARANCE_WEIGHT, DEFAULT_FUSION, FUSION_MODES)
from fer_models.core.resources import installed_share_path
from fer_models.core.smoothing import DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_MAX_HEAD_ANGLE_DEG

# The nodes' default for landmark_node's min_input_size (its ParamSpec).
DEFAULT_MIN_INPUT_SIZE = 192
# ``--pipeline`` names: ``fusion`` is late fusion (its name before stacked existed).
PIPELINE_NAMES = {'landmark': 'landmark', 'appearance': 'appearance', 'fusion': 'late',
                  'late': 'late', 'stacked': 'stacked'}


@dataclass
class PipelineParams:
    """What a still goes through: models, fusion and decision thresholds."""

    source: str  # the YAML these came from, or 'defaults'
    fusion: str = DEFAULT_FUSION  # one of core.fusion.FUSION_MODES
    appearance_weight: float = DEFAULT_APPEARANCE_WEIGHT
    model_path: str = ''  # '' = shipped landmark_default.onnx
    appearance_model_path: str = DEFAULT_APPEARANCE_MODEL  # '' = appearance path off
    stacker_path: str = ''  # '' = shipped fusion_stacker.json
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    max_head_angle_deg: float = DEFAULT_MAX_HEAD_ANGLE_DEG
    min_input_size: int = DEFAULT_MIN_INPUT_SIZE
    neutral_baseline: str = OFF
    # neutral_baseline auto: the model reading faces without a ready baseline
    # ('' = shipped landmark_default.onnx), and so every still.
    absolute_model_path: str = ''

    def still_model_path(self):
        """
        Return the landmark model that reads a still ('' = shipped landmark_default.onnx).

        A still has no history, so no resting face: under neutral_baseline
        auto the classifier reads it with its absolute model, exactly as off.
        """
        return self.absolute_model_path if self.neutral_baseline == AUTO else self.model_path

    def effective_fusion(self):
        """Return the mode the classifier node runs: landmark when no appearance model is set."""
        return self.fusion if self.appearance_model_path else 'landmark'

    def summary(self):
        """Return a one-line description for reports and annotated images."""
        mode = self.effective_fusion()
        if mode == 'late':
            mode = f'late fusion, appearance weight {self.appearance_weight:g}'
        if self.neutral_baseline == AUTO:
            mode += ', neutral baseline auto (a still: as off)'
        return f'{mode} ({os.path.basename(self.source)})'

    def as_dict(self):
        """Return the fields as a JSON-ready dict, with the effective fusion mode."""
        return {**asdict(self), 'effective_fusion': self.effective_fusion()}


def default_params_file():
    """
    Return the shipped ``config/fer.yaml``.

    Installed: fer_ros's share folder (the file the launch file reads). From
    a source checkout: ``config/fer.yaml`` at the repository root.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    return (installed_share_path('fer_ros', 'config', 'fer.yaml')
            or os.path.join(here, '..', '..', '..', 'config', 'fer.yaml'))


def _section(params, node, path):
    section = params.get(node) or {}
    if not isinstance(section, dict):
        raise ValueError(f'{path}: section {node} is not a mapping')
    values = section.get('ros__parameters') or {}
    if not isinstance(values, dict):
        raise ValueError(f'{path}: {node}.ros__parameters is not a mapping')
    return values


def load(path=None):
    """Return the PipelineParams of a parameter YAML (default: the shipped one)."""
    import yaml

    path = os.path.abspath(path or default_params_file())
    try:
        with open(path) as handle:
            params = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f'cannot read the parameter file {path}: {error}') from error
    if not isinstance(params, dict):
        raise ValueError(f'{path} is not a ROS parameter file (a mapping of node sections)')
    classifier = _section(params, 'emotion_classifier_node', path)
    landmark = _section(params, 'landmark_node', path)
    buffer = _section(params, 'feature_buffer_node', path)
    # neutral_baseline is pipeline-wide ('/**'); a node section still sets it for that node.
    every_node = _section(params, '/**', path)
    defaults = PipelineParams(path)
    chosen = PipelineParams(
        path,
        fusion=str(classifier.get('fusion', defaults.fusion)),
        appearance_weight=float(classifier.get('appearance_weight', defaults.appearance_weight)),
        model_path=str(classifier.get('model_path', defaults.model_path)),
        appearance_model_path=str(landmark.get('appearance_model_path',
                                               defaults.appearance_model_path)),
        stacker_path=str(classifier.get('stacker_path', defaults.stacker_path)),
        confidence_threshold=float(classifier.get('confidence_threshold',
                                                  defaults.confidence_threshold)),
        max_head_angle_deg=float(classifier.get('max_head_angle_deg',
                                                defaults.max_head_angle_deg)),
        min_input_size=int(landmark.get('min_input_size', defaults.min_input_size)),
        neutral_baseline=str(buffer.get('neutral_baseline', every_node.get(
            'neutral_baseline', defaults.neutral_baseline))),
        absolute_model_path=str(classifier.get('absolute_model_path',
                                               defaults.absolute_model_path)))
    check(chosen)
    return chosen


def check(params):
    """Raise ValueError when stills cannot run what ``params`` configure."""
    if params.fusion not in FUSION_MODES:
        raise ValueError(f"{params.source}: fusion '{params.fusion}' is not one of "
                         f"{', '.join(FUSION_MODES)}")
    if not 0.0 <= params.appearance_weight <= 1.0:
        raise ValueError(f'{params.source}: appearance_weight {params.appearance_weight} is '
                         'outside [0, 1]')
    if params.neutral_baseline not in MODES:
        raise ValueError(f"{params.source}: neutral_baseline '{params.neutral_baseline}' is "
                         f"not one of {', '.join(MODES)}")


def with_pipeline(params, pipeline):
    """Return ``params`` with the fusion mode a ``--pipeline`` name asks for (None: as is)."""
    if pipeline is None:
        return params
    if pipeline not in PIPELINE_NAMES:
        raise ValueError(f"pipeline '{pipeline}' is not one of {', '.join(PIPELINE_NAMES)}")
    fusion = PIPELINE_NAMES[pipeline]
    # Asked for by name, a mode that needs the appearance path gets the shipped
    # model when the YAML switched the path off.
    appearance = params.appearance_model_path or (
        DEFAULT_APPEARANCE_MODEL if fusion != 'landmark' else '')
    return replace(params, fusion=fusion, appearance_model_path=appearance)
