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
Where camera frames come from: a device, a video file, an image folder.

Plain Python (OpenCV), no ROS, so it is tested without a graph. Every source
returns HxWx3 uint8 frames and says their encoding (``bgr8`` from OpenCV,
``rgb8`` for the built-in sample).
"""

import importlib.metadata
import math
import os

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.pgm', '.ppm', '.tif', '.tiff', '.webp')
NO_SOURCE = ('', 'none')
SAMPLES = {'sample': 1, 'sample2': 2}


class SourceError(RuntimeError):
    """Raised when a source cannot be opened or has stopped delivering frames."""


def astronaut_portrait():
    """
    Return scikit-image's astronaut portrait as a 512x512x3 RGB array.

    Read from the PNG that scikit-image ships, without importing scikit-image:
    the import alone (with SciPy and imageio) costs camera_node about 25 MB.
    """
    try:
        path = str(importlib.metadata.distribution('scikit-image').locate_file(
            'skimage/data/astronaut.png'))
    except importlib.metadata.PackageNotFoundError as error:
        raise SourceError('the sample needs scikit-image installed (its astronaut '
                          'portrait)') from error
    portrait = cv2.imread(path, cv2.IMREAD_COLOR)
    if portrait is None:
        raise SourceError(f'cannot read the sample portrait {path}')
    return cv2.cvtColor(portrait, cv2.COLOR_BGR2RGB)


class SampleSource:
    """
    A 640x480 stream of one or two real faces, gently moving, made in memory.

    The face is scikit-image's ``astronaut`` (public-domain NASA portrait of
    Eileen Collins, smiling), so the demo needs no camera and no file. The
    two-face stream shows the portrait and its mirror image side by side,
    each moving on its own path.
    """

    encoding = 'rgb8'

    def __init__(self, width=640, height=480, faces=1):
        """Prepare the portrait; frames are cut from it on ``read``."""
        if faces not in (1, 2):
            raise SourceError(f'the sample has 1 or 2 faces, not {faces}')
        portrait = astronaut_portrait()
        self.description = (f'built-in sample (scikit-image astronaut, {faces} face(s), '
                            f'{width}x{height})')
        self._size = (width, height)
        self._faces = faces
        self._index = 0
        if faces == 1:
            # The face is about 200 px wide in the frame, like a person a metre
            # or so in front of a robot's camera.
            self._canvas = cv2.resize(portrait, (800, 800), interpolation=cv2.INTER_AREA)
        else:
            # 240 px tiles around the face (about 110 px wide) on a grey wall.
            tile = cv2.resize(portrait[20:230, 120:330], (240, 240),
                              interpolation=cv2.INTER_AREA)
            self._tiles = (tile, np.ascontiguousarray(tile[:, ::-1]))
            self._background = np.full((height, width, 3), 118, np.uint8)

    def read(self):
        """Return the next frame."""
        width, height = self._size
        phase = self._index / 30.0
        self._index += 1
        if self._faces == 1:
            x = int(80 + 40 * math.sin(phase * 0.8))
            y = int(20 + 15 * math.sin(phase * 0.5))
            return np.ascontiguousarray(self._canvas[y:y + height, x:x + width])
        frame = self._background.copy()
        for index, tile in enumerate(self._tiles):
            size = tile.shape[0]
            x = int((index + 0.5) * width / 2 - size / 2 + 20 * math.sin(phase * (0.7 + index)))
            y = int((height - size) / 2 + 25 * math.sin(phase * (0.4 + 0.3 * index)))
            x = min(max(x, 0), width - size)
            y = min(max(y, 0), height - size)
            frame[y:y + size, x:x + size] = tile
        return frame

    def close(self):
        """Nothing to release."""


class ImageFolderSource:
    """The images of a folder in name order, optionally looped."""

    encoding = 'bgr8'

    def __init__(self, folder, loop=True):
        """List the folder's images; raise SourceError if there are none."""
        self.folder = folder
        self.loop = loop
        self.description = f'image folder {folder}'
        self._files = sorted(
            os.path.join(folder, name) for name in os.listdir(folder)
            if name.lower().endswith(IMAGE_EXTENSIONS))
        if not self._files:
            raise SourceError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {folder}')
        self._index = 0

    def read(self):
        """Return the next image, or None at the end of a non-looping folder."""
        if self._index >= len(self._files):
            if not self.loop:
                return None
            self._index = 0
        path = self._files[self._index]
        self._index += 1
        frame = cv2.imread(path, cv2.IMREAD_COLOR)
        if frame is None:
            raise SourceError(f'cannot read image {path}')
        return frame

    def close(self):
        """Nothing to release."""


class CaptureSource:
    """A V4L2 device or a video file through OpenCV's VideoCapture."""

    encoding = 'bgr8'

    def __init__(self, target, loop=True, width=0, height=0):
        """Open ``target`` (device path, device index or video file)."""
        self.target = target
        self.is_device = isinstance(target, int) or str(target).startswith('/dev/')
        self.loop = loop and not self.is_device
        kind = 'camera device' if self.is_device else 'video file'
        self.description = f'{kind} {target}'
        self._capture = cv2.VideoCapture(target, cv2.CAP_V4L2 if self.is_device else cv2.CAP_ANY)
        if not self._capture.isOpened():
            raise SourceError(f'cannot open {self.description}')
        if self.is_device and width > 0 and height > 0:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def read(self):
        """
        Return the next frame; None at the end of a non-looping file.

        Raises SourceError when a device stops delivering frames.
        """
        ok, frame = self._capture.read()
        if ok:
            return frame
        if self.is_device:
            raise SourceError(f'{self.description} delivered no frame (unplugged?)')
        if not self.loop:
            return None
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, frame = self._capture.read()
        if not ok:
            raise SourceError(f'{self.description} has no readable frame')
        return frame

    def close(self):
        """Release the device or file."""
        self._capture.release()


def open_source(source, loop=True, width=0, height=0):
    """
    Return the frame source named by ``source``, or None for no source.

    ``source``: ``sample`` (one face) or ``sample2`` (two faces); ``none`` or
    empty; a device path such as ``/dev/video0`` or a device index such as
    ``0``; a folder of images; a video file. Raises SourceError with a clear message otherwise.
    """
    source = str(source).strip()
    if source.lower() in NO_SOURCE:
        return None
    if source.lower() in SAMPLES:
        return SampleSource(width or 640, height or 480, SAMPLES[source.lower()])
    if source.isdigit():
        return CaptureSource(int(source), loop, width, height)
    if source.startswith('/dev/'):
        return CaptureSource(source, loop, width, height)
    path = os.path.expanduser(source)
    if os.path.isdir(path):
        return ImageFolderSource(path, loop)
    if os.path.isfile(path):
        return CaptureSource(path, loop)
    raise SourceError(
        f"camera source '{source}' is neither 'sample', 'sample2', 'none', a device, "
        'an existing image folder nor a video file')
