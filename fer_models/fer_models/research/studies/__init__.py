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
The studies: one thin driver per question, each with its command and its report.

A study states a question, its configuration and what it reports; it calls
the research library (``fer_models.research``) and the runtime core, and
renders through ``fer_models.research.render``. Studies never import each
other (``test/test_architecture.py``): what two studies share belongs in the
library. ``./fer train STUDY ...`` runs ``python -m fer_models.research.studies``
(``__main__``), which routes to the study's ``main``.

Current studies (cross-dataset protocol of ``research.protocol``):

* ``generalisation``: landmark recipes, calibration and fusion under
  leave-one-dataset-out; ships ``landmark_default.onnx`` and the fusion
  defaults. ``./fer train generalisation run|ship|fusion|report`` ->
  ``reports/generalisation.md``, ``models/landmark_default.md``.
* ``appearance``: the aligned-crop student, union and LODO runs; ships
  ``ean_union.onnx``. ``./fer train ean union ...``, ``./fer train ean
  union-report [--variant kdwheel]`` -> ``reports/appearance_union.md``,
  ``reports/appearance_union_kdwheel.md``, ``models/ean_union.md``.
* ``head_pose``: accuracy against head angle, the classifier's gate.
  ``./fer train head-pose`` -> ``reports/head_pose.md``.
* ``affect``: valence and arousal per true class on labelled stills, through
  the shipped pipeline. ``./fer train affect --images DIR --labels CSV --out
  fer_models/reports/valence_arousal`` -> ``reports/valence_arousal.md``.
* ``faceapi``: face-api.js's expression model converted to PyTorch, checked
  against the original in Node, and its accuracy as a teacher.
  ``./fer train faceapi report`` -> ``reports/faceapi_teacher.md``.
* ``student``: a stronger appearance student: single students, flip
  averaging and ensembles of finished runs under the strict LODO mean and the
  1.5 ms budget; the cost of 48, 64 and 96 px inputs. ``./fer train student
  select|size|render|export`` -> ``reports/appearance_student.md``.
* ``track``: the robot's view, held-out persons replayed as face tracks
  through the live nodes (``fer_ros.tools.track_protocol``); the second
  selection criterion. ``./fer train track render`` ->
  ``reports/track_protocol.md``.
* ``neutral``: per-person neutral baseline on TFEID; ships
  ``landmark_neutral.onnx``. ``./fer train neutral [run|ship|render]`` ->
  ``reports/neutral_baseline.md``, ``models/landmark_neutral.md``.

Superseded in-dataset studies (numbers measured inside one dataset, kept
for the record; see ``reports/generalisation.md`` on their optimism):

* ``landmark``: detectors x feature types x temporal classifiers on TFEID
  and CK+48. ``./fer train landmark-study run|render`` ->
  ``reports/landmark_study.md``; ``./fer train landmark`` trains its recipe.
* ``ean``: the EAN on FER2013 (teacher, ablations, distillation); shipped
  the first ``ean.onnx``. ``./fer train ean fit|distill|all|report|time`` ->
  ``reports/ean_study.md``, ``models/ean.md``.
* ``fusion``: late fusion against each path on TFEID stills.
  ``./fer train fusion`` -> ``reports/fusion_study.md``.
"""
