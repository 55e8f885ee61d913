"""trajectory_bridge over real DDS: JointState and Float64MultiArray streams, the base's stale stop."""
import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from hw_test_support import params, probe, stamp_s, trajectory  # noqa: F401
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from pi0_hw_interfaces.bridge import TrajectoryBridgeNode
from pi0_hw_interfaces.ros_time import sec_to_time as stamp_msg

ATOL = 1e-9


def start_bridge(ros_context, executor, **overrides):
    bridge = TrajectoryBridgeNode(context=ros_context, parameter_overrides=params(**overrides))
    executor.add_node(bridge)
    return bridge


def feedback(probe, topic, names, positions):
    msg = JointState(name=list(names), position=[float(p) for p in positions])
    probe.publisher(JointState, topic).publish(msg)


def test_streams_joint_state_commands_following_a_trajectory(ros_context, executor, probe, spin_until):
    bridge = start_bridge(ros_context, executor, embodiment="bimanual_arx")
    spec = bridge.spec
    left = spec.controllers[0]
    assert (left.driver_topic, left.driver_msg_type) == ("left/joint_ctrl_single", "sensor_msgs/JointState")
    commands = probe.listen(JointState, "left/joint_ctrl_single")
    right_commands = probe.listen(JointState, "right/joint_ctrl_single")
    pub = probe.publisher(JointTrajectory, left.topic)
    assert left.driver_state_topic == "left/joint_states_single"
    probe.publisher(JointState, left.driver_state_topic)
    spin_until(executor, lambda: probe.connected(left.topic) and probe.connected(left.driver_state_topic),
               10.0, "the bridge to subscribe")
    current = [0.1, 0.5, -0.5, 0.0, 0.2, 0.0, 0.05]  # the Piper driver's feedback, in its joint names
    feedback(probe, left.driver_state_topic, left.driver_joint_names, current)
    spin_until(executor, lambda: bridge.arms[left.name].known, 5.0, "the bridge to take the feedback")
    target = [0.3, 0.8, -0.2, 0.4, -0.2, 0.5, 0.0]
    start = probe.now() + 0.1
    pub.publish(trajectory(left.joints, [0.0, 0.5], [current, target], stamp=stamp_msg(start)))
    spin_until(executor, lambda: commands and stamp_s(commands[-1].header.stamp) >= start + 0.5, 10.0,
               "the stream to reach the end of the trajectory")
    n = len(commands)
    for _ in range(10):
        executor.spin_once(timeout_sec=0.02)
    assert len(commands) == n, "streaming must stop once the last point is reached"
    knots = start + np.array([0.0, 0.5])
    for msg in commands:
        assert list(msg.name) == ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"]
        t = stamp_s(msg.header.stamp)
        expected = [np.interp(t, knots, [c, e]) for c, e in zip(current, target)]
        np.testing.assert_allclose(msg.position, expected, atol=ATOL, err_msg=f"at {t - start:+.3f} s")
    np.testing.assert_allclose(commands[-1].position, target, atol=ATOL)
    stamps = np.array([stamp_s(m.header.stamp) for m in commands])
    period = float(np.median(np.diff(stamps)))
    assert period == pytest.approx(spec.dt, rel=0.3), f"stream period {period:.4f} s, control {spec.dt} s"
    assert right_commands == []  # no trajectory for the right arm: nothing streamed


def test_streams_float64_multi_array_and_clamps(ros_context, executor, probe, spin_until):
    bridge = start_bridge(ros_context, executor, embodiment="mobile_fibocom", rate_hz=100.0)
    left = bridge.spec.controllers[0]
    assert left.driver_topic == "left_forward_position_controller/commands"
    commands = probe.listen(Float64MultiArray, left.driver_topic)
    pub = probe.publisher(JointTrajectory, left.topic)
    spin_until(executor, lambda: probe.connected(left.topic), 10.0, "the bridge to subscribe")
    # No feedback: the stream starts at the first point (logged), then follows, clamped to the limits.
    first = [0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.08]
    beyond = [0.0, 0.5, 9.0, 0.0, 0.0, 0.0, 0.08]  # joint3 upper limit 3.24 (arx5-sdk X5)
    pub.publish(trajectory(left.joints, [0.0, 0.2], [first, beyond]))
    lower, upper, vmax = bridge.spec.limits(left.joints)

    def reached():
        return commands and commands[-1].data[2] == pytest.approx(3.24)

    spin_until(executor, reached, 10.0, "joint3 to reach its upper limit")
    data = np.array([m.data for m in commands])
    assert data.shape[1] == 7
    np.testing.assert_allclose(data[0], first, atol=ATOL)
    assert np.all(data <= upper + 1e-12) and np.all(data >= lower - 1e-12)
    steps = np.abs(np.diff(data[:, 2]))
    assert steps.max() > 0 and np.all(np.diff(data[:, 2]) >= 0)  # monotonic towards the clamped target
    assert bridge.rejected == []


def test_rejects_bad_trajectories(ros_context, executor, probe, spin_until):
    bridge = start_bridge(ros_context, executor, embodiment="bimanual_arx")
    left = bridge.spec.controllers[0]
    commands = probe.listen(JointState, left.driver_topic)
    reasons = probe.listen(String, "trajectory_bridge/rejected", latched=True)
    pub = probe.publisher(JointTrajectory, left.topic)
    spin_until(executor, lambda: probe.connected(left.topic), 10.0, "the bridge to subscribe")
    pub.publish(trajectory(["joint1", *left.joints[1:]], [0.5], [[0.0] * 7]))
    spin_until(executor, lambda: reasons, 5.0, "the rejection")
    # joint_states feedback counts in spec joint names only (driver names are the same for both arms).
    probe.publisher(JointState, "joint_states")
    spin_until(executor, lambda: probe.connected("joint_states"), 10.0, "the joint_states subscription")
    right = bridge.arms["right_arm_controller"]
    feedback(probe, "joint_states", left.driver_joint_names, [0.3] * 7)
    feedback(probe, "joint_states", bridge.spec.controllers[1].joints, [0.2, 0.1, -0.1, 0.0, 0.0, 0.0, 0.01])
    spin_until(executor, lambda: right.known, 5.0, "the right arm to take its feedback")
    np.testing.assert_allclose(right.follower.positions, [0.2, 0.1, -0.1, 0.0, 0.0, 0.0, 0.01])
    assert not bridge.arms[left.name].known
    assert reasons[0].data.startswith("left_arm_controller: unknown joints ['joint1']")
    for _ in range(10):
        executor.spin_once(timeout_sec=0.01)
    assert commands == [] and bridge.rejected == [reasons[0].data]


def test_base_commands_are_capped_and_stop_when_stale(ros_context, executor, probe, spin_until):
    bridge = start_bridge(ros_context, executor, embodiment="mobile_trossen", stop_messages=3)
    base = bridge.spec.base_controller
    assert (base.driver_topic, base.driver_msg_type) == ("cmd_vel", "geometry_msgs/Twist")
    out = probe.listen(Twist, "cmd_vel")
    pub = probe.publisher(TwistStamped, base.topic)
    spin_until(executor, lambda: probe.connected(base.topic), 10.0, "the bridge to subscribe")
    cmd = TwistStamped()
    cmd.twist.linear.x, cmd.twist.angular.z = 9.0, -0.4  # 9 m/s capped to the base's 1.6 m/s
    pub.publish(cmd)
    spin_until(executor, lambda: sum(m.linear.x == 0.0 for m in out) >= 3, 5.0, "zero commands once stale")
    n = len(out)
    for _ in range(20):
        executor.spin_once(timeout_sec=0.02)
    moving = [m for m in out if m.linear.x != 0.0]
    assert moving and all(m.linear.x == 1.6 and m.angular.z == pytest.approx(-0.4) for m in moving)
    stops = out[len(moving):]
    assert len(stops) == 3 and all(m.linear.x == 0.0 and m.angular.z == 0.0 for m in stops)
    assert len(out) == n, "nothing is sent after the stop messages"
    assert out[: len(moving)] == moving  # the stream was: moving..., then the stops
