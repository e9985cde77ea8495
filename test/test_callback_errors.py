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

"""An exception no callback expected counts as bad input and never ends the node."""

from fer_ros.diagnostics import status_values
from fer_ros.lifecycle import ManagedNode
from fer_ros.parameters import ParamSpec
import pytest
from rclpy.parameter import Parameter
from std_msgs.msg import String


class BrittleNode(ManagedNode):
    """A node whose input callback and live parameter change raise what nobody expected."""

    def __init__(self, **kwargs):
        super().__init__('brittle_node', (ParamSpec('level', 1, 'A tunable.'),), **kwargs)
        self.seen = []

    def _activate(self):
        self._create_input_subscription(String, 'brittle_in', self._on_text, 10,
                                        watch_silence=False)

    def _on_text(self, msg):
        self.seen.append(msg.data)
        if msg.data == 'boom':
            raise KeyError('nobody expected this')

    def _apply_parameters(self, names):
        raise RuntimeError('applying went wrong')


@pytest.fixture
def brittle(ros):
    node = BrittleNode(context=ros.context)
    ros.executor.add_node(node)
    node.trigger_configure()
    node.trigger_activate()
    yield node
    ros.executor.remove_node(node)
    node.destroy_node()


def test_an_unexpected_exception_in_an_input_callback_is_counted_and_logged_once(
        ros, brittle, capfd):
    publisher = ros.publisher(String, 'brittle_in')
    ros.wait_for_subscribers(publisher)
    for data in ('boom', 'boom', 'boom', 'fine'):
        publisher.publish(String(data=data))
    # Before, the KeyError left the executor's spin: the process ended.
    assert ros.spin_until(lambda: 'fine' in brittle.seen, timeout=10.0), brittle.seen
    status = brittle._diagnostics.status()
    assert status_values(status)['rejected_unexpected_error'] == '3'
    assert 'unexpected KeyError' in status.message
    log = capfd.readouterr().err
    assert log.count("unexpected KeyError: 'nobody expected this'") == 1, log
    assert 'Traceback' in log


def test_an_unexpected_exception_while_applying_a_parameter_does_not_escape(brittle):
    result = brittle.set_parameters([Parameter('level', value=2)])[0]
    assert result.successful
    assert status_values(brittle._diagnostics.status())['rejected_unexpected_error'] == '1'
