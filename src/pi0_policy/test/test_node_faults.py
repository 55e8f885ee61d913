"""Bad and dangerous input over real DDS: every case shows as a fault in PolicyStatus, no chunk is
computed from it, the robot is sent a hold at its measured position, and chunks resume once the
input is good again. Also the ~/set_instruction service. One node (ur5e, tiny π0) for the module."""
import math

import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from node_support import Recorder, RobotInputs, RosWorld, change_state, make_checkpoint
from pi0_hw_interfaces.embodiment import load_embodiment
from rclpy.parameter import Parameter
from trajectory_msgs.msg import JointTrajectory

from pi0_msgs.msg import ActionChunk, PolicyStatus
from pi0_msgs.srv import SetInstruction
from pi0_policy.ros.conversions import rgb_to_image
from pi0_policy.ros.policy_node import PolicyNode

SPEC = load_embodiment("ur5e")
ARM = SPEC.trajectory_controllers[0]
QUIET_S = 1.0  # > 4 replans of 4 actions at 20 Hz: a chunk would certainly have been computed


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    world = RosWorld()
    ckpt = make_checkpoint(tmp_path_factory.mktemp("ckpt") / "ur5e", SPEC)
    params = dict(embodiment="ur5e", checkpoint=str(ckpt), num_steps=2, replan_interval=4, max_input_age=0.4)
    node = world.add(PolicyNode(context=world.context,
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    client = world.add(rclpy.create_node("faults_client", context=world.context))
    inputs = RobotInputs(client, SPEC)
    rec = {"chunk": Recorder(client, ActionChunk, "/pi0_policy/action_chunk"),
           "status": Recorder(client, PolicyStatus, "/pi0_policy/status"),
           "arm": Recorder(client, JointTrajectory, ARM.topic)}
    assert change_state(world, client, "pi0_policy", Transition.TRANSITION_CONFIGURE)
    assert change_state(world, client, "pi0_policy", Transition.TRANSITION_ACTIVATE)
    inputs.instruct("wipe the table")
    world.spin_until(lambda: len(rec["chunk"]) > 0, 30.0, "a first chunk")
    yield world, node, client, inputs, rec
    world.close()


def wrong_encoding(msg):
    msg.encoding = "16UC1"
    return msg


def short_step(msg):
    msg.step = msg.width * 3 - 1
    return msg


def truncated(msg):
    msg.data = bytes(msg.data)[: len(msg.data) // 2]
    return msg


def wrong_size(msg):
    return rgb_to_image(np.zeros((240, 320, 3), np.uint8), "rgb8", stamp=msg.header.stamp)


def nan_joint(msg):
    msg.position = [math.nan] + list(msg.position[1:])
    return msg


def prefixed_joints(msg):
    msg.name = [f"ur_{n}" for n in msg.name]
    return msg


CASES = {
    "wrong encoding": ("image", "base", wrong_encoding, "camera base: unsupported encoding '16UC1'"),
    "step smaller than a row": ("image", "left_wrist", short_step, "camera left_wrist: step 1919 is smaller"),
    "data does not match step": ("image", "base", truncated, "camera base: data has 460800 bytes"),
    "wrong image size": ("image", "base", wrong_size, "camera base: image is 320x240, expected 640x480"),
    "stale camera": ("image", "left_wrist", lambda m: None, "camera left_wrist: stale"),
    "NaN joint state": ("joints", None, nan_joint,
                        "joint_states: non-finite position for ['shoulder_pan_joint']"),
    "unknown joint names": ("joints", None, prefixed_joints,
                            "joint_states: unknown joints ['ur_shoulder_pan_joint'"),
    "stale joint states": ("joints", None, lambda m: None, "joint_states: stale"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_a_fault_and_the_robot_holds(rig, case):
    world, node, client, inputs, rec = rig
    kind, role, corrupt, fault = CASES[case]
    n = len(rec["chunk"])
    world.spin_until(lambda: len(rec["chunk"]) > n, 30.0, "chunks before the fault")  # chunks flow
    if kind == "image":
        inputs.image_override[role] = corrupt
    else:
        inputs.joint_override = corrupt
    try:
        world.spin_until(lambda: any(f.startswith(fault) for f in rec["status"].last.faults), 10.0,
                         f"fault {fault!r}")
        rec["chunk"].clear()
        rec["arm"].clear()
        world.spin_for(QUIET_S)
        assert len(rec["chunk"]) == 0, "a chunk was computed from bad input"
        # only holds reach the robot, at the measured position
        for traj in rec["arm"].all():
            assert len(traj.points) == 1
            np.testing.assert_allclose(traj.points[0].positions, [inputs.positions[j] for j in ARM.joints])
        status = rec["status"].last
        assert status.holding and any(f.startswith(fault) for f in status.faults)
    finally:
        inputs.image_override.clear()
        inputs.joint_override = None
    world.spin_until(lambda: not rec["status"].last.faults, 10.0, "faults cleared")
    n = len(rec["chunk"])
    world.spin_until(lambda: len(rec["chunk"]) > n, 30.0, "chunks resuming")


def test_a_fault_mid_chunk_sends_a_hold(rig):
    world, node, client, inputs, rec = rig
    n = len(rec["chunk"])
    world.spin_until(lambda: len(rec["chunk"]) > n, 30.0, "a chunk")
    rec["arm"].clear()
    inputs.image_override["base"] = wrong_encoding
    try:
        world.spin_until(lambda: any(len(t.points) == 1 for t in rec["arm"].all()), 10.0, "a hold trajectory")
    finally:
        inputs.image_override.clear()
    hold = next(t for t in rec["arm"].all() if len(t.points) == 1)
    assert hold.header.stamp.sec == 0 and hold.header.stamp.nanosec == 0  # start now
    assert hold.points[0].time_from_start.nanosec == int(SPEC.dt * 1e9)
    world.spin_until(lambda: not rec["status"].last.faults, 10.0, "faults cleared")


def test_set_instruction_service(rig):
    world, node, client, inputs, rec = rig
    srv = client.create_client(SetInstruction, "/pi0_policy/set_instruction")
    world.spin_until(srv.service_is_ready, 10.0, "set_instruction service")

    def call(text):
        future = srv.call_async(SetInstruction.Request(instruction=text))
        world.spin_until(future.done, 10.0, "set_instruction response")
        return future.result()

    result = call("fold the towel")
    assert result.accepted
    world.spin_until(lambda: rec["chunk"].last.instruction == "fold the towel", 30.0,
                     "chunk for the new instruction")
    result = call("x" * 1000)
    assert not result.accepted and "1000 characters" in result.message
    assert rec["status"].last.instruction == "fold the towel"
    result = call("")
    assert result.accepted and result.message == "holding"
    world.spin_until(lambda: rec["status"].last.holding and rec["status"].last.instruction == "", 10.0,
                     "hold")
