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
A DDS domain claimed by one measurement run for as long as it runs.

``./fer bench`` and ``./fer bag eval`` start a pipeline and measure it: on a
shared domain another pipeline on the machine (a robot's, a demo, a second
measurement) would feed them its frames and emotions, and theirs would reach
it. Picking a domain at random is not enough: two evaluations at once once
landed on the same one, and one report counted 7,081 answers for 3,618
labelled frames. A claim takes an exclusive lock on the domain's file under
the lock directory (held by the claiming process only: the pipelines it
starts do not inherit it) and then looks at the domain for a moment: a ROS
node already there (a pipeline started by hand, or by an older fer_ros)
makes it skip that domain.
"""

import contextlib
import fcntl
import os
import random
import tempfile
import time

from fer_ros.runtime import init_ros
import rclpy
from rclpy.node import Node

# ./fer test uses 100-199; Fast DDS accepts 0-232.
PRIVATE_DOMAINS = range(200, 233)
LOCK_DIR_VARIABLE = 'FER_DDS_DOMAIN_LOCK_DIR'
LOOK_SECONDS = 2.0
_CHECK_NODE = 'fer_domain_check'


def lock_dir():
    """Return the folder of the per-domain lock files (shared by every user of the machine)."""
    return os.environ.get(LOCK_DIR_VARIABLE) or os.path.join(
        tempfile.gettempdir(), 'fer_ros_dds_domains')


def nodes_on_domain(domain, seconds=LOOK_SECONDS):
    """Return the names of the ROS nodes seen on ``domain`` within ``seconds``."""
    context = rclpy.Context()
    init_ros(context=context, domain_id=domain)
    node = None
    try:
        node = Node(_CHECK_NODE, context=context)
        end = time.monotonic() + seconds
        while True:
            others = sorted(f'{ns.rstrip("/")}/{name}'
                            for name, ns in node.get_node_names_and_namespaces()
                            if name != _CHECK_NODE)
            if others or time.monotonic() >= end:
                return others
            time.sleep(0.1)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _try_lock(domain):
    """Return a descriptor holding the domain's lock, or None when another run holds it."""
    directory = lock_dir()
    os.makedirs(directory, exist_ok=True)
    if os.stat(directory).st_uid == os.getuid():
        os.chmod(directory, 0o1777)  # like /tmp: every user locks here, none deletes another's
    descriptor = os.open(os.path.join(directory, f'domain_{domain}.lock'),
                         os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextlib.contextmanager
def claimed_dds_domain(domains=PRIVATE_DOMAINS, look_s=LOOK_SECONDS):
    """
    Move this process and the children it starts to a DDS domain of their own, while in the block.

    Yields the domain id. Raises RuntimeError when every domain of
    ``domains`` is locked by another run or has ROS nodes on it.
    """
    skipped = {}
    for domain in random.sample(list(domains), len(domains)):
        descriptor = _try_lock(domain)
        if descriptor is None:
            skipped[domain] = 'claimed by another run'
            continue
        others = nodes_on_domain(domain, look_s)
        if others:
            os.close(descriptor)
            skipped[domain] = f"in use by {', '.join(others[:3])}"
            continue
        previous = os.environ.get('ROS_DOMAIN_ID')
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        try:
            yield domain
        finally:
            if previous is None:
                os.environ.pop('ROS_DOMAIN_ID', None)
            else:
                os.environ['ROS_DOMAIN_ID'] = previous
            os.close(descriptor)
        return
    raise RuntimeError(f'no free DDS domain in {domains.start}-{domains.stop - 1}: '
                       + '; '.join(f'{d} {why}' for d, why in sorted(skipped.items())[:5]))
