"""Execution modes over real DDS: dry run (ActionChunk and status, no robot commands),
temporal ensembling (overlapping chunks blended, ACT-style), and a CompressedImage (jpeg) camera.

The node's scheduling is the subject here, so the policy is a deterministic BasePolicy whose
k-th call returns "stay at the current state + k * STEP" for every action: that makes the blended
values exact. (The model itself runs in test_node_chunks.py and test_node_faults.py.)
"""
import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from node_support import Recorder, RobotInputs, RosWorld, change_state
from pi0_hw_interfaces.embodiment import load_embodiment
from rclpy.parameter import Parameter
from trajectory_msgs.msg import JointTrajectory

from pi0_msgs.msg import ActionChunk
from pi0_policy.policy.base import BasePolicy
from pi0_policy.ros.policy_node import PolicyNode

SPEC = load_embodiment("franka")  # absolute joint actions: the policy's values reach the chunk as they are
WRIST = next(c for c in SPEC.cameras if c.role == "left_wrist")
STEP = 1e-3
HORIZON = 50
ATOL = 1e-6  # float32 in ActionChunk around values of order 1


class SteppingPolicy(BasePolicy):
    """Call k returns ``state + k * STEP`` for all HORIZON actions (model space)."""

    def __init__(self, spec):
        self.spec, self.calls = spec, 0

    def infer(self, obs):
        actions = np.repeat(obs["state"][None, :] + self.calls * STEP, HORIZON, axis=0)
        self.calls += 1
        return {"actions": actions.astype(np.float32), "timing": {}}

    @property
    def metadata(self):
        return {"state_dim": self.spec.state_dim, "action_dim": self.spec.action_dim, "horizon": HORIZON,
                "image_keys": ["base_0_rgb", "left_wrist_0_rgb"], "config": "stepping"}


@pytest.fixture(scope="module")
def rig():
    world = RosWorld()
    params = dict(embodiment=SPEC.name, checkpoint="(stepping policy)", dry_run=True,
                  execution_mode="temporal_ensemble", ensemble_decay=0.0, replan_interval=10,
                  warmup=False, **{"cameras.left_wrist.compressed": True,
                                   "cameras.left_wrist.topic": f"{WRIST.topic}/compressed"})
    node = world.add(PolicyNode("modes_policy", context=world.context,
                                policy_factory=lambda p: SteppingPolicy(SPEC),
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    client = world.add(rclpy.create_node("modes_client", context=world.context))
    inputs = RobotInputs(client, SPEC, compressed={"left_wrist"})
    rec = {"chunk": Recorder(client, ActionChunk, "/modes_policy/action_chunk"),
           **{c.name: Recorder(client, JointTrajectory, c.topic) for c in SPEC.trajectory_controllers}}
    assert change_state(world, client, "modes_policy", Transition.TRANSITION_CONFIGURE)
    assert change_state(world, client, "modes_policy", Transition.TRANSITION_ACTIVATE)
    inputs.instruct("sort the parts")
    world.spin_until(lambda: len(rec["chunk"]) >= 3, 30.0, "three chunks")
    yield world, node, inputs, rec
    world.close()


def test_compressed_camera_topic_is_used(rig):
    world, node, inputs, rec = rig
    ages = {name: (topic, fresh) for name, topic, _, fresh in node.tracker.ages(node._now())}
    assert ages["left_wrist"] == (f"{WRIST.topic}/compressed", True)
    assert len(rec["chunk"]) >= 3   # chunks were computed with the jpeg camera


def test_dry_run_publishes_chunks_but_no_commands(rig):
    world, node, inputs, rec = rig
    assert len(rec["chunk"]) >= 3
    assert all(len(rec[c.name]) == 0 for c in SPEC.trajectory_controllers)
    assert node.status_report().dry_run


def test_temporal_ensemble_blends_the_overlap_with_the_previous_chunk(rig):
    world, node, inputs, rec = rig
    c0, c1 = rec["chunk"].all()[:2]
    q = np.array([inputs.positions[d.name] for d in SPEC.action_dims[:7]])
    a0 = np.asarray(c0.actions).reshape(c0.horizon, SPEC.action_dim)[:, :7] - q
    a1 = np.asarray(c1.actions).reshape(c1.horizon, SPEC.action_dim)[:, :7] - q
    np.testing.assert_allclose(a0, 0.0, atol=ATOL)   # the first chunk: call 0, nothing to blend
    # chunk 1 (call 1 → +STEP): where chunk 0 still has actions, the plain mean (decay 0) of 0 and STEP
    t0 = c0.start.sec + c0.start.nanosec * 1e-9
    t1 = c1.start.sec + c1.start.nanosec * 1e-9
    dt = SPEC.dt
    end0 = t0 + c0.horizon * dt
    targets1 = t1 + dt * np.arange(1, c1.horizon + 1)
    overlap = targets1 <= end0 + dt / 2
    assert overlap.sum() >= 30 and (~overlap).sum() >= 1
    np.testing.assert_allclose(a1[overlap], STEP / 2, atol=ATOL)
    np.testing.assert_allclose(a1[~overlap], STEP, atol=ATOL)


JUMP = 1.0  # rad: far more than one velocity-limited step (at most 5.26 rad/s * 0.05 s)


class JumpPolicy(SteppingPolicy):
    """Every action 1 rad (model space = robot space for franka's arm) away from the current state."""

    def infer(self, obs):
        actions = np.repeat(obs["state"][None, :] + JUMP, HORIZON, axis=0)
        return {"actions": actions.astype(np.float32), "timing": {}}


@pytest.fixture(scope="module")
def jump_rig():
    world = RosWorld()
    params = dict(embodiment=SPEC.name, checkpoint="(jump policy)", warmup=False)
    node = world.add(PolicyNode("jump_policy", context=world.context,
                                policy_factory=lambda p: JumpPolicy(SPEC),
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    client = world.add(rclpy.create_node("jump_client", context=world.context))
    inputs = RobotInputs(client, SPEC)
    arm = SPEC.trajectory_controllers[0]
    rec = {"chunk": Recorder(client, ActionChunk, "/jump_policy/action_chunk"),
           "arm": Recorder(client, JointTrajectory, arm.topic)}
    assert change_state(world, client, "jump_policy", Transition.TRANSITION_CONFIGURE)
    assert change_state(world, client, "jump_policy", Transition.TRANSITION_ACTIVATE)
    inputs.instruct("reach")
    world.spin_until(lambda: len(rec["arm"]) >= 1 and len(rec["chunk"]) >= 1, 30.0, "a chunk")
    yield world, inputs, arm, rec
    world.close()


def test_a_far_target_is_reached_at_the_velocity_limit_without_a_jump(jump_rig):
    world, inputs, arm, rec = jump_rig
    traj = rec["arm"].all()[0]
    q = np.array([inputs.positions[j] for j in arm.joints])
    _, _, vmax = SPEC.limits(arm.joints)
    steps = np.arange(1, len(traj.points) + 1)[:, None]
    expected = q + np.minimum(JUMP, vmax * SPEC.dt * steps)   # ramp at the velocity limit, then hold
    np.testing.assert_allclose([p.positions for p in traj.points], expected, atol=ATOL)
    chunk = rec["chunk"].all()[0]
    np.testing.assert_allclose(np.asarray(chunk.actions).reshape(chunk.horizon, SPEC.action_dim)[:, :7],
                               expected, atol=1e-5)
