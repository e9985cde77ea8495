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
Evaluation protocol shared by every study and training command.

Splits are always subject-independent: a performer (TFEID), a subject
(CK+48) or a face never appears on both sides of a split.
"""

import numpy as np


def group_folds(groups, folds, seed):
    """Return ``folds`` arrays of group names, shuffled with ``seed``."""
    names = np.unique(groups)
    np.random.default_rng(seed).shuffle(names)
    return np.array_split(names, folds)
