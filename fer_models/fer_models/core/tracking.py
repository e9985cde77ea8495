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

"""Stable ids for faces across frames (greedy IoU matching, timeout); per-face reuse."""

from dataclasses import dataclass


def iou(box_a, box_b):
    """Return the intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = box_a
    bx, by, bw, bh = box_b
    inter_w = min(ax + aw, bx + bw) - max(ax, bx)
    inter_h = min(ay + ah, by + bh) - max(ay, by)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    face_id: int
    box: tuple
    # Stamp of the first frame, since the track was last matched, without it.
    missing_since: float = None


class FaceTracker:
    """
    Assigns each detected face box the id of the track it overlaps most.

    A track missing from the frames for longer than ``timeout_s`` (frame
    time, from the first frame without it) is forgotten, so a face that
    leaves and comes back gets a new id. A pause in processing does not
    expire a face that is still there. Beyond ``max_tracks`` (None: no
    limit) the tracks missing longest are forgotten too, whatever the time
    says. Ids start at 1 and only grow.
    """

    def __init__(self, iou_threshold=0.3, timeout_s=0.5, max_tracks=None):
        """Create a tracker; see the class docstring for the parameters."""
        self.iou_threshold = iou_threshold
        self.timeout_s = timeout_s
        self.max_tracks = max_tracks
        self._tracks = []
        self._next_id = 1

    @property
    def active_ids(self):
        """Return the ids of the tracks currently alive."""
        return [t.face_id for t in self._tracks]

    def update(self, boxes, now):
        """Return one face id per box in ``boxes`` seen at time ``now`` (s)."""
        self._tracks = [t for t in self._tracks
                        if t.missing_since is None or now - t.missing_since <= self.timeout_s]
        pairs = sorted(
            ((iou(track.box, box), ti, bi)
             for ti, track in enumerate(self._tracks)
             for bi, box in enumerate(boxes)),
            reverse=True)
        ids = [None] * len(boxes)
        used_tracks = set()
        for overlap, ti, bi in pairs:
            if overlap < self.iou_threshold:
                break
            if ti in used_tracks or ids[bi] is not None:
                continue
            used_tracks.add(ti)
            track = self._tracks[ti]
            track.box, track.missing_since = tuple(boxes[bi]), None
            ids[bi] = track.face_id
        for ti, track in enumerate(self._tracks):
            if ti not in used_tracks and track.missing_since is None:
                track.missing_since = now
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                track = _Track(self._next_id, tuple(box))
                self._next_id += 1
                self._tracks.append(track)
                ids[bi] = track.face_id
        if self.max_tracks is not None and len(self._tracks) > self.max_tracks:
            missing = sorted((t for t in self._tracks if t.missing_since is not None),
                             key=lambda t: t.missing_since)
            dropped = {id(t) for t in missing[:len(self._tracks) - self.max_tracks]}
            self._tracks = [t for t in self._tracks if id(t) not in dropped]
        return ids


class EveryNthPerFace:
    """
    Keeps one value per tracked face and says when each is due for a refresh.

    Low-power mode: an expensive per-face result (the appearance model's
    probabilities) is recomputed on one frame in ``every_n`` of each face and
    reused on the others. A new face is due at once; a face missing from a
    frame loses its value (its next appearance recomputes it).
    """

    def __init__(self, every_n=1):
        """Create an empty store; every_n = 1 recomputes on every frame."""
        if every_n < 1:
            raise ValueError('every_n must be at least 1')
        self.every_n = every_n
        self._values = {}  # face id -> (value, frames since it was computed)

    def due(self, face_ids):
        """
        Start a frame with these faces; return, per face, whether to recompute.

        Faces not in ``face_ids`` are forgotten.
        """
        present = set(face_ids)
        self._values = {f: (value, age + 1) for f, (value, age) in self._values.items()
                        if f in present}
        return [f not in self._values or self._values[f][1] >= self.every_n for f in face_ids]

    def store(self, face_id, value):
        """Record a freshly computed value of a face."""
        self._values[face_id] = (value, 0)

    def value(self, face_id):
        """Return the latest value stored for a face, or None."""
        return self._values.get(face_id, (None, 0))[0]
