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

"""Frame checks before MediaPipe: sizes it must not see, the capped upscale, rotation."""

from fer_models.core.landmarks import (
    check_frame_size, FaceMeshDetector, FrameSizeError, MAX_UPSCALED_SIDE, OPENCV_MAX_SIDE,
    rotate_clockwise, upscale_factor)
import numpy as np
import pytest

pytestmark = pytest.mark.pure


@pytest.mark.parametrize('width, height, reason', [
    (0, 480, 'empty image'),
    (640, 0, 'empty image'),
    (OPENCV_MAX_SIDE, 10000, "OpenCV's limit"),
    (10000, OPENCV_MAX_SIDE, "OpenCV's limit"),
    (171, 1, 'aspect ratio 171:1'),
    (2, 100, 'aspect ratio 50:1'),
])
def test_unusable_frame_sizes_are_refused_with_a_reason(width, height, reason):
    with pytest.raises(FrameSizeError, match=reason):
        check_frame_size(width, height)


@pytest.mark.parametrize('width, height', [(640, 480), (1, 1), (3840, 2160), (1920, 240),
                                           (OPENCV_MAX_SIDE - 1, 8000)])
def test_camera_frames_pass(width, height):
    check_frame_size(width, height)


def test_the_upscale_reaches_min_input_size_but_never_opencvs_limit():
    assert upscale_factor(640, 480, 192) == 1.0
    assert upscale_factor(96, 48, 192) == 4.0
    assert upscale_factor(96, 48, 0) == 1.0
    # 1x171 was upscaled 192x to 32832 px, past OpenCV's limit: MediaPipe aborted.
    assert 171 * upscale_factor(171, 1, 192) <= MAX_UPSCALED_SIDE
    assert 8 * 256 * upscale_factor(8 * 256, 256, 2048) <= MAX_UPSCALED_SIDE
    for width in range(1, 400, 7):
        for height in (1, 2, 50, 191):
            longer = max(width, height) * upscale_factor(width, height, 2048)
            assert round(longer) <= MAX_UPSCALED_SIDE < OPENCV_MAX_SIDE


def test_the_detector_refuses_what_would_abort_the_process():
    detector = FaceMeshDetector()
    try:
        with pytest.raises(FrameSizeError):
            detector.detect(np.zeros((1, 171, 3), np.uint8))
        assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []
    finally:
        detector.close()


def test_rotation_is_clockwise():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert rotate_clockwise(image, 0) is image
    np.testing.assert_array_equal(rotate_clockwise(image, 90), [[3, 0], [4, 1], [5, 2]])
    np.testing.assert_array_equal(rotate_clockwise(image, 180), image[::-1, ::-1])
    np.testing.assert_array_equal(rotate_clockwise(image, 270), [[2, 5], [1, 4], [0, 3]])
    with pytest.raises(ValueError, match='not one of 0, 90, 180, 270'):
        rotate_clockwise(image, 45)
