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
Datasets in ``../shared/data`` (never copied into this repository).

``./fer`` points the ``FER_DATA_DIR`` environment variable at the
``shared/data`` folder beside the repository; set it to use another place.
"""

import csv
from dataclasses import dataclass
import os

from fer_models.core.labels import canonical_label

DATASETS = ('taiwanese', 'ckplus48')


@dataclass(frozen=True)
class Record:
    """One labelled image: path, group (performer or subject) and label."""

    path: str
    group: str
    label: str


def data_root():
    """Return the shared data folder: FER_DATA_DIR, else ../shared/data from here."""
    return os.environ.get('FER_DATA_DIR', os.path.join(os.pardir, 'shared', 'data'))


def load_dataset(name, root=None):
    """
    Return the Records of a dataset: ``taiwanese`` or ``ckplus48``.

    TFEID groups by performer, CK+48 by subject: evaluation splits by group.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}")
    folder = os.path.join(root or data_root(), name)
    labels = os.path.join(folder, 'labels.csv')
    if not os.path.isfile(labels):
        raise FileNotFoundError(f'{labels} not found (set FER_DATA_DIR to the data folder)')
    group_column = 'performer' if name == 'taiwanese' else 'subject'
    with open(labels, newline='') as handle:
        return [Record(os.path.join(folder, row['file'].strip()), row[group_column].strip(),
                       canonical_label(row['label']))
                for row in csv.DictReader(handle)]
