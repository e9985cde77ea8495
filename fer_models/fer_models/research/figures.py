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

"""PNG figures of the reports: the one place that loads matplotlib."""

from contextlib import contextmanager


@contextmanager
def png_figure(path, size):
    """
    Yield (figure, axis, pyplot) of a new figure; save it to path as PNG on exit.

    matplotlib is imported here, on first use, and with the file-only Agg
    backend, so that no report tool needs a display or pays for matplotlib
    unless it draws.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=size)
    try:
        yield figure, axis, plt
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
