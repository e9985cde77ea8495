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
Posed TFEID stills that the shipped landmark model labels reliably.

The integration tests check the pipeline, not the model, so they play faces
the default pipeline gets right with high confidence: two happy and two
surprise faces of four performers (each at or above 0.9 for its label, in a
still window of the landmark model, from the appearance model and fused as
config/fer.yaml ships). Change them together with the default models.
"""

RELIABLE_STILLS = (('1611b12.jpg', 'happy'), ('0821g09.jpg', 'surprise'),
                   ('0621b01.jpg', 'happy'), ('2521g01.jpg', 'surprise'))


def labels_csv(stills=RELIABLE_STILLS, performer=False):
    """Return the text of a labels CSV (file,label; performer adds that column)."""
    if performer:
        return 'file,performer,label\n' + ''.join(
            f'{name},{name[:2]},{label}\n' for name, label in stills)
    return 'file,label\n' + ''.join(f'{name},{label}\n' for name, label in stills)
