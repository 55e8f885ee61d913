"""The MuJoCo simulator's own time over real DDS: with `time_scale` it publishes /clock from its
physics, faster than wall time, its joint_states and images are stamped on that clock, and a node
with use_sim_time follows it.

The rate assertion is deliberately loose (1.3-3 simulated s per wall s for time_scale 2): the
machine running the tests is shared and loaded, and the node steps only as fast as the CPU allows.
"""
import time

import numpy as np
import pytest
from hw_test_support import params, probe, start_node, stamp_s  # noqa: F401
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger

from pi0_hw_interfaces.mujoco_sim.node import CLOCK_TOPIC, MujocoSimNode

WALL_S = 3.0


def test_time_scale_2_publishes_a_clock_twice_as_fast_and_stamps_follow_it(ros_context, executor, probe,
                                                                            spin_until):
    import rclpy

    sim = start_node(MujocoSimNode, ros_context, executor, time_scale=2.0, camera_rate_hz=5.0, image_width=32,
                     image_height=24)
    assert sim.publish_clock and sim.camera_every == 10  # 5 Hz of simulated time at 50 Hz control
    clocks = []  # (wall receipt time, /clock seconds)
    probe.node.create_subscription(Clock, CLOCK_TOPIC, lambda m: clocks.append((time.monotonic(), stamp_s(m.clock))),
                                   100)
    states = probe.listen(JointState, "joint_states")
    images = probe.listen(Image, sim.spec.cameras[0].topic)
    follower = rclpy.create_node("sim_time_follower", context=ros_context,
                                 parameter_overrides=[Parameter("use_sim_time", value=True)])
    executor.add_node(follower)
    spin_until(executor, lambda: len(clocks) > 5 and states, 20.0, "/clock and joint_states")
    first_wall, first_clock = clocks[0]
    spin_until(executor, lambda: clocks[-1][0] - first_wall > WALL_S, 20.0, f"{WALL_S} s of /clock")
    last_wall, last_clock = clocks[-1]
    ratio = (last_clock - first_clock) / (last_wall - first_wall)
    assert 1.3 < ratio < 3.0, f"/clock advanced {ratio:.2f} simulated s per wall s with time_scale 2"
    values = np.array([c for _, c in clocks])
    assert np.all(np.diff(values) > 0), "/clock went back or stood still"
    # one /clock per control tick of the physics: steps of the control period
    np.testing.assert_allclose(np.diff(values), 0.02, atol=1e-6)
    # joint_states are stamped on the simulated clock, tick by tick
    stamps = np.array([stamp_s(m.header.stamp) for m in states])
    np.testing.assert_allclose(np.diff(stamps), 0.02, atol=1e-6)
    assert np.min(np.abs(values[:, None] - stamps[None, :]), axis=0).max() < 1e-6, "a stamp that /clock never had"
    # images too, every 10 ticks of simulated time
    spin_until(executor, lambda: len(images) >= 2, 20.0, "two images")
    image_stamps = np.array([stamp_s(m.header.stamp) for m in images])
    np.testing.assert_allclose(np.diff(image_stamps), 0.2, atol=1e-6)
    # a use_sim_time node's clock is the simulator's
    follower_now = follower.get_clock().now().nanoseconds * 1e-9
    assert first_clock < follower_now <= sim.sim_now + 1e-6
    # a reset starts a new episode; the clock never goes back
    client = probe.node.create_client(Trigger, "mujoco_sim/reset")
    before = sim.sim_now
    future = client.call_async(Trigger.Request())
    spin_until(executor, future.done, 20.0, "the reset")
    assert future.result().success
    spin_until(executor, lambda: clocks[-1][1] > before + 0.2, 20.0, "the clock after the reset")
    assert sim.scene.time < sim.sim_now - before + 0.1
    assert np.all(np.diff([c for _, c in clocks]) > 0)
    assert sim.rejected == []


def test_default_is_real_time_without_clock_and_bad_scales_are_refused(ros_context, executor, spin_until):
    sim = start_node(MujocoSimNode, ros_context, executor, camera_rate_hz=0.0)
    assert not sim.publish_clock and sim.count_publishers(CLOCK_TOPIC) == 0
    clock_only = MujocoSimNode("mujoco_sim_clock", context=ros_context,
                               parameter_overrides=params(camera_rate_hz=0.0, publish_clock=True))
    try:
        assert clock_only.publish_clock and clock_only.time_scale == 1.0
        assert clock_only.count_publishers(CLOCK_TOPIC) == 1
    finally:
        clock_only.destroy_node()
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match=rf"time_scale must be > 0.*got {bad}"):
            MujocoSimNode(context=ros_context, parameter_overrides=params(time_scale=bad))
