"""The ``~/execute_instruction`` action over real DDS (rclpy.action client ↔ the node's server):
goal → feedback → result, a two-step sequence, cancel and preemption (both hold the robot), a
step that times out, and a rejected goal. The policy is a fast deterministic BasePolicy (the
action's bookkeeping is the subject; the model runs in test_node_chunks/test_node_rtc)."""
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from node_support import Recorder, RobotInputs, RosWorld, change_state
from pi0_hw_interfaces.embodiment import load_embodiment
from rclpy.action import ActionClient
from rclpy.parameter import Parameter
from trajectory_msgs.msg import JointTrajectory

from pi0_msgs.action import ExecuteInstruction
from pi0_msgs.msg import ActionChunk, InstructionStep
from pi0_policy.policy.base import BasePolicy
from pi0_policy.ros.execute_action import parse_stop_condition
from pi0_policy.ros.policy_node import PolicyNode

SPEC = load_embodiment("franka")
ARM = SPEC.trajectory_controllers[0]
Result = ExecuteInstruction.Result


class StayPolicy(BasePolicy):
    """Every action = the current state (model space = robot space for franka's arm)."""

    def infer(self, obs):
        return {"actions": np.repeat(obs["state"][None, :], 50, axis=0).astype(np.float32), "timing": {}}

    @property
    def metadata(self):
        return {"state_dim": SPEC.state_dim, "action_dim": SPEC.action_dim, "horizon": 50,
                "image_keys": ["base_0_rgb", "left_wrist_0_rgb"], "config": "stay"}


@pytest.fixture(scope="module")
def rig():
    world = RosWorld()
    params = dict(embodiment=SPEC.name, checkpoint="(stay policy)", replan_interval=5, warmup=False)
    node = world.add(PolicyNode("act_policy", context=world.context, policy_factory=lambda p: StayPolicy(),
                                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    client = world.add(rclpy.create_node("act_client", context=world.context))
    RobotInputs(client, SPEC)
    rec = {"chunk": Recorder(client, ActionChunk, "/act_policy/action_chunk"),
           "arm": Recorder(client, JointTrajectory, ARM.topic)}
    action = ActionClient(client, ExecuteInstruction, "/act_policy/execute_instruction")
    assert change_state(world, client, "act_policy", Transition.TRANSITION_CONFIGURE)
    assert change_state(world, client, "act_policy", Transition.TRANSITION_ACTIVATE)
    world.spin_until(lambda: action.server_is_ready(), 10.0, "the action server")
    yield world, node, rec, action
    world.close()


def send(world, action, steps, feedback=None):
    goal = ExecuteInstruction.Goal(steps=[InstructionStep(instruction=t, max_duration=d, stop_condition=c)
                                          for t, d, c in steps])
    future = action.send_goal_async(goal, feedback_callback=feedback)
    world.spin_until(future.done, 10.0, "goal response")
    return future.result()


def result_of(world, handle, timeout=30.0):
    future = handle.get_result_async()
    world.spin_until(future.done, timeout, "goal result")
    return future.result().result


def holds(rec, after):
    """Hold trajectories (one point) on the arm topic among the messages from index ``after`` on."""
    return [m for m in rec["arm"].all()[after:] if len(m.points) == 1]


def test_goal_feedback_and_result(rig):
    world, node, rec, action = rig
    feedback = []
    handle = send(world, action, [("pick up the cube", 30.0, "chunks:3")], lambda m: feedback.append(m.feedback))
    assert handle.accepted
    n_arm = len(rec["arm"])
    result = result_of(world, handle)
    assert result.outcome == Result.SUCCEEDED and result.steps_completed == 1
    assert result.chunks_executed >= 3 and result.elapsed > 0
    assert feedback and feedback[-1].instruction == "pick up the cube"
    assert [f.chunks_executed for f in feedback] == sorted(f.chunks_executed for f in feedback)
    assert max(f.latency for f in feedback) > 0
    world.spin_until(lambda: holds(rec, n_arm), 5.0, "a hold after success")
    assert node.status_report().instruction == ""


def test_two_step_sequence_runs_both_instructions_in_order(rig):
    world, node, rec, action = rig
    rec["chunk"].clear()
    handle = send(world, action, [("open the drawer", 0.6, ""), ("close the drawer", 30.0, "chunks:2")])
    result = result_of(world, handle)
    assert result.outcome == Result.SUCCEEDED and result.steps_completed == 2
    said = [c.instruction for c in rec["chunk"].all()]
    assert "open the drawer" in said and "close the drawer" in said
    assert said.index("close the drawer") > max(i for i, s in enumerate(said) if s == "open the drawer")


def test_cancel_holds_the_robot(rig):
    world, node, rec, action = rig
    handle = send(world, action, [("wipe the table", 60.0, "")])
    n = len(rec["chunk"])
    world.spin_until(lambda: len(rec["chunk"]) >= n + 2, 20.0, "chunks before the cancel")
    n_arm = len(rec["arm"])
    cancel = handle.cancel_goal_async()
    world.spin_until(cancel.done, 10.0, "cancel response")
    result = result_of(world, handle)
    assert result.outcome == Result.CANCELLED
    world.spin_until(lambda: holds(rec, n_arm), 5.0, "a hold after the cancel")
    assert node.status_report().instruction == ""


def test_a_new_goal_preempts_and_holds(rig):
    world, node, rec, action = rig
    first = send(world, action, [("stack the blocks", 60.0, "")])
    n = len(rec["chunk"])
    world.spin_until(lambda: len(rec["chunk"]) >= n + 1, 20.0, "a chunk of the first goal")
    n_arm = len(rec["arm"])
    second = send(world, action, [("sort the parts", 30.0, "chunks:2")])
    assert second.accepted
    assert result_of(world, first).outcome == Result.PREEMPTED
    world.spin_until(lambda: holds(rec, n_arm), 5.0, "a hold at preemption")
    result = result_of(world, second)
    assert result.outcome == Result.SUCCEEDED
    assert rec["chunk"].last.instruction == "sort the parts"


def test_a_step_that_misses_its_condition_times_out(rig):
    world, node, rec, action = rig
    result = result_of(world, send(world, action, [("count to a million", 0.5, "chunks:100000")]))
    assert result.outcome == Result.TIMED_OUT and "chunks:100000" in result.message


def test_bad_goals_are_rejected(rig):
    world, node, rec, action = rig
    assert not send(world, action, []).accepted
    assert not send(world, action, [("reach", 0.0, "")]).accepted
    assert not send(world, action, [("reach", 5.0, "until done")]).accepted
    with pytest.raises(ValueError, match="'until done' is not understood.*chunks:N"):
        parse_stop_condition("until done")
    assert parse_stop_condition(" chunks:3 ") == 3


def pi0_command():
    exe = shutil.which("pi0")
    return [exe] if exe else [sys.executable, "-m", "pi0_bringup.cli"]


def test_pi0_run_is_a_client_of_the_action(rig):
    world, node, rec, action = rig
    proc = subprocess.Popen(pi0_command() + ["run", "pour the water", "--timeout", "30", "--until", "chunks:2",
                                             "--node", "/act_policy", "--wait", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    world.spin_until(lambda: proc.poll() is not None, 90.0, "pi0 run to finish")
    out = proc.stdout.read()
    assert proc.returncode == 0, out
    assert "step 1/1: 'pour the water'" in out and "pi0 run: succeeded: 1 step(s) done (1/1 steps" in out


def test_pi0_run_rejects_a_bad_stop_condition():
    result = subprocess.run(pi0_command() + ["run", "reach", "--until", "forever"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "--until: stop_condition 'forever' is not understood" in result.stdout


def test_once_the_new_goal_runs_no_chunk_of_the_old_instruction_follows(rig):
    """After a preemption the chunks switch to the new instruction for good (a chunk computed for
    the old one while the new goal arrived is dropped by the node, not published late)."""
    world, node, rec, action = rig
    first = send(world, action, [("stack the cups", 60.0, "")])
    n = len(rec["chunk"])
    world.spin_until(lambda: len(rec["chunk"]) >= n + 1, 20.0, "a chunk of the first goal")
    n = len(rec["chunk"])
    second = send(world, action, [("unstack the cups", 30.0, "chunks:3")])
    assert result_of(world, first).outcome == Result.PREEMPTED
    assert result_of(world, second).outcome == Result.SUCCEEDED
    said = [c.instruction for c in rec["chunk"].all()[n:]]
    first_new = said.index("unstack the cups")
    assert set(said[first_new:]) == {"unstack the cups"}
