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
face-api.js's expression model, converted to PyTorch, as a distillation teacher (research only).

The npm package ``@vladmandic/face-api`` (MIT) ships face-api.js's
FaceExpressionNet as a tfjs weights manifest plus one ``.bin`` shard (about
310 KB, weights stored as uint8 with a per-tensor scale and minimum). This
module reads that manifest, de-quantises the weights as tfjs does
(``q * scale + min``) and runs them in a PyTorch re-implementation of the
package's own graph (``src/faceFeatureExtractor``, ``src/faceExpressionNet``):
four dense blocks of depthwise-separable 3x3 convolutions (the first block
starts with a plain convolution), each block halving the size
(112 -> 56 -> 28 -> 14 -> 7), a 7x7 average pool, a 256 -> 7 fully connected
layer and a softmax. Input: a 112x112 RGB face, minus the mean RGB
(122.782, 117.001, 104.298), divided by 255. TensorFlow's ``same`` padding
of a stride-2 convolution pads only the bottom and right edges; so does
this graph.

Node is never needed at robot run time, nor to use the teacher: only to
check the conversion (``./fer run python -m fer_models.research.faceapi_teacher
check``). The weights come from the npm package, which ``./fer
research-setup`` installs with the pinned packages of ``node/package-lock.json``
(npm ci) into ``~/.cache/fer_ros``.

Provenance for model cards: PROVENANCE. The teacher's training data is not
published (its author says public datasets plus web images): CK+ and
FER2013 may be among them, so no student it taught has a clean score on a
dataset it may have seen; ``check_target`` refuses nothing because nothing
is known, and every report must say so.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from fer_models.research import protocol
import numpy as np

NAME = 'faceapi'
NPM_PACKAGE = '@vladmandic/face-api'
NPM_VERSION = '1.7.15'
MANIFEST = os.path.join('model', 'face_expression_model-weights_manifest.json')
# face-api's output order (src/faceExpressionNet/FaceExpressions.ts), in the
# project's canonical names.
FACEAPI_LABELS = ('neutral', 'happy', 'sad', 'angry', 'fear', 'disgust', 'surprise')
INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
MIN_PROBABILITY = 1e-6
# Run-name prefix (study variant) of the students it teaches.
VARIANT = 'kdfaceapi'
PROVENANCE = (
    'Teacher: face-api.js FaceExpressionNet (Vincent Mühler, face-api.js, MIT licence), as '
    f'shipped in the npm package {NPM_PACKAGE} {NPM_VERSION} (Vladimir Mandic, MIT licence): '
    '`model/face_expression_model.bin` and its weights manifest (about 310 KB, uint8-quantised). '
    'Converted to PyTorch by fer_models.research.faceapi_teacher from the manifest, and checked '
    'against the original running in Node (tfjs 4.22.0, WebAssembly backend). Its training data '
    'is not published (its author: public datasets plus images from the web); FER2013 and CK+ '
    'may be among them, so scores on those datasets of a model it taught are not clean.')
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'node')
NODE_SCRIPT = 'faceapi_expressions.js'
NPM_FILES = ('package.json', 'package-lock.json')


def node_modules_home():
    """Return the cache folder that holds the pinned npm packages (keyed by the lock file)."""
    digest = hashlib.sha256()
    for name in NPM_FILES:
        with open(os.path.join(NODE_DIR, name), 'rb') as handle:
            digest.update(handle.read())
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', f'node-{digest.hexdigest()[:12]}')


def install(log=print):
    """Install the locked npm packages (npm ci) into node_modules_home(); return that folder."""
    home = node_modules_home()
    if os.path.isfile(os.path.join(home, '.fer_installed')):
        return home
    npm = shutil.which('npm')
    if npm is None:
        raise RuntimeError('npm is not installed (Debian: apt-get install nodejs npm); it is '
                           'needed only to check the face-api conversion')
    os.makedirs(home, exist_ok=True)
    for name in NPM_FILES + (NODE_SCRIPT,):
        shutil.copy(os.path.join(NODE_DIR, name), home)
    log(f'installing {NPM_PACKAGE} {NPM_VERSION} and tfjs into {home} (npm ci)')
    subprocess.run([npm, 'ci', '--ignore-scripts', '--no-audit', '--no-fund'], cwd=home,
                   check=True, stdout=subprocess.DEVNULL)
    open(os.path.join(home, '.fer_installed'), 'w').close()
    return home


def package_dir():
    """Return the installed face-api package folder, or raise with how to install it."""
    folder = os.path.join(node_modules_home(), 'node_modules', *NPM_PACKAGE.split('/'))
    if not os.path.isfile(os.path.join(folder, MANIFEST)):
        raise FileNotFoundError(f'{NPM_PACKAGE} is not installed in {node_modules_home()}: run '
                                './fer research-setup')
    return folder


def read_weights(folder=None):
    """Return {tfjs weight name: float32 array in tfjs layout} from the package's manifest."""
    folder = folder or package_dir()
    with open(os.path.join(folder, MANIFEST)) as handle:
        groups = json.load(handle)
    weights = {}
    for group in groups:
        data = b''.join(open(os.path.join(folder, 'model', p), 'rb').read()
                        for p in group['paths'])
        offset = 0
        for entry in group['weights']:
            count = int(np.prod(entry['shape'], dtype=np.int64))
            quantization = entry.get('quantization')
            if entry['dtype'] != 'float32':
                raise ValueError(f"{entry['name']}: dtype {entry['dtype']} is not float32")
            if quantization is None:
                values = np.frombuffer(data, '<f4', count, offset)
                offset += 4 * count
            elif quantization['dtype'] == 'uint8':
                values = (np.frombuffer(data, np.uint8, count, offset).astype(np.float32)
                          * np.float32(quantization['scale']) + np.float32(quantization['min']))
                offset += count
            else:
                raise ValueError(f"{entry['name']}: quantisation {quantization['dtype']} is not "
                                 'handled (the package ships uint8)')
            weights[entry['name']] = values.reshape(entry['shape']).astype(np.float32)
        if offset != len(data):
            raise ValueError(f"{group['paths']}: {len(data) - offset} bytes left after the "
                             "manifest's weights")
    return weights


def build_model(weights=None):
    """Return face-api's FaceExpressionNet as a torch module (eval mode) with its weights."""
    import torch
    from torch import nn
    import torch.nn.functional as functional

    weights = read_weights() if weights is None else weights

    def tensor(name, *permutation):
        value = torch.from_numpy(weights[name].copy())
        return nn.Parameter(value.permute(*permutation).contiguous() if permutation else value,
                            requires_grad=False)

    class SeparableConv(nn.Module):
        """tf.separableConv2d (depthwise 3x3, pointwise 1x1) plus bias, 'same' padding."""

        def __init__(self, prefix, stride):
            super().__init__()
            self.stride = stride
            self.depthwise = tensor(f'{prefix}/depthwise_filter', 2, 3, 0, 1)  # (C, 1, 3, 3)
            self.pointwise = tensor(f'{prefix}/pointwise_filter', 3, 2, 0, 1)  # (O, C, 1, 1)
            self.bias = tensor(f'{prefix}/bias')

        def forward(self, x):
            x = functional.conv2d(same_pad(x, self.stride), self.depthwise, stride=self.stride,
                                  groups=x.shape[1])
            return functional.conv2d(x, self.pointwise, self.bias)

    class FirstConv(nn.Module):
        """tf.conv2d 3x3 stride 2 plus bias, 'same' padding."""

        def __init__(self, prefix):
            super().__init__()
            self.filters = tensor(f'{prefix}/filters', 3, 2, 0, 1)
            self.bias = tensor(f'{prefix}/bias')

        def forward(self, x):
            return functional.conv2d(same_pad(x, 2), self.filters, self.bias, stride=2)

    class DenseBlock4(nn.Module):
        """face-api's denseBlock4: each conv sees the sum of all earlier outputs."""

        def __init__(self, prefix, first):
            super().__init__()
            self.convs = nn.ModuleList(
                [FirstConv(f'{prefix}/conv0') if first else SeparableConv(f'{prefix}/conv0', 2)]
                + [SeparableConv(f'{prefix}/conv{i}', 1) for i in (1, 2, 3)])

        def forward(self, x):
            total = torch.relu(self.convs[0](x))
            for conv in self.convs[1:]:
                total = total + conv(torch.relu(total))
            return torch.relu(total)

    class FaceExpressionNet(nn.Module):
        """Mean-subtracted RGB / 255 -> 4 dense blocks -> 7x7 average -> fc -> logits."""

        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*(DenseBlock4(f'dense{i}', i == 0) for i in range(4)))
            self.fc_weights = tensor('fc/weights')  # (256, 7)
            self.fc_bias = tensor('fc/bias')
            self.register_buffer('mean', torch.tensor(MEAN_RGB).view(1, 3, 1, 1))

        def forward(self, rgb):
            """Return logits in face-api's order of (N, 3, 112, 112) float RGB in [0, 255]."""
            x = self.blocks((rgb - self.mean) / 255.0)
            x = functional.avg_pool2d(x, 7, 2)
            return x.flatten(1) @ self.fc_weights + self.fc_bias

    return FaceExpressionNet().eval()


def same_pad(x, stride, kernel=3):
    """Pad a square NCHW tensor like TensorFlow's 'same': the odd pixel goes bottom/right."""
    import torch.nn.functional as functional

    size = x.shape[-1]
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    before, after = total // 2, total - total // 2
    return functional.pad(x, (before, after, before, after))


def to_rgb_batch(images):
    """Return (N, 112, 112, 3) uint8 RGB of RGB or grey images of any one size."""
    import cv2

    images = np.asarray(images)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=3)
    if images.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        images = np.stack([cv2.resize(image, (INPUT_SIZE, INPUT_SIZE),
                                      interpolation=cv2.INTER_LINEAR) for image in images])
    return np.ascontiguousarray(images, dtype=np.uint8)


def probabilities(images, model=None, batch=256):
    """Return (N, 7) float32 probabilities in face-api's order of RGB (or grey) faces."""
    import torch

    model = model or build_model()
    rgb = to_rgb_batch(images)
    out = []
    with torch.no_grad():
        for start in range(0, len(rgb), batch):
            x = torch.from_numpy(rgb[start:start + batch]).permute(0, 3, 1, 2).float()
            out.append(torch.softmax(model(x), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(FACEAPI_LABELS)), np.float32)


def check_target(target):
    """Raise ValueError for a FER2013-held-out run: the teacher's data may hold FER2013."""
    if target == 'fer2013':
        raise ValueError(f'the {NAME} teacher was trained on undisclosed data that may hold '
                         'FER2013: it cannot teach a run that holds FER2013 out (the plain '
                         'student stands in for it)')


def teacher_logits(images, threads=1, log=print):
    """
    Return (N, 7) float32 log-probabilities in protocol.LABELS order of (N, S, S[, 3]) crops.

    Grey crops (the aligned cache) are copied to the three channels; each crop
    is resized to 112x112. Mirrors wheel_teacher.teacher_logits.
    """
    import torch

    torch.set_num_threads(threads)
    started = time.monotonic()
    order = [FACEAPI_LABELS.index(label) for label in protocol.LABELS]
    result = probabilities(images)[:, order]
    log(f'{NAME} teacher soft labels for {len(images)} crops: '
        f'{time.monotonic() - started:.0f} s')
    return np.log(np.clip(result, MIN_PROBABILITY, 1.0))


def logits_dir():
    """Return the folder of cached teacher logits (outside the repository)."""
    base = os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache'))
    return os.path.join(base, 'fer_ros', 'ean', 'teacher_logits')


def union_logits(rows=None, threads=1, log=print):
    """
    Return the teacher's (N, 7) log-probabilities of aligned.load_union()'s rows, cached.

    The appearance path trains on 48 px grey aligned crops; the teacher reads
    the same faces' aligned crops at its own 112 px (research.aligned's cache
    at that size), which it reads better (faceapi_teacher.md). ``rows``, when
    given, must equal the union's row count: the caller's table is that union.
    """
    from fer_models.research.aligned import load_union

    table = load_union(INPUT_SIZE)
    if rows is not None and rows != len(table.images):
        raise ValueError(f'the {NAME} teacher has logits for the {len(table.images)} rows of '
                         f'aligned.load_union(), not for {rows} crops')
    digest = hashlib.sha256(table.images.tobytes())
    with open(os.path.join(package_dir(), 'model', 'face_expression_model.bin'), 'rb') as handle:
        digest.update(handle.read())
    path = os.path.join(logits_dir(), f'{NAME}-union-{digest.hexdigest()[:16]}.npy')
    if os.path.isfile(path):
        return np.load(path)
    logits = teacher_logits(table.images, threads, log)
    os.makedirs(logits_dir(), exist_ok=True)
    np.save(path + '.partial.npy', logits)
    os.replace(path + '.partial.npy', path)
    return logits


def node_probabilities(rgb, log=print):
    """Return (N, 7) probabilities of the original model run by Node on (N, 112, 112, 3) uint8."""
    node = shutil.which('node')
    if node is None:
        raise RuntimeError('node is not installed (Debian: apt-get install nodejs)')
    package_dir()
    home = node_modules_home()
    rgb = to_rgb_batch(rgb)
    with tempfile.TemporaryDirectory() as scratch:
        faces, out = os.path.join(scratch, 'faces.u8'), os.path.join(scratch, 'out.f32')
        rgb.tofile(faces)
        shutil.copy(os.path.join(NODE_DIR, NODE_SCRIPT), home)
        result = subprocess.run([node, os.path.join(home, NODE_SCRIPT), faces, str(len(rgb)),
                                 out], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f'face-api in Node failed: {result.stderr.strip()[-2000:]}')
        log(result.stdout.strip())
        return np.fromfile(out, np.float32).reshape(len(rgb), len(FACEAPI_LABELS))


def dataset_faces(name, crop='box', root=None):
    """
    Return (N, 112, 112, 3) uint8 RGB faces of TFEID or CK+48 and their LandmarkSet.

    ``box``: the pipeline's Face Mesh box, squared and grown 1.2x
    (core.crops.square_region, as the box crop frames it), in colour; ``aligned``: the aligned_v1
    similarity of landmark_node's aligned crops, in colour, at 112 px. Rows
    follow the landmark cache (research.extract); faces the detector missed
    get the whole image.
    """
    import cv2
    from fer_models.core.crops import aligned_transform, eye_centres, square_region
    from fer_models.core.landmarks import bbox_of
    from fer_models.research.datasets import load_dataset
    from fer_models.research.evaluate import load_rgb
    from fer_models.research.extract import extract

    landmarks = extract(name, root=root, progress=False)
    faces = np.zeros((len(landmarks.found), INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    for index, record in enumerate(load_dataset(name, root)):
        rgb = load_rgb(record.path)
        height, width = rgb.shape[:2]
        if not landmarks.found[index]:
            faces[index] = cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        elif crop == 'aligned':
            left, right = eye_centres(landmarks.points[index], width, height)
            faces[index] = cv2.warpAffine(rgb, aligned_transform(left, right, INPUT_SIZE),
                                          (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE)
        else:
            patch = square_region(rgb, bbox_of(landmarks.points[index], width, height))
            faces[index] = cv2.resize(patch, (INPUT_SIZE, INPUT_SIZE),
                                      interpolation=cv2.INTER_AREA)
    return faces, landmarks


def compare(rgb, log=print):
    """Return the conversion check of the PyTorch model against Node on the same faces."""
    converted = probabilities(rgb)
    original = node_probabilities(rgb, log)
    difference = np.abs(converted - original)
    return {
        'faces': len(rgb),
        'max_abs_probability_difference': float(difference.max()),
        'mean_abs_probability_difference': float(difference.mean()),
        'argmax_agreement': float(np.mean(converted.argmax(1) == original.argmax(1))),
        'argmax_disagreements': int(np.sum(converted.argmax(1) != original.argmax(1))),
    }


def check_faces(per_dataset, root=None):
    """Return (RGB faces, description): the first ``per_dataset`` box faces of TFEID and CK+48."""
    faces, sources = [], []
    for name in ('taiwanese', 'ckplus48'):
        rgb, _ = dataset_faces(name, 'box', root)
        faces.append(rgb[:per_dataset])
        sources.append(f'{name}: first {len(faces[-1])} images, Face Mesh box crops')
    return np.concatenate(faces), sources


def grey_versions(rgb):
    """Return {variant: faces}: colour, grey, and grey at the 48 px crop cache's size."""
    import cv2
    from fer_models.core.crops import CROP_SIZE

    grey = np.stack([cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) for face in rgb])
    small = np.stack([cv2.resize(face, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
                      for face in grey])
    return {'': rgb, ' grey': grey, f' grey {CROP_SIZE} px': small}


def scores(found, truth):
    """Return argmax accuracy over all 7 outputs and over the classes ``truth`` holds."""
    names = np.array(FACEAPI_LABELS)
    present = [i for i, label in enumerate(FACEAPI_LABELS) if label in set(truth)]
    restricted = names[np.array(present)[found[:, present].argmax(1)]]
    return {'n': len(truth),
            'accuracy': round(float(np.mean(names[found.argmax(1)] == truth)), 4),
            # Over the dataset's own classes only (CK+48 has no neutral).
            'accuracy_own_classes': round(float(np.mean(restricted == truth)), 4)}


def teacher_scores(root=None):
    """Return the teacher's argmax accuracy: TFEID and CK+48 crop by crop, FER2013 test."""
    from fer_models.core.labels import canonical_label
    from fer_models.research.fer2013 import fer2013_path

    model = build_model()
    with np.load(fer2013_path(root)) as data:
        classes = np.array([canonical_label(str(c)) for c in data['classes']])
        result = {'fer2013 test, whole 48 px image grey': scores(
            probabilities(data['test_x'], model), classes[data['test_y']])}
    for name in ('taiwanese', 'ckplus48'):
        for crop in ('box', 'aligned'):
            rgb, landmarks = dataset_faces(name, crop, root)
            keep = np.isin(landmarks.labels, FACEAPI_LABELS)
            truth = landmarks.labels[keep].astype(str)
            for variant, faces in grey_versions(rgb[keep]).items():
                result[f'{name} {crop}{variant}'] = scores(probabilities(faces, model), truth)
    return result


def union_scores():
    """
    Return {teacher: {rows: scores}} on the distillation union's rows, with the fer wheel.

    As distillation feeds them: this teacher the union's aligned crops at
    112 px (union_logits), the ``fer`` wheel its 48 px crops; ``mean of both``
    averages their probabilities. Rows: each dataset, FER2013 train and test
    apart (a teacher that had learnt FER2013 train would score higher there
    than on test; the wheel's training split held FER2013 test images).
    """
    from fer_models.research import wheel_teacher
    from fer_models.research.aligned import load_union

    table = load_union()
    order = [protocol.LABELS.index(label) for label in FACEAPI_LABELS]
    ours = np.exp(union_logits(len(table.images)))[:, order]
    wheel = np.exp(wheel_teacher.teacher_logits(table.images, log=lambda *_: None))[:, order]
    teachers = {NAME: ours, wheel_teacher.NAME: wheel, 'mean of both': (ours + wheel) / 2}
    groups = {f"{dataset}{f' {part}' if part else ''}": (table.datasets == dataset)
              & (table.parts == part)
              for dataset, part in sorted(set(zip(table.datasets, table.parts)))}
    return {teacher: {group: scores(found[rows], table.labels[rows].astype(str))
                      for group, rows in groups.items()}
            for teacher, found in teachers.items()}


def main(argv=None):
    """``install`` npm packages, ``check`` the conversion, ``measure`` the teacher."""
    parser = argparse.ArgumentParser(prog='python -m fer_models.research.faceapi_teacher',
                                     description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('install', help='npm ci the pinned packages into ~/.cache/fer_ros')
    check = commands.add_parser('check', help='PyTorch conversion against Node on real faces')
    check.add_argument('--faces', type=int, default=100, help='faces per dataset')
    measure = commands.add_parser('measure', help='teacher accuracy on TFEID and CK+48')
    for command in (check, measure):
        command.add_argument('--json', default=None, help='write the result here')
    options = parser.parse_args(argv)
    try:
        if options.command == 'install':
            print(install())
            return 0
        if options.command == 'check':
            rgb, sources = check_faces(options.faces)
            result = {**compare(rgb), 'sources': sources,
                      'package': f'{NPM_PACKAGE} {NPM_VERSION}'}
        else:
            result = teacher_scores()
    except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as error:
        print(f'faceapi_teacher: {error}', file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    if options.json:
        with open(options.json, 'w') as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
