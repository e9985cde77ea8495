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
``./fer train STUDY ...``: route a command line to its study's ``main``.

The one module allowed to import every study: it only names them.
"""

import importlib
import sys

# Command -> study module (in fer_models.research.studies) and what it does.
COMMANDS = {
    'landmark': ('landmark', 'the in-dataset landmark recipe (./fer train landmark --help)'),
    'landmark-study': ('landmark', 'the landmark study grid and its report'),
    'ean': ('ean', 'appearance path: EAN on FER2013, union and LODO runs (--help)'),
    'generalisation': ('generalisation', 'cross-dataset study and the shipped landmark model'),
    'fusion': ('fusion', 'late fusion on TFEID stills (superseded by generalisation fusion)'),
    'neutral': ('neutral', 'per-person neutral baseline, both paths (run, ship, render, '
                           'both-paths, ship-resting)'),
    'head-pose': ('head_pose', 'accuracy against head angle: the classifier gate'),
    'affect': ('affect', 'valence and arousal per true class on labelled stills'),
    'faceapi': ('faceapi', "face-api.js's model as a teacher: conversion check, accuracy"),
    'student': ('student', 'appearance student: ensembles, flip averaging, input size'),
    'track': ('track', "the robot's view: held-out persons as face tracks (render)"),
}
# ``./fer train ean union ...`` and ``union-report`` are the appearance study's.
APPEARANCE_COMMANDS = ('union', 'union-report')


def route(argv):
    """Return (study module name, its argv) of a ``./fer train`` command line."""
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        raise SystemExit(f"unknown study '{command}'; known: {', '.join(COMMANDS)}")
    study = COMMANDS[command][0]
    if command == 'landmark':
        return study, ['train', *rest]
    if command == 'ean' and any(a in APPEARANCE_COMMANDS for a in rest):
        return 'appearance', rest
    return study, rest


def main(argv=None):
    """Run the study a command names."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print('usage: ./fer train STUDY [options]\n\nstudies:')
        for command, (_, text) in COMMANDS.items():
            print(f'  {command:16s} {text}')
        return 0 if argv else 2
    study, rest = route(argv)
    module = importlib.import_module(f'fer_models.research.studies.{study}')
    return module.main(rest)


if __name__ == '__main__':
    sys.exit(main())
