"""Test fixtures shared by every package of the workspace (pytest loads this first).

- DDS stays on this machine and each pytest run gets its own ROS_DOMAIN_ID (scripts/test.sh
  sets one; a bare `pytest` picks one here), so parallel runs do not cross-talk.
- `ros_context`: a fresh rclpy context per test, always shut down.
- `spin_until`: spin an executor until a predicate holds, or fail with a message.
- `load_bench(name)`: a script of bench/ as a module (tests import it: `from conftest import load_bench`).
"""
import importlib.util
import os
import random
import time
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent / "bench"


def load_bench(name: str, skip_missing: bool = False):
    """bench/<name>.py as a module (the bench scripts are files, not a package). With
    `skip_missing`, a checkout without that script skips the calling test instead of failing."""
    path = BENCH_DIR / f"{name}.py"
    if skip_missing and not path.is_file():
        pytest.skip(f"{path} not in this checkout")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.pop("ROS_LOCALHOST_ONLY", None)
# Tests run on 2 cores next to DDS processes: keep torch from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def ros_context():
    """An initialised rclpy context of its own, shut down after the test whatever happens."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


@pytest.fixture
def executor(ros_context):
    """A SingleThreadedExecutor on `ros_context`; nodes added to it are destroyed afterwards."""
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ros_context)
    yield ex
    for node in list(ex.get_nodes()):
        ex.remove_node(node)
        node.destroy_node()
    ex.shutdown()


def _spin_until(executor, predicate, timeout=10.0, what="condition"):
    """Spin `executor` until `predicate()` is true; fail the test naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        executor.spin_once(timeout_sec=0.05)
    if predicate():
        return
    pytest.fail(f"timed out after {timeout:.1f} s waiting for {what}")


@pytest.fixture
def spin_until():
    return _spin_until
