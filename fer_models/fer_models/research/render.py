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
The one renderer of the research wing: Markdown reports and model cards, from data.

A study hands over *what* it reports (numbers from its JSON, sentences that
depend on them); this module knows *how* Markdown is written: percentages,
tables, code blocks, sections, the reliability table of a calibration, the
confusion-matrix figures, the generated part of a hand-written report, the
model-card texts every card shares (what a model reads, data licences), and
writing a study's JSON and Markdown. Nothing here imports torch, matplotlib
(figures load it on first use) or a study.
"""

import argparse
import json
import os

from fer_models.research.metrics import save_confusion_png

# The third-party datasets every model here learnt from or was scored on.
DATASET_REFERENCES = {
    'fer2013': 'Goodfellow, I. et al. (2013). Challenges in representation learning (FER2013). '
               'ICONIP.',
    'ckplus': 'Lucey, P. et al. (2010). The Extended Cohn-Kanade dataset (CK+). CVPR workshops.',
    'tfeid': 'Chen, L.-F., Yen, Y.-S. (2007). Taiwanese Facial Expression Image Database. '
             'National Yang-Ming University.',
}


def percent(value, missing='n/a'):
    """Return a fraction as a percentage with one decimal ('12.3 %'), ``missing`` for None."""
    return missing if value is None else f'{100 * value:.1f} %'


def points(delta):
    """Return a difference of fractions in signed percentage points, e.g. +1.2 points."""
    return f'{100 * delta:+.1f} points'


def row(cells):
    """Return the cells as one Markdown table line (an empty cell is written '| |')."""
    return '|' + ''.join(f' {cell} |' if cell != '' else ' |' for cell in cells)


def table(header, align, rows=()):
    """
    Return the lines of a Markdown table.

    ``align``: one letter per column, ``l`` (---) or ``r`` (---:); a
    string of one letter applies to every column.
    """
    align = align * len(header) if len(align) == 1 else align
    rule = '| ' + ' | '.join('---:' if a == 'r' else '---' for a in align) + ' |'
    return [row(header), rule] + [row(cells) for cells in rows]


def code_block(lines, language=''):
    """Return the lines of a fenced code block."""
    return [f'```{language}', *lines, '```']


def section(title, lines, level=2):
    """Return a heading, a blank line and the section's lines."""
    return [f"{'#' * level} {title}", '', *lines]


def bullets(items):
    """Return Markdown list items."""
    return [f'- {item}' for item in items]


def reliability_table(bins):
    """Return the reliability table of (low, high, count, confidence, accuracy) bins."""
    return table(['confidence bin', 'answers', 'mean confidence', 'observed accuracy'], 'lrrr',
                 [(f'{low:.1f}–{high:.1f}', count, f'{confidence:.2f}', f'{accuracy:.2f}')
                  for low, high, count, confidence, accuracy in bins if count])


def confusion_figure(report, path, title=''):
    """Write the confusion matrix of a classification_report as a PNG; return its path."""
    save_confusion_png(report, path, title)
    return path


def write_text(path, text):
    """Write a report or a model card."""
    with open(path, 'w') as handle:
        handle.write(text)
    return path


def read_json(path):
    """Return the content of a study's JSON."""
    with open(path) as handle:
        return json.load(handle)


def write_json(path, data):
    """Write a study's JSON (one space of indent, as every committed study is)."""
    with open(path, 'w') as handle:
        json.dump(data, handle, indent=1)
    return path


def write_generated_part(path, text, begin, end, default_head):
    """
    Write ``text`` between the ``begin`` and ``end`` markers of a hand-written report.

    What stands outside the markers is kept; a new report starts with
    ``default_head``.
    """
    existing = ''
    if os.path.isfile(path):
        with open(path) as handle:
            existing = handle.read()
    if begin in existing and end in existing:
        head, _, rest = existing.partition(begin)
        _, _, tail = rest.partition(end)
    else:
        head, tail = default_head, '\n'
    return write_text(path, f'{head}{begin}\n{text}\n{end}{tail}')


def study_main(argv, description, run, markdown, json_path, markdown_path):
    """
    Command line of a study: run it, write its JSON and Markdown, print the Markdown.

    ``run()`` returns the result dict; ``markdown(result)`` its report text.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--json', default=json_path)
    parser.add_argument('--markdown', default=markdown_path)
    options = parser.parse_args(argv)
    result = run()
    text = markdown(result)
    write_json(options.json, result)
    write_text(options.markdown, text)
    print(text)
    return 0
