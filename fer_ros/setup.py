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

package_name = 'fer_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='fer_ros developers',
    maintainer_email='dev@example.com',
    description='On-board facial expression recognition nodes publishing /emotion.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'camera_node = fer_ros.camera_node:main',
            'landmark_node = fer_ros.landmark_node:main',
            'feature_buffer_node = fer_ros.feature_buffer_node:main',
            'emotion_classifier_node = fer_ros.emotion_classifier_node:main',
            'hri_bridge_node = fer_ros.hri_bridge_node:main',
            'fer_pipeline = fer_ros.pipeline:main',
            'fer_launch = fer_ros.tools.launcher:main',
            'emotion_monitor = fer_ros.emotion_monitor:main',
        ],
    },
)
