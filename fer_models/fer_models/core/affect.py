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
Valence and arousal derived from expression probabilities (not measured).

No shipped model is trained on valence or arousal: no data set with those
annotations is reachable here. Instead each basic expression has a fixed
point on the valence-arousal plane, and a face's (valence, arousal) is the
expectation of those points under its expression probabilities:

    valence = sum_i p_i * v_i,   arousal = sum_i p_i * a_i

The points are the pleasure and arousal means of the matching emotion terms
in Russell & Mehrabian (1977), "Evidence for a three-factor theory of
emotions", Journal of Research in Personality 11, 273-294 (151 terms rated by
adults on pleasure, arousal and dominance, scaled to [-1, 1]; dominance is
not used): the terms happy, sad, surprised, fearful, disgust and angry.
The numbers were taken from secondary tabulations of that paper's table
(angry's -0.51/0.59 also in Gebhard, ALMA, AAMAS 2005); the original was
not reachable from this machine. Neutral is the origin by definition (no published rating).
Labels without a point (contempt, unknown) are left out and the rest
renormalised.

What it means: the expression category's typical feeling as English
speakers rate the word, weighted by the model's belief; not the person's
feeling nor an intensity (a faint smile and a broad one with the same
probabilities get the same valence). A confident neutral face sits near
(0, 0); an uncertain answer (flat probabilities) is pulled towards the mean
of all points, (-0.17, +0.35): slightly negative and aroused, because four
of the six expressions are negative and five are aroused.
"""

from fer_models.core.labels import ANGRY, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE
import numpy as np

# label: (valence, arousal), Russell & Mehrabian (1977) pleasure and arousal.
VALENCE_AROUSAL = {
    NEUTRAL: (0.0, 0.0),
    HAPPY: (0.81, 0.51),
    SAD: (-0.63, -0.27),
    SURPRISE: (0.40, 0.67),
    FEAR: (-0.64, 0.60),
    DISGUST: (-0.60, 0.35),
    ANGRY: (-0.51, 0.59),
}


def valence_arousal(labels, probabilities):
    """
    Return (valence, arousal) in [-1, 1] of expression probabilities.

    ``labels`` name the entries of ``probabilities`` (a model's label
    order). Returns (nan, nan) when no label with a point has any probability.
    """
    points = [(p, VALENCE_AROUSAL[label])
              for label, p in zip(labels, np.asarray(probabilities, dtype=np.float64))
              if label in VALENCE_AROUSAL and np.isfinite(p) and p > 0]
    total = sum(p for p, _ in points)
    if total <= 0:
        return float('nan'), float('nan')
    valence = sum(p * v for p, (v, _) in points) / total
    arousal = sum(p * a for p, (_, a) in points) / total
    return float(valence), float(arousal)
