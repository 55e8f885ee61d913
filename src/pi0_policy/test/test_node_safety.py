"""Safety over real DDS with the policy node in its own process (the console script's main):
future-stamped inputs, a joint outside its limits, a joint named twice → fault, no chunk, hold;
a hold while the measurement lies outside a limit commands a position inside it; SIGINT and
SIGTERM make the node send a hold before it exits."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from node_support import checkpoint, world  # noqa: F401 - module fixtures
from node_support import Recorder, RobotInputs
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.ros_time import sec_to_time
from trajectory_msgs.msg import JointTrajectory

from pi0_msgs.msg import ActionChunk, PolicyStatus

SPEC = load_embodiment("ur5e")
ARM = SPEC.trajectory_controllers[0]
QUIET_S = 1.0  # > 4 replans of 4 actions at 20 Hz: a chunk would certainly have been computed
TOLERANCE = 0.02  # the node's joint_limit_tolerance (its default)
POSITION_ATOL = 1e-9  # positions travel as float64 through DDS unchanged


def start_node(checkpoint, namespace):
    """``python -m pi0_policy.ros.policy_node`` (the console script's main) in its own process,
    in its own namespace (so that the robot topics of two such nodes never mix)."""
    params = dict(embodiment="ur5e", checkpoint=str(checkpoint), num_steps=2, replan_interval=4,
                  max_input_age=0.4, autostart=True, warmup=False)
    argv = [sys.executable, "-m", "pi0_policy.ros.policy_node", "--ros-args", "-r", f"__ns:=/{namespace}"]
    for key, value in params.items():
        argv += ["-p", f"{key}:={str(value).lower() if isinstance(value, bool) else value}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_node(proc, sig=signal.SIGINT, timeout=30.0):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read()


class Rig:
    def __init__(self, world, checkpoint, namespace):
        self.world = world
        self.client = world.add(rclpy.create_node(f"{namespace}_client", context=world.context))
        self.inputs = RobotInputs(self.client, SPEC, namespace=f"/{namespace}")
        self.chunks = Recorder(self.client, ActionChunk, f"/{namespace}/pi0_policy/action_chunk")
        self.status = Recorder(self.client, PolicyStatus, f"/{namespace}/pi0_policy/status")
        self.arm = Recorder(self.client, JointTrajectory, f"/{namespace}/{ARM.topic}")
        self.proc = start_node(checkpoint, namespace)
        self.inputs.instruct("wipe the table")
        self.wait_for_chunks("a first chunk", timeout=90.0)

    def wait_for_chunks(self, what, timeout=30.0):
        n = len(self.chunks)
        self.world.spin_until(lambda: len(self.chunks) > n or self.proc.poll() is not None, timeout, what)
        assert self.proc.poll() is None, self.proc.stdout.read()

    def faults(self):
        return self.status.last.faults if self.status.last else []

    def holds(self):
        return [t for t in self.arm.all() if len(t.points) == 1]

    def close(self):
        self.world.executor.remove_node(self.client)
        self.client.destroy_node()
        return stop_node(self.proc)


@pytest.fixture(scope="module")
def rig(world, checkpoint):
    r = Rig(world, checkpoint, "safety")
    yield r
    r.close()


def future_stamp(rig):
    def override(msg):
        now = rig.client.get_clock().now().nanoseconds * 1e-9
        msg.header.stamp = sec_to_time(now + 1.0)
        return msg
    return override


def outside_limit(msg):
    joint = SPEC.joint(ARM.joints[1])
    positions = list(msg.position)
    positions[list(msg.name).index(joint.name)] = joint.upper + 0.3
    msg.position = positions
    return msg


def named_twice(msg):
    msg.name = list(msg.name) + [msg.name[0]]
    msg.position = list(msg.position) + [msg.position[0]]
    return msg


CASES = {
    "future-stamped joint states": (future_stamp, "joint_states: stamped "),  # "0.9x s" or "1.00 s in the future"
    "joint outside its limits": (lambda rig: outside_limit, f"joint_states: {ARM.joints[1]} at "),
    "joint named twice": (lambda rig: named_twice, "joint_states: joints named more than once: "),
}


@pytest.mark.parametrize("case", list(CASES))
def test_impossible_input_is_a_fault_no_chunk_and_a_hold(rig, case):
    make_override, fault = CASES[case]
    rig.wait_for_chunks("chunks before the fault")
    rig.arm.clear()
    rig.inputs.joint_override = make_override(rig)
    try:
        rig.world.spin_until(lambda: any(f.startswith(fault) for f in rig.faults()), 10.0,
                             f"fault {fault!r} (faults: {rig.faults()})")
        rig.world.spin_until(lambda: rig.holds(), 10.0, "a hold trajectory")
        rig.chunks.clear()
        rig.arm.clear()
        rig.world.spin_for(QUIET_S)
        assert len(rig.chunks) == 0, "a chunk was computed from an impossible input"
        assert all(len(t.points) == 1 for t in rig.arm.all()), "only holds may reach the robot"
        assert rig.status.last.holding and any(f.startswith(fault) for f in rig.status.last.faults)
    finally:
        rig.inputs.joint_override = None
    rig.world.spin_until(lambda: not rig.faults(), 10.0, "faults cleared")
    rig.wait_for_chunks("chunks resuming")


def test_hold_with_a_measurement_outside_the_limits_commands_inside(rig):
    joint = SPEC.joint(ARM.joints[2])
    saved = dict(rig.inputs.positions)
    rig.wait_for_chunks("a running chunk")
    rig.inputs.positions[joint.name] = joint.upper + TOLERANCE / 2  # outside, within the tolerance: used
    try:
        rig.world.spin_for(0.3)
        assert not rig.faults()
        rig.arm.clear()
        rig.inputs.instruct("")  # clearing the instruction replaces the running chunk by a hold
        rig.world.spin_until(lambda: rig.holds(), 10.0, "a hold trajectory")
        hold = rig.holds()[0]
        commanded = dict(zip(hold.joint_names, hold.points[0].positions))
        assert commanded[joint.name] == pytest.approx(joint.upper, abs=POSITION_ATOL)
        lower, upper, _ = SPEC.limits(list(hold.joint_names))
        assert np.all(np.array(hold.points[0].positions) <= upper)
        assert np.all(np.array(hold.points[0].positions) >= lower)
    finally:
        rig.inputs.positions.update(saved)
        rig.inputs.instruct("wipe the table")
    rig.wait_for_chunks("chunks resuming")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_sends_a_hold_before_the_node_exits(world, checkpoint, sig):
    rig = Rig(world, checkpoint, f"signal_{sig.name.lower()}")
    try:
        rig.wait_for_chunks("a running chunk")
        rig.arm.clear()
        rig.proc.send_signal(sig)
        world.spin_until(lambda: rig.proc.poll() is not None, 30.0, "the node to exit")
        world.spin_for(0.2)  # the last samples in flight
        output = rig.proc.stdout.read()
        received = rig.arm.all()
        assert received and len(received[-1].points) == 1, (f"no hold last on {sig.name}: {[len(t.points) for t in received]}; "
                                                          f"node output:\n{output}")
        hold = received[-1]  # the node's last command: a hold at the measured position
        expected = [rig.inputs.positions[j] for j in hold.joint_names]
        np.testing.assert_allclose(hold.points[0].positions, expected, atol=POSITION_ATOL)
        assert rig.proc.returncode == 0, output
        assert f"{sig.name}: hold sent" in output and "Traceback" not in output
    finally:
        rig.close()
