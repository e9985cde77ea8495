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

"""Two real faces moving on their own paths: stable ids, per-face windows and emotions."""

from fer_msgs.msg import Emotion, FaceLandmarksArray, FeatureWindow
from ros_helpers import REPO

CONFIG = f'{REPO}/config/fer.yaml'
SECONDS_OF_MOTION = 4.0


def test_two_moving_faces_keep_their_ids_and_get_their_own_emotions(ros, start_node):
    landmarks = ros.record(FaceLandmarksArray, 'fer/landmarks')
    windows = ros.record(FeatureWindow, 'fer/features')
    emotions = ros.record(Emotion, 'emotion')
    pipeline = start_node('fer_pipeline', '--source', 'sample2', '--ros-args',
                          '--params-file', CONFIG, '-p', 'landmark_node:max_faces:=2')
    assert ros.spin_until(lambda: len({e.face_id for e in emotions}) >= 2, timeout=60.0,
                          processes=[pipeline]), pipeline.output()[-3000:]
    landmarks.clear()
    windows.clear()
    emotions.clear()
    ros.spin_for(SECONDS_OF_MOTION)

    both = [a for a in landmarks if len(a.faces) == 2]
    assert len(both) >= 0.8 * len(landmarks) > 0, 'both faces must be found in most frames'
    ids = {f.face_id for a in landmarks for f in a.faces}
    assert len(ids) == 2, f'ids changed while the faces moved: {sorted(ids)}'
    # The mirrored portrait is on the right: each id keeps its side of the frame.
    for face_id in ids:
        sides = {f.bbox_x + f.bbox_width / 2 > 320 for a in landmarks for f in a.faces
                 if f.face_id == face_id}
        assert len(sides) == 1, f'face {face_id} jumped sides'
    for face_id in ids:
        mine = [e for e in emotions if e.face_id == face_id]
        assert len(mine) >= 0.5 * len(both), f'face {face_id}: {len(mine)} emotions'
        assert sum(e.label == 'happy' for e in mine) > len(mine) // 2, [e.label for e in mine]
    assert {w.face_id for w in windows} == ids, 'one window stream per face'
    assert pipeline.alive()
