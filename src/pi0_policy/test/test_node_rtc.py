"""execution_mode rtc over real DDS: the simulated UR5e, the tiny π0 (real forward passes), the
same robot and model run in open_loop and in rtc mode; the boundary discontinuity at each chunk
join (the new chunk's first action against the executing chunk's action at the same target
time, from the published ActionChunks) is measured in both modes. No timing assertions."""
import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from node_support import Recorder, RosWorld, change_state, make_checkpoint
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.ros_time import time_to_sec
from pi0_hw_interfaces.sim_robot import SimRobotNode
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import String

from pi0_msgs.msg import ActionChunk
from pi0_policy.policy.base import BasePolicy
from pi0_policy.ros import qos
from pi0_policy.ros.policy_node import PolicyNode

SPEC = load_embodiment("ur5e")
JOINTS = [i for i, d in enumerate(SPEC.action_dims) if d.kind == "joint"]
CHUNKS = 6
IMAGE_SIZE = (64, 48)  # width, height of the simulated cameras
ACTION_STD = 0.02  # rad: the tiny model's chunks then stay far below the velocity cap (3.14 rad/s · 0.05 s)


def joins(chunks):
    """Per consecutive pair: max |new first action − executing chunk's action at that time| (joints)."""
    jumps = []
    for prev, new in zip(chunks, chunks[1:]):
        dt = new.dt.sec + new.dt.nanosec * 1e-9
        a_prev = np.asarray(prev.actions).reshape(prev.horizon, prev.action_dim)
        a_new = np.asarray(new.actions).reshape(new.horizon, new.action_dim)
        k = int(round((time_to_sec(new.start) + dt - time_to_sec(prev.start)) / dt)) - 1
        if 0 <= k < prev.horizon:
            jumps.append(float(np.abs(a_new[0, JOINTS] - a_prev[k, JOINTS]).max()))
    return jumps


def run_mode(ckpt, mode):
    world = RosWorld()
    try:
        # Small camera images: both modes' inference then stays well inside a chunk on a 2-core
        # machine, so consecutive chunks overlap and there are joins to measure.
        sim = dict(embodiment=SPEC.name, image_width=IMAGE_SIZE[0], image_height=IMAGE_SIZE[1])
        world.add(SimRobotNode("sim_robot", context=world.context,
                               parameter_overrides=[Parameter(k, value=v) for k, v in sim.items()]))
        params = dict(embodiment=SPEC.name, checkpoint=str(ckpt), num_steps=5, max_input_age=1.0,
                      execution_mode=mode, warmup=False)
        for cam in SPEC.cameras:
            params[f"cameras.{cam.role}.width"], params[f"cameras.{cam.role}.height"] = IMAGE_SIZE
        world.add(PolicyNode(context=world.context,
                             parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
        client = world.add(rclpy.create_node("rtc_client", context=world.context))
        rec = Recorder(client, ActionChunk, "/pi0_policy/action_chunk")
        instruction = client.create_publisher(String, "/pi0/instruction", qos.INSTRUCTION)
        assert change_state(world, client, "pi0_policy", Transition.TRANSITION_CONFIGURE)
        assert change_state(world, client, "pi0_policy", Transition.TRANSITION_ACTIVATE)
        instruction.publish(String(data="pick up the cube"))  # reliable + transient local: once is enough
        world.spin_until(lambda: len(rec) >= CHUNKS, 120.0, f"{CHUNKS} chunks in {mode}")
        return rec.all()
    finally:
        world.close()


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    from pi0_policy.policy.demo_checkpoint import random_norm_stats
    from pi0_policy.policy.normalize import NormStats

    stats = random_norm_stats(SPEC.state_dim, SPEC.action_dim)
    zero, std = np.zeros(SPEC.action_dim, np.float32), np.full(SPEC.action_dim, ACTION_STD, np.float32)
    stats["actions"] = NormStats(mean=zero, std=std, q01=zero - 2 * std, q99=zero + 2 * std)
    ckpt = make_checkpoint(tmp_path_factory.mktemp("ckpt") / "ur5e", SPEC, norm_stats=stats)
    return {mode: run_mode(ckpt, mode) for mode in ("open_loop", "rtc")}


def test_rtc_chunks_continue_the_executing_chunk_better_than_open_loop(measured):
    jumps = {mode: joins(chunks) for mode, chunks in measured.items()}
    print({mode: np.round(j, 4).tolist() for mode, j in jumps.items()})
    assert len(jumps["open_loop"]) >= 3 and len(jumps["rtc"]) >= 3
    assert np.mean(jumps["rtc"]) < 0.5 * np.mean(jumps["open_loop"])


class PlainPolicy(BasePolicy):
    """A policy without guidance support (as the remote backend)."""

    def infer(self, obs):
        return {"actions": np.zeros((50, SPEC.action_dim), np.float32), "timing": {}}

    @property
    def metadata(self):
        return {"state_dim": SPEC.state_dim, "action_dim": SPEC.action_dim, "horizon": 50,
                "image_keys": [], "config": "plain"}


def test_rtc_with_a_policy_that_takes_no_guidance_fails_configure_with_the_reason():
    world = RosWorld()
    try:
        params = dict(embodiment=SPEC.name, checkpoint="(plain)", execution_mode="rtc", warmup=False)
        node = world.add(PolicyNode("plain_policy", context=world.context, policy_factory=lambda p: PlainPolicy(),
                                    parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert "execution_mode rtc needs a policy that takes guidance" in node.status_report().faults[0]
    finally:
        world.close()
