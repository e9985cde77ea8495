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
The architecture rules of the README ("Where the code lives"), read off the import graph.

Every ``import`` statement counts, also those inside functions: a rule that a
lazy import could dodge would hold by discipline only. The graph comes from
the sources (AST), so no third-party tool is needed.
"""

import ast
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_ROOTS = {'fer_models': 'fer_models', 'fer_ros': 'fer_ros'}
TRAINING_ONLY = ('torch', 'matplotlib')
RESEARCH = 'fer_models.research'
STUDIES = f'{RESEARCH}.studies'
# The router of ./fer train: the one module that names every study.
STUDY_ROUTER = f'{STUDIES}.__main__'
LONGEST_FUNCTION = 100


def module_name(path):
    """Return the dotted module name of a source file below a package root."""
    relative = os.path.relpath(path, REPO)
    package_dir, rest = relative.split(os.sep, 1)
    dotted = rest[:-len('.py')].replace(os.sep, '.')
    return dotted[:-len('.__init__')] if dotted.endswith('.__init__') else dotted


def project_modules():
    """Return {module name: path} of every module of the Python packages."""
    modules = {}
    for package_dir, package in SOURCE_ROOTS.items():
        for folder, _, files in os.walk(os.path.join(REPO, package_dir, package)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(folder, name)
                    modules[module_name(path)] = path
    return modules


def imports_of(path, module):
    """Return the absolute names a module imports (``from a.b import c`` gives a.b and a.b.c)."""
    tree = ast.parse(open(path).read(), path)
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                base = f'{parent}.{base}' if base else parent
            names.add(base)
            names.update(f'{base}.{alias.name}' for alias in node.names)
    return names


def project_graph(modules):
    """Return {module: set of project modules it imports}."""
    return {module: {name for name in imports_of(path, module) if name in modules}
            for module, path in modules.items()}


def find_cycles(graph):
    """Return the strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def is_node_module(module):
    return module.startswith('fer_ros.') and module.endswith('_node')


def is_study(module):
    """Return True for a study driver (a module of research/studies/ but its router)."""
    return module.startswith(STUDIES + '.') and module != STUDY_ROUTER


def is_research_library(module):
    return module.startswith(RESEARCH) and not module.startswith(STUDIES)


def long_functions(path, limit=LONGEST_FUNCTION):
    """Return 'name (N lines)' of the functions of a source file longer than ``limit`` lines."""
    tree = ast.parse(open(path).read(), path)
    return [f'{node.name} ({node.end_lineno - node.lineno + 1} lines)' for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def violations(rule, modules, forbidden):
    """Return 'module imports name' lines for modules matching rule importing a forbidden name."""
    found = []
    for module in sorted(m for m in modules if rule(m)):
        for name in sorted(imports_of(modules[module], module)):
            if any(name == f or name.startswith(f + '.') for f in forbidden):
                found.append(f'{module} imports {name}')
    return found


MODULES = project_modules()
pure = pytest.mark.pure


@pure
def test_the_wings_exist_and_hold_the_code():
    core = [m for m in MODULES if m.startswith('fer_models.core.')]
    research = [m for m in MODULES if m.startswith('fer_models.research.')]
    tools = [m for m in MODULES if m.startswith('fer_ros.tools.')]
    nodes = [m for m in MODULES if is_node_module(m)]
    assert {'fer_models.core.features', 'fer_models.core.onnx_model'} <= set(core)
    assert {'fer_models.research.render', 'fer_models.research.evaluate'} <= set(research)
    studies = [m for m in MODULES if is_study(m)]
    assert {f'{STUDIES}.generalisation', f'{STUDIES}.appearance'} <= set(studies), studies
    assert {'fer_ros.tools.bench', 'fer_ros.tools.bag_tools'} <= set(tools)
    assert len(nodes) == 5, nodes  # the pipeline's four and hri_bridge_node
    loose = [m for m in MODULES if m.startswith('fer_models.') and m.count('.') == 1
             and m not in ('fer_models.core', 'fer_models.research')]
    assert loose == [], f'fer_models modules outside core/ and research/: {loose}'


@pure
def test_the_runtime_core_imports_no_ros_torch_matplotlib_or_research():
    forbidden = ('rclpy', 'fer_ros', 'fer_msgs', 'fer_models.research') + TRAINING_ONLY
    assert violations(lambda m: m.startswith('fer_models.core'), MODULES, forbidden) == []


@pure
def test_only_the_research_wing_imports_torch_or_matplotlib():
    assert violations(lambda m: not m.startswith('fer_models.research'), MODULES,
                      TRAINING_ONLY) == []


@pure
def test_nodes_and_their_glue_import_neither_research_nor_tools():
    assert violations(lambda m: m.startswith('fer_ros.') and not m.startswith('fer_ros.tools'),
                      MODULES, ('fer_models.research', 'fer_ros.tools')) == []


@pure
def test_no_node_module_imports_another():
    nodes = tuple(m for m in MODULES if is_node_module(m))
    assert violations(is_node_module, MODULES, nodes) == []


@pure
def test_no_import_cycles_anywhere():
    assert find_cycles(project_graph(MODULES)) == []


@pure
def test_the_cycle_finder_finds_cycles():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}, 'e': {'e'}}
    assert sorted(find_cycles(graph)) == [['a', 'b', 'c'], ['e']]
    assert find_cycles({'a': {'b'}, 'b': set()}) == []


@pure
def test_studies_never_import_studies():
    """What two studies share belongs in the library, so a study stands on no other."""
    studies = tuple(m for m in MODULES if is_study(m))
    assert len(studies) >= 7, studies
    assert violations(is_study, MODULES, studies) == []


@pure
def test_the_research_library_never_imports_a_study():
    assert violations(is_research_library, MODULES, (STUDIES,)) == []


@pure
def test_nothing_outside_the_research_wing_imports_a_study():
    assert violations(lambda m: not m.startswith(RESEARCH), MODULES, (STUDIES,)) == []


@pure
def test_the_study_rules_see_a_study_importing_a_study(tmp_path):
    """The rules above can fail: an import of a study, also a lazy one, is found."""
    source = tmp_path / 'driver.py'
    source.write_text('def main():\n    from fer_models.research.studies import ean\n')
    modules = {f'{STUDIES}.driver': str(source), f'{RESEARCH}.helper': str(source)}
    assert violations(is_study, modules, (f'{STUDIES}.ean',)) == [
        f'{STUDIES}.driver imports {STUDIES}.ean']
    assert violations(is_research_library, modules, (STUDIES,)) == [
        f'{RESEARCH}.helper imports {STUDIES}', f'{RESEARCH}.helper imports {STUDIES}.ean']


@pure
def test_every_study_has_a_command():
    """./fer train routes to every study, so the index of studies is the router's."""
    import importlib

    router = importlib.import_module(STUDY_ROUTER)
    routed = {study for study, _ in router.COMMANDS.values()} | {'appearance'}
    assert routed == {m.rpartition('.')[2] for m in MODULES if is_study(m)}


@pure
def test_no_function_is_longer_than_a_screenful():
    """No function of fer_models or fer_ros runs over LONGEST_FUNCTION lines."""
    found = {module: long_functions(path) for module, path in MODULES.items()}
    assert {module: names for module, names in found.items() if names} == {}


@pure
def test_the_length_rule_sees_a_long_function(tmp_path):
    source = tmp_path / 'long.py'
    source.write_text('def long():\n' + '    pass\n' * LONGEST_FUNCTION)
    assert long_functions(str(source)) == [f'long ({LONGEST_FUNCTION + 1} lines)']
    assert long_functions(str(source), LONGEST_FUNCTION + 1) == []


BLOCK_AND_IMPORT = """
import importlib, sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError(f'{{name}} is blocked: node processes must not load it')
        return None

sys.meta_path.insert(0, Blocked())
for module in {modules!r}:
    importlib.import_module(module)
{then}
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {blocked!r})
assert not loaded, loaded
print('imported', len({modules!r}), 'modules')
"""


@pytest.mark.parametrize('wing', ['nodes and glue', 'runtime core'])
def test_wing_imports_with_torch_and_matplotlib_blocked(wing):
    if wing == 'runtime core':
        modules = sorted(m for m in MODULES if m.startswith('fer_models.core'))
    else:
        modules = sorted(m for m in MODULES
                         if m.startswith('fer_ros') and not m.startswith('fer_ros.tools'))
    code = BLOCK_AND_IMPORT.format(blocked=set(TRAINING_ONLY), modules=modules, then='')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'imported {len(modules)} modules' in result.stdout


@pytest.mark.parametrize('node', ['camera_node', 'feature_buffer_node',
                                  'emotion_classifier_node'])
def test_nodes_without_faces_to_find_never_load_mediapipe(node):
    """Only landmark_node's process may pay for MediaPipe, the heaviest import."""
    code = BLOCK_AND_IMPORT.format(blocked={'mediapipe', 'torch', 'matplotlib'},
                                   modules=[f'fer_ros.{node}'], then='')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_sample_camera_runs_without_scikit_image_scipy_or_models():
    """camera_node's built-in sample reads its portrait without the heavy libraries."""
    code = BLOCK_AND_IMPORT.format(
        blocked={'skimage', 'scipy', 'mediapipe', 'onnxruntime', 'torch', 'matplotlib'},
        modules=['fer_ros.camera_node'],
        then='from fer_ros.frame_sources import open_source\n'
             "assert open_source('sample2').read().shape == (480, 640, 3)")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
