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

"""Locate the files that ship with fer_models (trained models, model cards)."""

import os


def installed_share_path(package, *relative):
    """
    Return ``relative`` inside ``package``'s ament share folder, or None.

    None when the package is not installed, there is no ament environment at
    all (AMENT_PREFIX_PATH unset, ament_index_python missing) or the path is
    not there: callers then fall back to the source checkout.
    """
    try:
        from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    except ImportError:
        return None
    try:
        path = os.path.join(get_package_share_directory(package), *relative)
    except (PackageNotFoundError, OSError):
        return None
    return path if os.path.exists(path) else None


def models_dir():
    """
    Return the folder of the shipped models.

    Installed: ``share/fer_models/models`` of the ament index. From a source
    checkout: ``fer_models/models`` next to this package.
    """
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return installed_share_path('fer_models', 'models') or os.path.join(package_root, 'models')


def shipped_model(name):
    """Return the path of a shipped model file by name."""
    return os.path.join(models_dir(), name)


def model_file(path):
    """Return ``path``, or the shipped model of that name when it is a bare file name."""
    return shipped_model(path) if os.sep not in path else path
