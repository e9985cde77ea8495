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

"""Declare node parameters from one table: descriptors, ranges, choices."""

from dataclasses import dataclass

from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.parameter import Parameter


# Parameters read by more than one node, so that one setting configures the
# pipeline: a YAML's '/**' section (or one launch argument) sets them for
# every node, and a node without them must not warn that they are unknown.
PIPELINE_PARAMETERS = ('neutral_baseline',)


class ParameterError(ValueError):
    """Raised at start-up for a parameter value that the node cannot use."""


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: default, description and the values it accepts."""

    name: str
    default: object
    description: str
    min_value: float = None
    max_value: float = None
    choices: tuple = None
    read_only: bool = False
    # Callable raising ValueError with a clear message for an unusable value.
    validator: object = None

    def descriptor(self):
        """Return the ParameterDescriptor advertised for this parameter."""
        constraints = []
        if self.choices:
            constraints.append(f"one of: {', '.join(map(str, self.choices))}")
        descriptor = ParameterDescriptor(
            description=self.description,
            additional_constraints='; '.join(constraints),
            read_only=self.read_only)
        if self.min_value is not None:
            if isinstance(self.default, bool):
                raise TypeError(f'{self.name}: a bool parameter has no range')
            if isinstance(self.default, int):
                descriptor.integer_range = [
                    IntegerRange(from_value=int(self.min_value), to_value=int(self.max_value),
                                 step=1)]
            else:
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(self.min_value),
                                       to_value=float(self.max_value),
                                       step=0.0)]
        return descriptor

    def check(self, value):
        """Return None if ``value`` is acceptable, else the reason why not."""
        if self.choices and value not in self.choices:
            return (f"parameter '{self.name}': '{value}' is not one of "
                    f"{', '.join(map(str, self.choices))}")
        if self.validator is not None:
            try:
                self.validator(value)
            except ValueError as error:
                return f"parameter '{self.name}': {error}"
        return None


def type_name(value):
    """Return the ROS parameter type of a Python value with its article ('a double')."""
    name = Parameter.Type.from_parameter_value(value).name.lower().replace('_', ' ')
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def type_problem(node_name, spec, given):
    """
    Return the one-line reason a value of the wrong type is refused.

    ``given``: the rclpy Parameter that was given (from a YAML file or the
    command line), or None when it is not known.
    """
    expected = type_name(spec.default)
    message = f"{node_name}: parameter '{spec.name}' expects {expected}"
    if given is None:
        return message
    message += f', got {type_name(given.value)} ({given.value!r})'
    if expected == 'a double' and isinstance(given.value, int) and not isinstance(
            given.value, bool):
        message += f'; write {float(given.value)!r}'
    return message


def declare_parameters(node, specs):
    """
    Declare every ParamSpec on ``node``; return {name: value}.

    Raises ParameterError, naming the node, for a value of the wrong type,
    out of range or outside its choices, and warns about
    overrides (from a YAML file or the command line) that name no parameter
    of this node, which are otherwise silently ignored by rclpy.
    """
    values = {}
    for spec in specs:
        try:
            value = node.declare_parameter(spec.name, spec.default, spec.descriptor()).value
        except InvalidParameterTypeException:
            given = getattr(node, '_parameter_overrides', {}).get(spec.name)
            raise ParameterError(type_problem(node.get_name(), spec, given)) from None
        except InvalidParameterValueException as error:
            raise ParameterError(f'{node.get_name()}: {error}') from None
        problem = spec.check(value)
        if problem:
            raise ParameterError(f'{node.get_name()}: {problem}')
        values[spec.name] = value
    known = {spec.name for spec in specs} | {'use_sim_time', 'start_type_description_service'}
    known |= set(PIPELINE_PARAMETERS)
    # rclpy keeps overrides for undeclared names without telling anyone.
    unknown = sorted(set(getattr(node, '_parameter_overrides', {})) - known)
    if unknown:
        node.get_logger().warning(
            f"ignoring unknown parameter(s) {', '.join(unknown)}; "
            f"{node.get_name()} has: {', '.join(sorted(s.name for s in specs))}")
    return values


def validate_changes(specs, parameters):
    """
    Check a live parameter change against the specs' choices and validators.

    Use inside an on-set-parameters callback; ranges and types are already
    enforced by rclpy from the descriptors.
    """
    by_name = {spec.name: spec for spec in specs}
    for parameter in parameters:
        spec = by_name.get(parameter.name)
        problem = spec.check(parameter.value) if spec else None
        if problem:
            return SetParametersResult(successful=False, reason=problem)
    return SetParametersResult(successful=True)
