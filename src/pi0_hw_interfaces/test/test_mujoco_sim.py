"""The MuJoCo ALOHA simulator node over real DDS: following in physics, rendered cameras, seeded
resets, and a scripted episode's success detected on ~/task.

Tolerances: the MJCF's position actuators (kp 10..1600, joint friction loss) track a target with a
steady-state error under gravity; measured ≤ 0.02 rad here, asserted ≤ 0.05 rad.
"""
import json

import numpy as np
import pytest
from hw_test_support import params, positions_by_name, probe, start_node, trajectory  # noqa: F401
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from pi0_hw_interfaces.mujoco_sim.expert_node import ExpertNode
from pi0_hw_interfaces.mujoco_sim.node import MujocoSimNode
from pi0_hw_interfaces.mujoco_sim.scene import sample_objects

TRACK_ATOL = 0.05
LEFT_ARM = "follower_left_arm_controller/joint_trajectory"
RIGHT_ARM = "follower_right_arm_controller/joint_trajectory"


def start_sim(ros_context, executor, **overrides):
    return start_node(MujocoSimNode, ros_context, executor, **{"camera_rate_hz": 0.0, **overrides})


def test_follows_a_trajectory_in_physics(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor)
    states = probe.listen(JointState, "joint_states")
    pub = probe.publisher(JointTrajectory, LEFT_ARM)
    spin_until(executor, lambda: probe.connected(LEFT_ARM) and len(states) > 2, 10.0, "the simulator")
    joints = sim.spec.controllers[0].joints
    start = positions_by_name(states[-1])
    np.testing.assert_allclose([start[j] for j in joints], [0, -0.96, 1.16, 0, -0.3, 0], atol=TRACK_ATOL)
    goal = [0.4, -0.6, 0.8, 0.3, -0.1, 0.5]
    pub.publish(trajectory(joints, [1.0], [goal]))
    t_sent = probe.now()
    spin_until(executor, lambda: states[-1].header.stamp.sec + states[-1].header.stamp.nanosec * 1e-9 > t_sent + 2.0,
               20.0, "two seconds of joint_states")
    final = positions_by_name(states[-1])
    np.testing.assert_allclose([final[j] for j in joints], goal, atol=TRACK_ATOL)
    assert abs(final["follower_right_waist"]) < TRACK_ATOL  # the other arm held its pose
    mid = [m for m in states if 0.3 < m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 - t_sent < 0.7]
    assert mid, "no joint_states during the motion"
    waist = [positions_by_name(m)["follower_left_waist"] for m in mid]
    # Gradual: moving, and not yet at the goal (0.4) 0.3-0.7 s into a 1 s trajectory.
    assert max(waist) > 0.02 and max(waist) < 0.38, f"the waist did not move gradually: {waist}"
    assert sim.rejected == []


def test_cameras_render_and_change_when_an_arm_moves(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, camera_rate_hz=10.0, image_width=64, image_height=48)
    topics = {c.role: c.topic for c in sim.spec.cameras}
    images = {role: probe.listen(Image, topic) for role, topic in topics.items()}
    pub = probe.publisher(JointTrajectory, RIGHT_ARM)
    spin_until(executor, lambda: probe.connected(RIGHT_ARM) and all(images.values()), 20.0, "images on every camera")
    as_array = lambda m: np.frombuffer(bytes(m.data), np.uint8).reshape(48, 64, 3).astype(int)  # noqa: E731
    first = {role: msgs[-1] for role, msgs in images.items()}
    assert (first["base"].width, first["base"].height, first["base"].encoding) == (64, 48, "rgb8")
    assert first["base"].header.frame_id == "base_camera"
    assert as_array(first["base"]).std() > 10, "the top camera image is flat"
    assert np.abs(as_array(first["left_wrist"]) - as_array(first["base"])).mean() > 5  # different views
    joints = sim.spec.controllers[2].joints
    pub.publish(trajectory(joints, [0.5], [[0.6, -0.4, 0.5, 0.0, 0.3, 0.0]]))
    n = {role: len(msgs) for role, msgs in images.items()}
    spin_until(executor, lambda: all(len(images[r]) > n[r] + 8 for r in images), 30.0, "images after the motion")
    assert np.abs(as_array(images["base"][-1]) - as_array(first["base"])).mean() > 1.0, "top view unchanged"
    assert np.abs(as_array(images["right_wrist"][-1]) - as_array(first["right_wrist"])).mean() > 1.0


def test_reset_with_a_seed_is_reproducible(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, task="insertion", seed=1)
    client = probe.node.create_client(Trigger, "mujoco_sim/reset")
    spin_until(executor, client.service_is_ready, 10.0, "the reset service")

    def reset(seed):
        sim.set_parameters([Parameter("seed", value=seed)])
        future = client.call_async(Trigger.Request())
        spin_until(executor, future.done, 10.0, f"reset to seed {seed}")
        assert future.result().success, future.result().message
        return json.loads(future.result().message)

    first, other, again = reset(11), reset(12), reset(11)
    expected = [p.round(6).tolist() for p in sample_objects("insertion", 11)]
    assert first["objects"] == again["objects"] == expected
    assert other["objects"] != first["objects"]
    assert (first["seed"], again["episode"] - first["episode"], again["time"], again["max_reward"]) == (11, 2, 0.0, 0)
    peg, _ = sim.scene.body_pose("peg")
    np.testing.assert_allclose(peg, expected[0][:3], atol=1e-6)  # the physics was reset too
    task = probe.listen(String, "mujoco_sim/task")
    spin_until(executor, lambda: task and json.loads(task[-1].data)["episode"] == again["episode"], 5.0, "~/task")
    assert json.loads(task[-1].data)["objects"] == expected


def test_scripted_transfer_cube_episode_succeeds_over_ros(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, task="transfer_cube", seed=0, max_catchup_s=1.0)
    expert = ExpertNode(context=ros_context)
    executor.add_node(expert)
    task = probe.listen(String, "mujoco_sim/task")
    spin_until(executor, lambda: expert.plan is not None, 20.0, "the expert to plan the episode")
    spin_until(executor, lambda: task and json.loads(task[-1].data)["success"], 60.0,
               "the transfer to succeed (reward 4 on ~/task)")
    info = json.loads(task[-1].data)
    assert info["max_reward"] == 4 and info["seed"] == 0
    assert sim.rejected == []
    spin_until(executor, lambda: expert.results, 30.0, "the expert's result")
    assert expert.results[-1]["success"] is True


def test_bad_parameters_are_named(ros_context):
    with pytest.raises(ValueError, match=r"unknown task 'stack'"):
        MujocoSimNode(context=ros_context, parameter_overrides=params(task="stack"))
    with pytest.raises(KeyError, match="has no MJCF joint"):
        MujocoSimNode(context=ros_context, parameter_overrides=params(embodiment="ur5e"))


def test_without_gl_the_cameras_stop_with_one_error_and_the_robot_runs(tmp_path):
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "MUJOCO_GL": "glfw"}
    env.pop("DISPLAY", None)  # glfw without a display cannot make a GL context
    log = tmp_path / "sim.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pi0_hw_interfaces.mujoco_sim.node", "--ros-args",
                                 "-p", "camera_rate_hz:=5.0", "-p", "image_width:=32", "-p", "image_height:=24"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "camera rendering failed" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, f"the node exited: {log.read_text()[-2000:]}"
                time.sleep(0.2)
            time.sleep(1.0)
            assert proc.poll() is None, f"the node exited: {log.read_text()[-2000:]}"
        finally:
            proc.terminate()
            proc.wait(10)
    text = log.read_text()
    assert "camera rendering failed with MUJOCO_GL='glfw'" in text and "cameras disabled" in text
    assert text.count("camera rendering failed") == 1
