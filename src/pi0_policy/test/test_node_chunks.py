"""The policy node driving the simulated mobile Trossen robot over real DDS, with a tiny π0.

One node per module (mobile_trossen: 50 Hz, replan every 25 actions, 4 trajectory controllers
and a TwistStamped base; weights packed for oneDNN by the `weight_packing` parameter), tests in
order: no chunk without an instruction; chunks after one (names, stamps, lengths, rate in data
time) and the robot moving; a new instruction at the next replan; an empty instruction holds; no
chunk while inactive.
"""
import numpy as np
import pytest
import rclpy
import torch
from geometry_msgs.msg import TwistStamped
from lifecycle_msgs.msg import Transition
from node_support import Recorder, RosWorld, change_state, make_checkpoint
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.sim_robot import SimRobotNode
from rclpy.parameter import Parameter
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from pi0_msgs.msg import ActionChunk, PolicyStatus
from pi0_policy.model.packed_linear import packing_unavailable
from pi0_policy.ros import qos
from pi0_hw_interfaces.ros_time import time_to_sec
from pi0_policy.ros.policy_node import PolicyNode

SPEC = load_embodiment("mobile_trossen")
PACKING = packing_unavailable("cpu", torch.float32) is None
DT = SPEC.dt
HORIZON = 50
STAMP_ATOL = 1e-6      # stamps go through builtin_interfaces (ns) and float64 arithmetic
ACTION_ATOL = 1e-5     # ActionChunk carries float32 actions
CAMERA_PERIOD = 1 / 15.0  # the sim robot's default camera rate


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    world = RosWorld()
    ckpt = make_checkpoint(tmp_path_factory.mktemp("ckpt") / "mobile_trossen", SPEC)
    robot = world.add(SimRobotNode("sim_robot", context=world.context,
                                   parameter_overrides=[Parameter("embodiment", value=SPEC.name)]))
    params = dict(embodiment=SPEC.name, checkpoint=str(ckpt), num_steps=3, max_input_age=1.0,
                  weight_packing="packed" if PACKING else "auto")  # the packed path over DDS (others: plain)
    node = world.add(PolicyNode(context=world.context,
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    client = world.add(rclpy.create_node("chunks_client", context=world.context))
    rec = {
        "chunk": Recorder(client, ActionChunk, "/pi0_policy/action_chunk"),
        "status": Recorder(client, PolicyStatus, "/pi0_policy/status"),
        "twist": Recorder(client, TwistStamped, SPEC.base_controller.topic),
        **{c.name: Recorder(client, JointTrajectory, c.topic) for c in SPEC.trajectory_controllers},
    }
    instruction = client.create_publisher(String, "/pi0/instruction", qos.INSTRUCTION)
    assert change_state(world, client, "pi0_policy", Transition.TRANSITION_CONFIGURE)
    assert change_state(world, client, "pi0_policy", Transition.TRANSITION_ACTIVATE)

    def instruct(text):
        instruction.publish(String(data=text))

    yield world, node, robot, client, rec, instruct
    world.close()


def inputs_fresh(status):
    return status is not None and status.input_ages and all(
        a.fresh for a in status.input_ages if a.name != "instruction")


def test_no_chunk_without_an_instruction(rig):
    world, node, robot, client, rec, instruct = rig
    world.spin_until(lambda: inputs_fresh(rec["status"].last), what="fresh inputs in the status")
    assert node.policy.metadata["packed_weights"] == PACKING  # the weight_packing parameter took effect
    world.spin_for(1.0)
    assert len(rec["chunk"]) == 0
    assert all(len(rec[c.name]) == 0 for c in SPEC.trajectory_controllers)
    status = rec["status"].last
    assert status.instruction == "" and status.holding and status.faults == []
    # the base gets zero twists at the control rate while holding
    assert len(rec["twist"]) > 0
    assert all(t.twist.linear.x == 0.0 and t.twist.angular.z == 0.0 for t in rec["twist"].all())


def test_chunks_after_an_instruction_and_the_robot_moves(rig):
    world, node, robot, client, rec, instruct = rig
    start_positions = robot.positions().copy()
    instruct("pick up the red cube")
    world.spin_until(lambda: len(rec["chunk"]) >= 3, 60.0, "three action chunks")
    chunks = rec["chunk"].all()[:3]
    names = [d.name for d in SPEC.action_dims]
    for seq, c in enumerate(chunks):
        assert c.sequence == seq and c.embodiment == SPEC.name and c.instruction == "pick up the red cube"
        assert list(c.action_names) == names and c.action_dim == 16
        assert 1 <= c.horizon <= HORIZON and len(c.actions) == c.horizon * 16
        assert time_to_sec(c.dt) == pytest.approx(DT, abs=STAMP_ATOL)
        obs, start = time_to_sec(c.header.stamp), time_to_sec(c.start)
        first = round((start - obs) / DT)
        # the chunk starts at a whole number of periods after the observation; passed actions dropped
        assert start - obs == pytest.approx(first * DT, abs=1e-5)
        assert c.horizon == HORIZON - first
        assert time_to_sec(c.inference_latency) > 0
        actions = np.asarray(c.actions).reshape(c.horizon, 16)
        lower, upper, vmax = SPEC.limits(names[:14])
        assert np.all(actions[:, :14] >= lower - ACTION_ATOL)
        assert np.all(actions[:, :14] <= upper + ACTION_ATOL)
        assert np.all(np.abs(actions[:, 14]) <= 1.6 + ACTION_ATOL)   # base max_linear
        assert np.all(np.abs(actions[:, 15]) <= 1.5 + ACTION_ATOL)   # base max_angular
    # one chunk per replan interval, in data time (observation stamps)
    stamps = [time_to_sec(c.header.stamp) for c in chunks]
    for a, b in zip(stamps, stamps[1:]):
        assert b - a >= SPEC.replan_interval * DT - CAMERA_PERIOD - DT
    # one JointTrajectory per controller per chunk, with that controller's joints
    starts = {round(time_to_sec(c.start), 6) for c in chunks}

    def stamps(ctrl):
        return {round(time_to_sec(t.header.stamp), 6) for t in rec[ctrl.name].all()}

    world.spin_until(lambda: all(starts <= stamps(c) for c in SPEC.trajectory_controllers), 10.0,
                     "the chunks' trajectories")
    # (matched by stamp: a hold, stamp 0, may come between if the loaded CI machine made an inference
    # slower than a whole chunk)
    for ctrl in SPEC.trajectory_controllers:
        trajectories = {round(time_to_sec(t.header.stamp), 6): t for t in rec[ctrl.name].all()}
        for chunk in chunks:
            traj = trajectories[round(time_to_sec(chunk.start), 6)]
            assert list(traj.joint_names) == list(ctrl.joints)
            assert len(traj.points) == chunk.horizon
            times = [time_to_sec(p.time_from_start) for p in traj.points]
            np.testing.assert_allclose(times, DT * np.arange(1, chunk.horizon + 1), atol=STAMP_ATOL)
            cols = [names.index(j) for j in ctrl.joints]
            actions = np.asarray(chunk.actions).reshape(chunk.horizon, 16)[:, cols]
            np.testing.assert_allclose([p.positions for p in traj.points], actions, atol=ACTION_ATOL)
    # the simulated robot accepted every trajectory and moves
    assert robot.rejected == []
    world.spin_until(lambda: np.abs(robot.positions() - start_positions).max() > 1e-3, 10.0, "robot motion")
    world.spin_until(lambda: rec["status"].last.chunks_published >= 3, 5.0, "status counting chunks")
    latency = rec["status"].last.latency
    assert latency.total > 0 and latency.observation_forward > 0 and latency.action_steps > 0


def test_first_point_is_velocity_capped_from_the_measured_position(rig):
    world, node, robot, client, rec, instruct = rig
    # the trajectory starts at most one period before the measured time: |p0 - q| <= vmax * dt
    # (plus what the robot moved since the measurement, bounded by the same limit)
    ctrl = SPEC.trajectory_controllers[0]
    _, _, vmax = SPEC.limits(ctrl.joints)
    rec[ctrl.name].clear()
    world.spin_until(lambda: len(rec[ctrl.name]) >= 1, 10.0, "a trajectory")
    traj = rec[ctrl.name].last
    p0 = np.asarray(traj.points[0].positions)
    q = robot.positions()[[SPEC.joint_names.index(j) for j in ctrl.joints]]
    assert np.all(np.abs(p0 - q) <= 3 * vmax * DT + 1e-6)


def test_a_new_instruction_takes_effect_at_the_next_replan(rig):
    world, node, robot, client, rec, instruct = rig
    before = len(rec["chunk"])
    instruct("open the drawer")
    world.spin_until(lambda: any(c.instruction == "open the drawer" for c in rec["chunk"].all()), 30.0,
                     "a chunk for the new instruction")
    chunks = rec["chunk"].all()
    first_new = next(i for i, c in enumerate(chunks) if c.instruction == "open the drawer")
    assert first_new >= before
    assert [c.sequence for c in chunks] == list(range(len(chunks)))  # no chunk skipped
    assert all(c.instruction == "pick up the red cube" for c in chunks[:first_new])
    world.spin_until(lambda: rec["status"].last.instruction == "open the drawer", what="status instruction")


def test_base_velocity_stream_follows_the_chunk(rig):
    world, node, robot, client, rec, instruct = rig
    rec["twist"].clear()
    world.spin_until(lambda: len(rec["twist"]) >= 10, 10.0, "twists")
    chunk = rec["chunk"].last
    actions = np.asarray(chunk.actions).reshape(chunk.horizon, 16)
    sent = np.array([[t.twist.linear.x, t.twist.angular.z] for t in rec["twist"].all()])
    # every velocity sent is one of the chunks' base actions (or zero between chunks)
    allowed = np.concatenate([np.asarray(c.actions).reshape(c.horizon, 16)[:, 14:]
                              for c in rec["chunk"].all()])
    for v in sent:
        assert np.any(np.all(np.abs(allowed - v) < ACTION_ATOL, axis=1)) or np.all(v == 0), v
    assert actions.shape[1] == 16


def test_an_empty_instruction_holds(rig):
    world, node, robot, client, rec, instruct = rig
    instruct("")
    world.spin_until(lambda: rec["status"].last.instruction == "" and rec["status"].last.holding, 10.0,
                     "holding status")
    n = len(rec["chunk"])
    world.spin_for(1.0)
    assert len(rec["chunk"]) == n
    # the last command per controller is a one-point hold at the measured position
    for ctrl in SPEC.trajectory_controllers:
        hold = rec[ctrl.name].last
        assert len(hold.points) == 1 and time_to_sec(hold.header.stamp) == 0.0
    world.spin_until(lambda: rec["twist"].last.twist.linear.x == 0.0, 5.0, "zero twist")


def test_no_chunk_while_inactive(rig):
    world, node, robot, client, rec, instruct = rig
    assert change_state(world, client, "pi0_policy", Transition.TRANSITION_DEACTIVATE)
    instruct("stack the blocks")
    world.spin_until(lambda: rec["status"].last.instruction == "stack the blocks", 10.0, "instruction stored")
    n = len(rec["chunk"])
    world.spin_for(1.0)
    assert len(rec["chunk"]) == n and rec["status"].last.lifecycle_state == "inactive"
    assert change_state(world, client, "pi0_policy", Transition.TRANSITION_ACTIVATE)
    world.spin_until(lambda: len(rec["chunk"]) > n, 30.0, "chunks after re-activation")
    assert rec["chunk"].last.sequence == 0 and rec["chunk"].last.instruction == "stack the blocks"
