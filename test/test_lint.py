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
ament lint checks over the whole workspace: flake8, pep257, copyright, package.xml.

ament_copyright and ament_xmllint have no PyPI wheels; the copyright check is
done here on the same rule (an Apache-2.0 header in every source file) and
package.xml files are validated with catkin_pkg, the parser colcon itself uses
(format 3 schema rules), plus an XML well-formedness parse.
"""

import os
import subprocess
from xml.dom import minidom

from catkin_pkg.package import parse_package
import pytest
from ros_helpers import REPO

PYTHON_DIRS = ['fer_ros', 'fer_models', 'launch', 'test']
PACKAGES = ['fer_msgs', 'fer_ros', 'fer_models']
HEADER = open(os.path.join(REPO, '.license_header.txt')).read().splitlines()


def tracked_files(*patterns):
    """Return the repository's files (tracked or new, not ignored) matching globs."""
    listing = subprocess.run(
        ['git', 'ls-files', '-co', '--exclude-standard', '--', *patterns],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return [os.path.join(REPO, f) for f in listing if os.path.isfile(os.path.join(REPO, f))]


@pytest.mark.linter
def test_flake8(tmp_path):
    import ament_flake8
    from ament_flake8.main import main_with_errors
    # ament's configuration, checked in one process: flake8 forks a worker
    # pool otherwise, and a fork of this process (which runs DDS and
    # onnxruntime threads for other tests) can deadlock on a lock a thread held.
    with open(os.path.join(os.path.dirname(ament_flake8.__file__), 'configuration',
                           'ament_flake8.ini')) as ament_config:
        config = ament_config.read().rstrip('\n') + '\njobs = 1\n'
    (tmp_path / 'flake8.ini').write_text(config)
    rc, errors = main_with_errors(argv=['--config', str(tmp_path / 'flake8.ini')]
                                  + [os.path.join(REPO, d) for d in PYTHON_DIRS])
    assert rc == 0, f'{len(errors)} flake8 error(s):\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    from ament_pep257.main import main
    rc = main(argv=[os.path.join(REPO, d) for d in PYTHON_DIRS])
    assert rc == 0, 'pep257 errors: see the output above'


@pytest.mark.linter
def test_copyright_headers():
    sources = tracked_files('*.py', 'fer', '.ci/run', '*CMakeLists.txt')
    assert sources, 'no source files found'
    missing = []
    for path in sources:
        if path.endswith('CMakeLists.txt') or path.endswith('.ci/run'):
            continue  # CMake and the CI shim carry no code worth a header
        lines = [line.lstrip('#').strip() for line in open(path).read().splitlines()[:20]]
        wanted = [line.lstrip('#').strip() for line in HEADER[:3]]
        if not any(lines[i:i + 3] == wanted for i in range(len(lines))):
            missing.append(os.path.relpath(path, REPO))
    assert not missing, 'no Apache-2.0 copyright header in: ' + ', '.join(missing)


@pytest.mark.linter
@pytest.mark.parametrize('package', PACKAGES)
def test_package_xml(package):
    path = os.path.join(REPO, package, 'package.xml')
    minidom.parse(path)  # well-formed XML
    parsed = parse_package(path)  # format 3 rules, as colcon reads it
    parsed.validate()
    assert parsed.name == package
    assert parsed.licenses == ['Apache-2.0']
