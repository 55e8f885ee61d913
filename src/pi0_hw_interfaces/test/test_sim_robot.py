"""The simulated robot over real DDS: following, limits, rejections, base odometry, cameras.

Positions are checked against the linear interpolation at each joint_states message's own
stamp: the simulator steps and stamps with the same clock reading, so the comparison is exact
whatever the scheduling delays.
"""
import math

import numpy as np
import pytest
from geometry_msgs.msg import TwistStamped
from hw_test_support import params, positions_by_name, probe, stamp_s, trajectory  # noqa: F401
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from pi0_hw_interfaces.ros_time import sec_to_time as stamp_msg
from pi0_hw_interfaces.sim_robot import SimRobotNode

ATOL = 1e-9  # same clock reading for the step and the stamp: only float rounding remains
UR_ARM = "scaled_joint_trajectory_controller/joint_trajectory"


def start_sim(ros_context, executor, **overrides):
    values = {"camera_rate_hz": 0.0, **overrides}
    sim = SimRobotNode(context=ros_context, parameter_overrides=params(**values))
    executor.add_node(sim)
    return sim


def wait_connected(executor, probe, spin_until, topic, states):
    spin_until(executor, lambda: probe.connected(topic) and len(states) > 0, 10.0,
               f"sim_robot to subscribe {topic} and publish joint_states")


def test_follows_a_trajectory_by_linear_interpolation(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, embodiment="ur5e")
    states = probe.listen(JointState, "joint_states")
    pub = probe.publisher(JointTrajectory, UR_ARM)
    wait_connected(executor, probe, spin_until, UR_ARM, states)
    joints = sim.spec.controllers[0].joints
    current = [positions_by_name(states[-1])[j] for j in joints]
    assert current == [0.0] * 6
    mid, end = [0.1, -0.2, 0.3, 0.1, -0.1, 0.2], [0.3, -0.4, 0.5, -0.2, 0.2, 0.6]
    start = probe.now() + 0.2  # a stamped start: the whole motion is known in advance
    pub.publish(trajectory(joints, [0.0, 0.4, 0.8], [current, mid, end], stamp=stamp_msg(start)))
    spin_until(executor, lambda: stamp_s(states[-1].header.stamp) > start + 0.9, 10.0, "the motion to end")
    knots = start + np.array([0.0, 0.4, 0.8])
    checked = 0
    for msg in states:
        t = stamp_s(msg.header.stamp)
        got = [positions_by_name(msg)[j] for j in joints]
        expected = [np.interp(t, knots, [c, m, e]) for c, m, e in zip(current, mid, end)]
        np.testing.assert_allclose(got, expected, atol=ATOL, err_msg=f"at {t - start:+.3f} s from start")
        checked += start <= t <= start + 0.8
    assert checked >= 3, "too few joint_states during the motion to check it"
    assert positions_by_name(states[-1])["robotiq_85_left_knuckle_joint"] == 0.0  # other controller idle
    assert sim.rejected == []


def test_targets_are_clamped_and_velocity_capped(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, embodiment="franka")
    spec = sim.spec
    states = probe.listen(JointState, "joint_states")
    arm, gripper = (probe.publisher(JointTrajectory, c.topic) for c in spec.controllers)
    wait_connected(executor, probe, spin_until, spec.controllers[1].topic, states)
    arm_joints = spec.controllers[0].joints
    beyond = [5.0, 5.0, -5.0, 5.0, 5.0, -5.0, 5.0]
    arm.publish(trajectory(arm_joints, [1.0], [beyond]))
    gripper.publish(trajectory(["fr3_finger_joint1"], [0.1], [[-1.0]]))  # 10 m/s asked, 0.05 allowed
    names = spec.joint_names
    lower, upper, vmax = spec.limits(names)
    final = spec.clamp(names, beyond + [-1.0])

    def at_final():
        return np.allclose([positions_by_name(states[-1])[n] for n in names], final, atol=1e-12)

    spin_until(executor, at_final, 10.0, f"the joints to reach their limits {final.tolist()}")
    pos = np.array([[positions_by_name(m)[n] for n in names] for m in states])
    t = np.array([stamp_s(m.header.stamp) for m in states])
    assert np.all(pos >= lower - 1e-12) and np.all(pos <= upper + 1e-12)
    speed = np.abs(np.diff(pos, axis=0)) / np.diff(t)[:, None]
    assert np.all(speed <= vmax * (1 + 1e-6)), f"velocity cap exceeded: {speed.max(axis=0)} > {vmax}"
    assert speed[:, 0].max() == pytest.approx(vmax[0])  # joint 1 was asked 5 rad/s: moved at its cap
    assert sim.rejected == []


BAD = [
    ("unknown joints", lambda j, now: trajectory([*j[:-1], "wrist_3"], [1.0], [[0.1] * 6]),
     "unknown joints ['wrist_3']"),
    ("non-increasing times", lambda j, now: trajectory(j, [0.5, 0.5], [[0.1] * 6, [0.2] * 6]),
     "time_from_start must strictly increase"),
    ("NaN", lambda j, now: trajectory(j, [0.5], [[0.1, math.nan, 0.1, 0.1, 0.1, 0.1]]),
     "joint 'shoulder_lift_joint' has non-finite position nan"),
    ("wrong length", lambda j, now: trajectory(j, [0.5], [[0.1] * 5]),
     "point 0 has 5 positions for 6 joints"),
    ("in the past", lambda j, now: trajectory(j, [1.0], [[0.1] * 6], stamp=stamp_msg(now - 10.0)),
     "in the past"),
    ("partial", lambda j, now: trajectory(j[:3], [1.0], [[0.1] * 3]), "missing (partial goals"),
]


def test_bad_trajectories_are_rejected_with_a_reason_and_no_motion(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, embodiment="ur5e")
    states = probe.listen(JointState, "joint_states")
    reasons = probe.listen(String, "sim_robot/rejected", latched=True)
    pub = probe.publisher(JointTrajectory, UR_ARM)
    wait_connected(executor, probe, spin_until, UR_ARM, states)
    joints = sim.spec.controllers[0].joints
    for i, (what, make, reason) in enumerate(BAD):
        pub.publish(make(joints, probe.now()))
        spin_until(executor, lambda: len(reasons) > i, 5.0, f"the rejection of a trajectory with {what}")
        assert reasons[i].data.startswith("scaled_joint_trajectory_controller: ")
        assert reason in reasons[i].data, f"{what}: {reasons[i].data}"
    n = len(states)
    spin_until(executor, lambda: len(states) >= n + 3, 5.0, "joint_states after the rejections")
    assert all(p == 0.0 for m in states for p in m.position), "a rejected trajectory moved the robot"
    assert len(sim.rejected) == len(BAD)


def test_base_velocity_integrates_into_odometry(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, embodiment="mobile_trossen")
    odom = probe.listen(Odometry, "odom")
    cmd_topic = sim.spec.base_controller.topic
    pub = probe.publisher(TwistStamped, cmd_topic)
    spin_until(executor, lambda: probe.connected(cmd_topic) and odom, 10.0, "the base to connect")

    def drive(vx, wz, seconds):
        cmd = TwistStamped()
        cmd.twist.linear.x, cmd.twist.angular.z = vx, wz
        end = probe.now() + seconds
        while probe.now() < end:
            pub.publish(cmd)
            executor.spin_once(timeout_sec=0.02)

    drive(5.0, 0.0, 0.4)  # beyond max_linear (1.6 m/s): capped
    spin_until(executor, lambda: odom[-1].twist.twist.linear.x > 0, 5.0, "the base to move")
    drive(0.0, 1.0, 0.3)
    twist = lambda: odom[-1].twist.twist  # noqa: E731
    spin_until(executor, lambda: twist().angular.z == 0.0 and twist().linear.x == 0.0, 5.0,
               "the base to stop once the commands went stale")
    n = len(odom)
    spin_until(executor, lambda: len(odom) > n + 2, 5.0, "odometry after stopping")
    speeds = {round(m.twist.twist.linear.x, 9) for m in odom}
    assert speeds <= {0.0, 1.6}, f"linear speed not capped to 1.6 m/s: {speeds}"
    x = [m.pose.pose.position.x for m in odom]
    yaw = [2 * math.atan2(m.pose.pose.orientation.z, m.pose.pose.orientation.w) for m in odom]
    t = [stamp_s(m.header.stamp) for m in odom]
    for i in range(1, len(odom)):  # each step integrates the velocity it reports over its interval
        dt = t[i] - t[i - 1]
        v, w = odom[i].twist.twist.linear.x, odom[i].twist.twist.angular.z
        assert w == 0.0 or v == 0.0
        assert x[i] - x[i - 1] == pytest.approx(v * math.cos(yaw[i - 1]) * dt, abs=1e-9)
        assert yaw[i] - yaw[i - 1] == pytest.approx(w * dt, abs=1e-9)
    assert x[-1] > 0.1 and yaw[-1] > 0.05
    assert x[-1] == x[-3] and yaw[-1] == yaw[-3]  # stopped


def test_holonomic_base_moves_sideways(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, embodiment="mobile_fibocom")
    odom = probe.listen(Odometry, "odom")
    topic = sim.spec.base_controller.topic
    assert topic == "base_controller/reference"
    pub = probe.publisher(TwistStamped, topic)
    spin_until(executor, lambda: probe.connected(topic) and odom, 10.0, "the base to connect")
    cmd = TwistStamped()
    cmd.twist.linear.y = 0.3

    def moved():
        pub.publish(cmd)
        return odom[-1].pose.pose.position.y > 0.02

    spin_until(executor, moved, 5.0, "the base to move along y")
    assert odom[-1].pose.pose.position.x == 0.0 and odom[-1].twist.twist.linear.y == pytest.approx(0.3)


def test_camera_images_change_when_the_robot_moves(ros_context, executor, probe, spin_until):
    sim = start_sim(ros_context, executor, embodiment="ur5e", camera_rate_hz=30.0, image_width=32,
                    image_height=24)
    base = probe.listen(Image, "camera_base/camera/color/image_raw")
    wrist = probe.listen(Image, "camera_wrist/camera/color/image_raw")
    states = probe.listen(JointState, "joint_states")
    pub = probe.publisher(JointTrajectory, UR_ARM)
    wait_connected(executor, probe, spin_until, UR_ARM, states)
    spin_until(executor, lambda: base and wrist, 10.0, "camera images")
    before = base[-1]
    assert (before.width, before.height, before.encoding, before.step) == (32, 24, "rgb8", 96)
    assert len(before.data) == 32 * 24 * 3
    assert bytes(before.data) != bytes(wrist[-1].data)  # cameras differ
    joints = sim.spec.controllers[0].joints
    pub.publish(trajectory(joints, [0.3], [[1.0, -1.0, 1.0, 1.0, 1.0, 1.0]]))
    spin_until(executor, lambda: positions_by_name(states[-1])["shoulder_pan_joint"] == 1.0, 10.0,
               "the arm to reach its target")
    n = len(base)
    spin_until(executor, lambda: len(base) > n + 1, 5.0, "images after the motion")
    after = np.frombuffer(bytes(base[-1].data), np.uint8).reshape(24, 32, 3)
    assert not np.array_equal(after, np.frombuffer(bytes(before.data), np.uint8).reshape(24, 32, 3))


def test_parameters_are_validated_and_initial_positions_clamped(ros_context, executor):
    with pytest.raises(ValueError, match=r"initial_positions has 2 values for 7 joints"):
        SimRobotNode(context=ros_context,
                     parameter_overrides=params(embodiment="ur5e", initial_positions=[0.1, 0.2]))
    with pytest.raises(KeyError, match="did you mean 'franka'"):
        SimRobotNode(context=ros_context, parameter_overrides=params(embodiment="frank"))
    sim = start_sim(ros_context, executor, embodiment="franka",
                    initial_positions=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 9.0, 0.02])
    np.testing.assert_allclose(sim.positions(), [0.1, 0.2, 0.3, -0.1518, 0.5, 0.6, 3.0159, 0.02])
    default = SimRobotNode("sim_robot_2", context=ros_context, parameter_overrides=params(embodiment="aloha"))
    executor.add_node(default)
    positions = dict(zip(default.spec.joint_names, default.positions()))
    assert positions["follower_left_gripper"] == 1.4910 and positions["follower_left_waist"] == 0.0
