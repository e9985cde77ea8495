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

"""Frame sources of camera_node: sample, image folder, video file, errors."""

import cv2
from fer_ros.frame_sources import (
    astronaut_portrait, CaptureSource, ImageFolderSource, open_source, SampleSource, SourceError)
import numpy as np
import pytest
from skimage import data


def _write_images(folder, count, size=(32, 24)):
    for index in range(count):
        image = np.full((size[1], size[0], 3), index * 20, np.uint8)
        cv2.imwrite(str(folder / f'{index:03d}.png'), image)


def test_sample_portrait_is_scikit_images_astronaut_pixel_for_pixel():
    assert np.array_equal(astronaut_portrait(), data.astronaut())


def test_sample_source_moves_a_real_face():
    source = SampleSource()
    first, second = source.read(), source.read()
    for _ in range(30):
        later = source.read()
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8
    assert source.encoding == 'rgb8'
    assert not np.array_equal(first, later)
    assert second.flags['C_CONTIGUOUS']


def test_image_folder_in_name_order_with_and_without_loop(tmp_path):
    _write_images(tmp_path, 3)
    (tmp_path / 'notes.txt').write_text('not an image')
    looping = ImageFolderSource(str(tmp_path), loop=True)
    values = [int(looping.read()[0, 0, 0]) for _ in range(4)]
    assert values == [0, 20, 40, 0]
    once = ImageFolderSource(str(tmp_path), loop=False)
    assert [once.read() is None for _ in range(4)] == [False, False, False, True]


def test_video_file_loops(tmp_path):
    path = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (32, 24))
    for index in range(3):
        writer.write(np.full((24, 32, 3), 60 * index, np.uint8))
    writer.release()
    source = open_source(path, loop=True)
    assert isinstance(source, CaptureSource) and not source.is_device
    frames = [source.read() for _ in range(5)]
    assert all(f is not None and f.shape == (24, 32, 3) for f in frames)
    source.close()
    once = open_source(path, loop=False)
    assert [once.read() is None for _ in range(4)] == [False, False, False, True]


def test_open_source_names(tmp_path):
    assert open_source('none') is None and open_source('') is None
    assert isinstance(open_source('sample'), SampleSource)
    with pytest.raises(SourceError, match='no images'):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match='neither'):
        open_source(str(tmp_path / 'missing'))
    with pytest.raises(SourceError, match='cannot open'):
        open_source('/dev/video99')
