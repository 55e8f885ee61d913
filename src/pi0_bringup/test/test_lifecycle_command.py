"""`pi0 lifecycle` (a separate process) drives the policy node through the standard lifecycle
services over DDS: get, configure (status "configuring" while the model loads), activate,
deactivate, cleanup, shutdown; refusals and failures exit 1 with the reason."""
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from pi0_bringup import robots
from pi0_bringup.checkpoints import random_checkpoint
from pi0_bringup.runner import Runner


def pi0(*args, timeout=120):
    exe = shutil.which("pi0")
    command = [exe] if exe else [sys.executable, "-m", "pi0_bringup.cli"]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def policy(ros_context, tmp_path):
    """(runner, fully qualified name, status labels seen) of an unconfigured ur5e policy node
    (no autostart, no autoconfigure) with a simulated robot, in a namespace of its own."""
    from pi0_msgs.msg import PolicyStatus

    from pi0_policy.ros.qos import REPORT

    def start(checkpoint_of="ur5e"):
        checkpoint = random_checkpoint(robots.embodiment_spec(checkpoint_of), tmp_path / checkpoint_of)
        namespace = f"/t{uuid.uuid4().hex[:8]}"
        descriptions = robots.describe("ur5e", checkpoint=str(checkpoint), namespace=namespace, autostart=False,
                                       parameters={"autoconfigure": False, "num_steps": 2})
        runner = Runner(descriptions, context=ros_context).start()
        started.append(runner)
        name = f"{namespace}/pi0_policy"
        labels = []
        listener = runner.nodes["pi0_policy"].create_subscription(
            PolicyStatus, f"{name}/status", lambda m: labels.append(m.lifecycle_state), REPORT)
        assert listener is not None
        return runner, name, labels

    started = []
    yield start
    for runner in started:
        runner.stop()


def test_pi0_lifecycle_walks_the_policy_through_its_states(policy):
    runner, name, labels = policy()
    node = runner.nodes["pi0_policy"]
    get = pi0("lifecycle", name, "get")
    assert get.returncode == 0 and get.stdout.strip() == f"{name}: unconfigured [1]", get.stdout + get.stderr

    refused = pi0("lifecycle", name, "activate")
    assert refused.returncode == 1
    assert "is unconfigured: it cannot activate now; available: configure, shutdown" in refused.stdout

    configure = pi0("lifecycle", name, "configure")
    assert configure.returncode == 0, configure.stdout + configure.stderr
    assert "loads its model" in configure.stdout and configure.stdout.strip().endswith(f"{name}: inactive")
    assert node.status_report().lifecycle_state == "inactive"
    deadline = time.monotonic() + 10
    while "inactive" not in labels and time.monotonic() < deadline:
        time.sleep(0.05)
    assert labels.index("configuring") < labels.index("inactive"), labels

    for action, state in (("activate", "active"), ("deactivate", "inactive"), ("cleanup", "unconfigured"),
                          ("shutdown", "finalized")):
        result = pi0("lifecycle", name, action)
        assert result.returncode == 0 and result.stdout.strip() == f"{name}: {state}", result.stdout + result.stderr
        assert node.status_report().lifecycle_state == state
    assert pi0("lifecycle", name, "get").stdout.strip() == f"{name}: finalized [4]"


def test_pi0_lifecycle_reports_why_a_configure_failed(policy):
    runner, name, _ = policy(checkpoint_of="bimanual_trossen")  # 14 dimensions on ur5e (7)
    result = pi0("lifecycle", name, "configure")
    assert result.returncode == 1
    assert f"configure of {name} failed; it is unconfigured" in result.stdout
    assert "state_dim 14 and action_dim 14; embodiment ur5e needs 7 and 7" in result.stdout


def test_pi0_lifecycle_names_a_missing_node():
    result = pi0("lifecycle", f"/nobody_{uuid.uuid4().hex[:6]}/pi0_policy", "get", "--wait", "1")
    assert result.returncode == 1 and "no lifecycle node" in result.stdout and "ROS_DOMAIN_ID" in result.stdout
