"""The simulators serve resets and trajectories while their timers are always due, on the
multi-threaded executor that `pi0 bringup` and `pi0 eval` spin every node on.

rclpy's (Jazzy) executor hands out a node's ready timers before its subscriptions, and in one
mutually exclusive callback group the first one handed out runs while the others wait for the
next round: a timer that was due again whenever it finished kept the subscriptions of its group
from running (mujoco_sim: resets answered after 4 s, then not within 10 s, on a loaded CI
machine; sim_robot: trajectories delivered up to 1.6 s late). Here the timers are always due by
their rate: mujoco_sim renders its cameras (small images) in every physics tick of simulated
time, holding the physics, and publishes ~/task at 1 kHz; sim_robot renders at 1 kHz. Whether
the old layout then misses a request is a race (it did on a loaded machine, not on every run):
what makes it impossible, each timer alone in its callback group, is asserted as well.
"""
import json

import numpy as np
import pytest
from hw_test_support import BackgroundSpin, Probe, params, trajectory, wait
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from pi0_hw_interfaces.mujoco_sim.node import MujocoSimNode
from pi0_hw_interfaces.ros_time import sec_to_time
from pi0_hw_interfaces.sim_robot import SimRobotNode
from pi0_hw_interfaces.tasks.episode import TASK_QOS

ALWAYS_DUE_HZ = 1000.0


@pytest.fixture
def spin(ros_context):
    spin = BackgroundSpin(ros_context)
    yield spin
    spin.close()


def start(spin, ros_context, node_class, sim_name, **values):
    """(sim, probe publishing reset requests, the ~/task states received), spinning."""
    sim = node_class(context=ros_context, parameter_overrides=params(**values))
    probe = Probe(ros_context, spin.executor)
    states = []
    probe.node.create_subscription(String, f"{sim_name}/task", lambda m: states.append(json.loads(m.data)), TASK_QOS)
    spin.add(sim)
    spin.start()
    probe.publisher(String, f"{sim_name}/reset_task")
    wait(lambda: probe.connected(f"{sim_name}/reset_task"), what=f"{sim_name}/reset_task subscribed")
    return sim, probe, states


def assert_timers_alone(node) -> None:
    """Each timer in a callback group of its own; none shared with a subscription or service."""
    timers = [id(t.callback_group) for t in node.timers]
    commands = {id(e.callback_group) for e in [*node.subscriptions, *node.services]}
    assert len(set(timers)) == len(timers) and not set(timers) & commands


def request(probe, sim_name, states, body: dict, error: bool = False) -> dict:
    """Publish reset request `body`; the ~/task state that answers it: its confirmation (its id),
    or with `error` its error report (its id as error_id)."""
    probe.publisher(String, f"{sim_name}/reset_task").publish(String(data=json.dumps(body)))
    key = "error_id" if error else "id"
    answer = lambda s: s.get(key) == body["id"] and ("error" in s) == error  # noqa: E731
    wait(lambda: any(answer(s) for s in states[-50:]), what=f"the answer to {body}")
    return next(s for s in reversed(states) if answer(s))


def test_mujoco_sim_serves_resets_and_trajectories_while_its_timers_are_always_due(spin, ros_context):
    sim, probe, states = start(spin, ros_context, MujocoSimNode, "mujoco_sim", publish_clock=True,
                               camera_rate_hz=50.0, image_width=64, image_height=48,
                               task_rate_hz=ALWAYS_DUE_HZ)
    assert_timers_alone(sim)
    for seed in range(3):
        state = request(probe, "mujoco_sim", states, {"task": "transfer_cube", "seed": seed, "id": f"r{seed}"})
        assert state["seed"] == seed and state["episode"] == seed + 1
        bad = request(probe, "mujoco_sim", states, {"task": "stack", "seed": seed, "id": f"bad{seed}"}, error=True)
        assert "unknown task 'stack'" in bad["error"] and bad["episode"] == seed + 1
    # a trajectory is taken in (rejected here for its stamp: planned before the last reset)
    controller = sim.spec.trajectory_controllers[0]
    pub = probe.publisher(JointTrajectory, controller.topic)
    wait(lambda: probe.connected(controller.topic), what="the trajectory subscription")
    pub.publish(trajectory(controller.joints, [0.5], [[0.0] * len(controller.joints)],
                           stamp=sec_to_time(state["reset_stamp"] - 1.0)))
    wait(lambda: sim.rejected, what="the stale trajectory's rejection")
    assert sim.rejected[0].startswith(f"{controller.name}: stamped 1.000 s before the last reset")
    assert sim.camera_every == 1  # every tick rendered the cameras


def test_sim_robot_serves_resets_and_trajectories_while_its_camera_timer_is_always_due(spin, ros_context):
    sim, probe, states = start(spin, ros_context, SimRobotNode, "sim_robot", embodiment="ur5e",
                               camera_rate_hz=ALWAYS_DUE_HZ)
    assert_timers_alone(sim)
    for seed in range(20):  # each one answered (on the old single callback group: 1 in ~8 took > 10 s)
        state = request(probe, "sim_robot", states, {"task": "ur5e_reach", "seed": seed, "id": f"r{seed}"})
        assert state["seed"] == seed and state["task"] == "ur5e_reach"
    controller = sim.spec.trajectory_controllers[0]
    pub = probe.publisher(JointTrajectory, controller.topic)
    wait(lambda: probe.connected(controller.topic), what="the trajectory subscription")
    index = [list(sim.spec.joint_names).index(j) for j in controller.joints]
    goal = sim.positions()[index] + 0.05
    pub.publish(trajectory(controller.joints, [0.2], [goal]))
    wait(lambda: np.allclose(sim.positions()[index], goal, atol=1e-9), what="the arm at the trajectory's end")
    assert sim.rejected == []
