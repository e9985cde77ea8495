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

"""Per-face sliding windows of per-frame features."""

from collections import deque

import numpy as np


class FaceWindows:
    """
    Keeps a ring buffer of the last ``window_length`` frames of each face.

    ``push`` returns a full window every ``stride`` frames once the buffer of
    that face is full. Faces not pushed for ``face_timeout_s`` are forgotten by
    ``forget_stale``, and so are the least recently pushed faces beyond
    ``max_faces`` (None: no limit).
    """

    def __init__(self, window_length, stride=1, face_timeout_s=1.0, max_faces=None):
        """Create empty buffers; see the class docstring for the parameters."""
        if window_length < 1 or stride < 1 or (max_faces is not None and max_faces < 1):
            raise ValueError('window_length, stride and max_faces must be at least 1')
        self.window_length = window_length
        self.stride = stride
        self.face_timeout_s = face_timeout_s
        self.max_faces = max_faces
        self._frames = {}
        self._since_emit = {}
        self._last_seen = {}

    @property
    def face_ids(self):
        """Return the ids of the faces with a buffer."""
        return list(self._frames)

    def push(self, face_id, features, now):
        """
        Add one frame of ``features`` for ``face_id``; maybe return a window.

        Returns a (window_length, D) float32 array, oldest frame first, or None.
        """
        frames = self._frames.get(face_id)
        if frames is None or (frames and frames[-1].shape != features.shape):
            frames = self._frames[face_id] = deque(maxlen=self.window_length)
            self._since_emit[face_id] = self.stride - 1
        frames.append(features)
        self._last_seen.pop(face_id, None)
        self._last_seen[face_id] = now  # the dict's order: least recently pushed first
        self._since_emit[face_id] += 1
        if len(frames) < self.window_length or self._since_emit[face_id] < self.stride:
            return None
        self._since_emit[face_id] = 0
        return np.stack(frames)

    def forget_stale(self, now):
        """Drop the faces unseen for face_timeout_s, or beyond max_faces; return their ids."""
        stale = [f for f, t in self._last_seen.items() if now - t > self.face_timeout_s]
        if self.max_faces is not None:
            expired = set(stale)
            kept = [f for f in self._last_seen if f not in expired]
            stale += kept[:max(0, len(kept) - self.max_faces)]
        for face_id in stale:
            del self._frames[face_id], self._since_emit[face_id], self._last_seen[face_id]
        return stale

    def clear(self):
        """Forget every face."""
        self._frames.clear()
        self._since_emit.clear()
        self._last_seen.clear()
