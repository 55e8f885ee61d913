"""Pure trajectory sampling (JTC semantics), the safety layer and the followers, without ROS."""
import math

import numpy as np
import pytest

from pi0_hw_interfaces import safety
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.follower import BaseIntegrator, GroupFollower
from pi0_hw_interfaces.trajectory import TrajectoryError, make_trajectory

JOINTS = ("a", "b")
LIMITS = safety.JointLimits(JOINTS, np.array([-1.0, -2.0]), np.array([1.0, 2.0]), np.array([1.0, 4.0]))


def traj(names=JOINTS, times=(0.5, 1.0), positions=((0.5, 1.0), (1.0, 0.0)), stamp=0.0, now=10.0,
         current=(0.0, 0.0)):
    return make_trajectory(JOINTS, names, times, positions, stamp, now, current)


def test_sample_follows_jtc_semantics():
    t = traj()  # stamp 0: starts at receipt (now = 10)
    assert t.start_time == 10.0 and t.end_time == 11.0
    np.testing.assert_allclose(t.sample(9.0), [0.0, 0.0])        # before receipt: the state then
    np.testing.assert_allclose(t.sample(10.25), [0.25, 0.5])     # current → first point, linearly
    np.testing.assert_allclose(t.sample(10.5), [0.5, 1.0])
    np.testing.assert_allclose(t.sample(10.75), [0.75, 0.5])     # between points
    np.testing.assert_allclose(t.sample(12.0), [1.0, 0.0])       # after the end: the last point, held
    assert not t.done(10.99) and t.done(11.0)


def test_future_stamp_and_reordering():
    t = traj(names=("b", "a"), times=(0.0, 1.0), positions=((2.0, 0.0), (0.0, 1.0)), stamp=20.0)
    assert t.start_time == 20.0 and t.joint_names == JOINTS
    np.testing.assert_allclose(t.positions, [[0.0, 2.0], [1.0, 0.0]])
    np.testing.assert_allclose(t.sample(15.0), [0.0, 1.0])       # halfway from receipt (10) to 20
    np.testing.assert_allclose(t.sample(20.5), [0.5, 1.0])


def test_a_trajectory_partly_in_the_past_is_sampled_from_now():
    t = traj(stamp=9.5)  # points at 10.0 and 10.5, received at 10.0
    np.testing.assert_allclose(t.sample(10.25), [0.75, 0.5])


@pytest.mark.parametrize("kwargs, reason", [
    (dict(names=("a", "c")), "unknown joints ['c']"),
    (dict(names=("a",), positions=((0.5,), (1.0,))), "joints ['b'] missing"),
    (dict(names=("a", "a")), "duplicate joint names ['a']"),
    (dict(names=()), "no joint names"),
    (dict(times=(), positions=()), "no points"),
    (dict(times=(0.5, 0.5)), "strictly increase: point 1 at 0.5 s"),
    (dict(times=(1.0, 0.5)), "strictly increase"),
    (dict(times=(-0.1, 0.5)), "negative time_from_start"),
    (dict(positions=((0.5, math.nan), (1.0, 0.0))), "point 0 joint 'b' has non-finite position nan"),
    (dict(positions=((0.5, 1.0), (1.0, math.inf))), "non-finite position inf"),
    (dict(times=(0.5, math.nan)), "non-finite time_from_start"),
    (dict(positions=((0.5, 1.0), (1.0,))), "point 1 has 1 positions for 2 joints"),
    (dict(positions=((0.5, 1.0),)), "1 position lists for 2 points"),
    (dict(stamp=5.0), "ends 4.000 s in the past"),
])
def test_bad_trajectories_are_rejected_with_a_reason(kwargs, reason):
    with pytest.raises(TrajectoryError) as err:
        traj(**kwargs)
    assert reason in str(err.value)


def test_safety_clamp_and_velocity_cap():
    np.testing.assert_allclose(safety.clamp_positions([5.0, -5.0], LIMITS), [1.0, -2.0])
    # At most max_velocity * dt per step, then within the position limits.
    np.testing.assert_allclose(safety.cap_step([1.0, -2.0], [0.0, 0.0], LIMITS, 0.1), [0.1, -0.4])
    np.testing.assert_allclose(safety.cap_step([0.05, 5.0], [0.0, 1.9], LIMITS, 1.0), [0.05, 2.0])
    np.testing.assert_allclose(safety.cap_step([1.0, 1.0], [0.0, 0.0], LIMITS, 0.0), [0.0, 0.0])
    with pytest.raises(ValueError, match="non-finite"):
        safety.clamp_positions([math.nan, 0.0], LIMITS)
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 2\)"):
        safety.cap_step([0.0], [0.0, 0.0], LIMITS, 0.1)


def test_base_command_safety():
    base = load_embodiment("mobile_fibocom").base  # max_linear 1.0, max_angular 1.5, timeout 0.5
    capped = safety.cap_base_velocity([3.0, 4.0, -9.0], base.axes, base.max_linear, base.max_angular)
    np.testing.assert_allclose(capped, [0.6, 0.8, -1.5])  # direction kept, norm 1.0
    np.testing.assert_allclose(safety.safe_base_command([0.2, 0.0, 0.1], 10.0, 10.4, base), [0.2, 0.0, 0.1])
    np.testing.assert_allclose(safety.safe_base_command([0.2, 0.0, 0.1], 10.0, 10.6, base), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(safety.safe_base_command(None, None, 10.0, base), [0.0, 0.0, 0.0])


def test_group_follower_tracks_clamps_caps_and_replaces():
    f = GroupFollower("g", LIMITS, [0.0, 0.0])
    f.accept(JOINTS, [1.0], [[0.5, 5.0]], 0.0, now=0.0)  # b beyond its limit 2.0
    f.step(0.0)
    for k in range(1, 21):
        f.step(k * 0.05)
    # a follows the line exactly (0.5 rad/s < 1.0); b is clamped to 2.0 and capped at 4 rad/s.
    np.testing.assert_allclose(f.positions, [0.5, 2.0])
    f = GroupFollower("g", LIMITS, [0.0, 0.0])
    f.accept(JOINTS, [0.1], [[1.0, 0.0]], 0.0, now=0.0)  # 10 rad/s asked, 1 rad/s allowed
    f.step(0.0)
    f.step(0.1)
    np.testing.assert_allclose(f.positions, [0.1, 0.0])
    np.testing.assert_allclose(f.velocities, [1.0, 0.0])
    # A new trajectory replaces the running one at once, starting from the current state.
    f.accept(JOINTS, [1.0], [[-0.9, 0.0]], 0.0, now=0.1)
    f.step(0.6)
    np.testing.assert_allclose(f.positions, [-0.4, 0.0])
    with pytest.raises(TrajectoryError):
        f.accept(("a",), [1.0], [[0.0]], 0.0, now=0.6)
    assert f.trajectory.positions[-1].tolist() == [-0.9, 0.0]  # a rejected one changes nothing


@pytest.mark.parametrize("name, command, expected", [
    ("mobile_trossen", [0.5, 0.0], [0.5, 0.0, 0.0]),
    ("mobile_trossen", [0.0, 1.0], [0.0, 0.0, 1.0]),
    ("mobile_fibocom", [0.0, 0.4, 0.0], [0.0, 0.4, 0.0]),
])
def test_base_integrator(name, command, expected):
    base = BaseIntegrator(load_embodiment(name).base)
    base.step(0.0)
    base.command(command, 0.0)
    for k in range(1, 5):
        base.step(0.1 * k)
    np.testing.assert_allclose(base.pose, np.array(expected) * 0.4, atol=1e-12)
    for k in range(5, 20):  # the command is 0.5 s old at 0.5: the base stops
        base.step(0.1 * k)
    np.testing.assert_allclose(base.pose, np.array(expected) * 0.5, atol=1e-12)
    np.testing.assert_allclose(base.velocity, [0.0, 0.0, 0.0])


def test_diff_base_turns_while_driving():
    base = BaseIntegrator(load_embodiment("mobile_trossen").base)
    base.step(0.0)
    for k in range(1, 11):  # 1 m/s and 1 rad/s for 0.4 s: an arc of 0.4 rad on a circle of radius 1 m
        base.command([1.0, 1.0], 0.04 * (k - 1))
        base.step(0.04 * k)
    x, y, yaw = base.pose
    assert yaw == pytest.approx(0.4)
    assert x == pytest.approx(math.sin(0.4), rel=1e-4)
    assert y == pytest.approx(1 - math.cos(0.4), rel=1e-4)
