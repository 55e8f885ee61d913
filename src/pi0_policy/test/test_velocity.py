"""Velocity-output checkpoints (DROID): integration into positions, the scale, clipping, rescaling,
the spec's speed and position limits, and the inverse."""
import numpy as np
import pytest
from pi0_hw_interfaces.embodiment import load_embodiment

from pi0_policy.policy.adapters import EmbodimentAdapter
from pi0_policy.policy.velocity import differentiate_positions, integrate_velocities

INF = np.full(3, np.inf)
LOW, HIGH = np.full(3, -10.0), np.full(3, 10.0)


def test_one_unit_is_three_radians_per_second_at_any_rate():
    v = np.tile([1.0, -0.5, 0.0], (4, 1))
    at_15 = integrate_velocities(np.zeros(3), v, 1 / 15, 3.0, INF, LOW, HIGH)
    np.testing.assert_allclose(at_15[0], [0.2, -0.1, 0.0])          # DROID: 0.2 rad per 15 Hz step
    np.testing.assert_allclose(at_15[-1], [0.8, -0.4, 0.0])
    at_20 = integrate_velocities(np.zeros(3), v, 1 / 20, 3.0, INF, LOW, HIGH)
    np.testing.assert_allclose(at_20[-1], [0.6, -0.3, 0.0])         # 4 steps of 50 ms at 3 rad/s


def test_clip_then_rescale_like_droid():
    v = np.array([[1.7, 0.5, -0.2]])
    # the client clips each dimension to [-1, 1] first (examples/droid/main.py)
    np.testing.assert_allclose(integrate_velocities(np.zeros(3), v, 1 / 15, 3.0, INF, LOW, HIGH)[0],
                               [0.2, 0.1, -0.04])
    # without the clip, joint_velocity_to_delta divides the whole vector by max |v| (direction kept)
    np.testing.assert_allclose(
        integrate_velocities(np.zeros(3), v, 1 / 15, 3.0, INF, LOW, HIGH, clip=None)[0],
        np.array([1.7, 0.5, -0.2]) / 1.7 * 0.2)


def test_speed_and_position_limits_without_windup():
    v = np.array([[1.0, 1.0, -1.0]] * 5 + [[-1.0, -1.0, 1.0]])
    out = integrate_velocities(np.zeros(3), v, 0.1, 3.0, np.array([1.0, 10.0, 10.0]),
                               np.array([-5.0, -5.0, -0.5]), np.array([5.0, 0.7, 5.0]))
    np.testing.assert_allclose(out[:5, 0], [0.1, 0.2, 0.3, 0.4, 0.5])   # capped at 1 rad/s
    np.testing.assert_allclose(out[:5, 1], [0.3, 0.6, 0.7, 0.7, 0.7])   # stops at the upper limit
    np.testing.assert_allclose(out[5, 1], 0.4)                          # and leaves it at once
    np.testing.assert_allclose(out[5, 2], -0.2)


def test_differentiate_inverts_integrate():
    rng = np.random.default_rng(0)
    v = rng.uniform(-0.9, 0.9, (8, 3)) / 3
    q0 = rng.uniform(-1, 1, 3)
    q = integrate_velocities(q0, v, 0.05, 3.0, INF, LOW, HIGH)
    np.testing.assert_allclose(differentiate_positions(q0, q, 0.05, 3.0), v, atol=1e-12)


@pytest.mark.parametrize("velocities,dt,message", [
    (np.zeros((4, 2)), 0.1, r"velocities must be \(H, 3\)"),
    (np.zeros((4, 3)), 0.0, "must be positive"),
    (np.full((4, 3), np.nan), 0.1, "not finite"),
])
def test_bad_input_is_a_clear_error(velocities, dt, message):
    with pytest.raises(ValueError, match=message):
        integrate_velocities(np.zeros(3), velocities, dt, 3.0, INF, LOW, HIGH)


def test_droid_adapter_uses_the_robot_rate_and_limits():
    spec = load_embodiment("franka")
    adapter = EmbodimentAdapter(spec, profile="openpi_droid")
    assert adapter.control_dt == pytest.approx(1 / spec.control_rate_hz)
    current = {"fr3_joint1": 0.0, "fr3_joint2": 0.0, "fr3_joint3": 0.0, "fr3_joint4": -1.5,
               "fr3_joint5": 0.0, "fr3_joint6": 1.5, "fr3_joint7": 0.0, "fr3_finger_joint1": 0.04}
    model = np.zeros((3, 8))
    model[:, 0] = 1.0     # 3 rad/s asked, FR3 joint 1 allows 2.62 rad/s
    model[:, 4] = 0.5     # 1.5 rad/s, within joint 5's 5.26
    model[:, 7] = [0.2, 0.7, 1.0]
    out = adapter.decode(model, current)
    dt = 1 / spec.control_rate_hz
    np.testing.assert_allclose(out[:, 0], 2.62 * dt * np.arange(1, 4))
    np.testing.assert_allclose(out[:, 4], 1.5 * dt * np.arange(1, 4))
    np.testing.assert_allclose(out[:, 3], -1.5)                       # zero velocity holds
    np.testing.assert_allclose(out[:, 7], [0.04, 0.0, 0.0])           # binarised: open, closed, closed
