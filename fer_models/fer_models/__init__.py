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
fer_models: the ROS-free side of fer_ros, in two wings.

- fer_models.core: what the nodes run (landmarks, features, windows,
  tracking, smoothing, ONNX models, crops, fusion, labels, resources). It
  needs numpy, OpenCV, MediaPipe and onnxruntime, never torch or ROS.
- fer_models.research: datasets, training, studies, export, evaluation and
  report rendering. The only place that imports torch or matplotlib.
"""
