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

"""The expression label set shared by datasets, models and messages."""

NEUTRAL = 'neutral'
HAPPY = 'happy'
SAD = 'sad'
SURPRISE = 'surprise'
FEAR = 'fear'
DISGUST = 'disgust'
ANGRY = 'angry'
CONTEMPT = 'contempt'
UNKNOWN = 'unknown'

# The 7 basic classes, in the order of fer_msgs/Emotion's constants.
BASIC_LABELS = (NEUTRAL, HAPPY, SAD, SURPRISE, FEAR, DISGUST, ANGRY)
ALL_LABELS = BASIC_LABELS + (CONTEMPT,)

_ALIASES = {
    'anger': ANGRY,
    'happiness': HAPPY,
    'sadness': SAD,
    'surprised': SURPRISE,
    'fearful': FEAR,
    'disgusted': DISGUST,
}


def canonical_label(name):
    """Return the canonical label for a dataset's spelling of an expression."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ALL_LABELS:
        raise ValueError(f"unknown expression label '{name}'; known: {', '.join(ALL_LABELS)}")
    return key
