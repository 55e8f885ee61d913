"""Embodiment adapters: encode → decode round trips for every embodiment, deltas, flips, grippers,
camera slots, clamping, and errors naming the bad value."""
import numpy as np
import pytest
from pi0_hw_interfaces.embodiment import list_embodiments, load_embodiment

from pi0_policy.policy.adapters import (AdapterConfig, EmbodimentAdapter, list_adapters,
                                        load_adapter_config)

EMBODIMENTS = list_embodiments()
ATOL = 1e-9


def mid_positions(spec, rng, spread=0.3):
    """Random positions inside the joint limits (away from them, so clamping does not apply)."""
    out = {}
    for j in spec.joints:
        mid, half = (j.lower + j.upper) / 2, (j.upper - j.lower) / 2
        out[j.name] = float(mid + rng.uniform(-spread, spread) * half)
    return out


def test_every_embodiment_has_an_adapter():
    assert len(EMBODIMENTS) == 7
    assert list_adapters() == sorted(EMBODIMENTS)


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_state_round_trip_and_gripper_range(name):
    spec = load_embodiment(name)
    adapter = EmbodimentAdapter(spec)
    rng = np.random.default_rng(0)
    positions = mid_positions(spec, rng)
    obs = adapter.encode({"images": {}, "positions": positions, "prompt": "p"})
    assert obs["state"].shape == (spec.state_dim,) and obs["state"].dtype == np.float32
    for i, d in enumerate(spec.state_dims):
        if d.kind == "gripper":
            g = spec.grippers[d.name]
            assert 0.0 <= obs["state"][i] <= 1.0
            for driver, policy in ((g.open, 0.0), (g.closed, 1.0)):
                state = adapter.encode({"positions": {**positions, d.name: driver}})["state"]
                assert state[i] == pytest.approx(policy)
        elif d.name in adapter.config.sign_flip_joints:
            assert obs["state"][i] == pytest.approx(-positions[d.name], abs=1e-6)
        else:
            assert obs["state"][i] == pytest.approx(positions[d.name], abs=1e-6)


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_actions_round_trip(name):
    spec = load_embodiment(name)
    adapter = EmbodimentAdapter(spec)
    rng = np.random.default_rng(1)
    current = mid_positions(spec, rng)
    # a robot-space chunk inside the limits: joint targets and base velocities
    robot = np.empty((50, spec.action_dim))
    for i, d in enumerate(spec.action_dims):
        if d.kind == "base":
            robot[:, i] = rng.uniform(-0.5, 0.5, 50)
        else:
            robot[:, i] = [mid_positions(spec, rng)[d.name] for _ in range(50)]
    model = adapter.encode_actions(robot, current)
    np.testing.assert_allclose(adapter.decode(model, current), robot, atol=ATOL)
    # model padding (e.g. 32 dims) is dropped
    padded = np.concatenate([model, np.full((50, 32 - spec.action_dim), 7.0)], axis=1)
    np.testing.assert_allclose(adapter.decode(padded, current), robot, atol=ATOL)


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_delta_dimensions_are_relative_to_the_current_state(name):
    spec = load_embodiment(name)
    adapter = EmbodimentAdapter(spec)
    current = mid_positions(spec, np.random.default_rng(2))
    zeros = np.zeros((4, spec.action_dim))
    out = adapter.decode(zeros, current)
    for i, d in enumerate(spec.action_dims):
        if adapter.delta_mask[i]:
            # zero delta = stay where the robot is
            np.testing.assert_allclose(out[:, i], current[d.name], atol=ATOL)
        elif d.kind == "gripper":
            np.testing.assert_allclose(out[:, i], spec.grippers[d.name].open, atol=ATOL)  # policy 0 = open
        elif d.kind == "base":
            np.testing.assert_allclose(out[:, i], 0.0)
        else:
            joint = spec.joint(d.name)
            np.testing.assert_allclose(out[:, i], np.clip(0.0, joint.lower, joint.upper))


def test_aloha_follows_openpi_conventions():
    spec = load_embodiment("aloha")
    adapter = EmbodimentAdapter(spec)
    # delta arm joints, absolute grippers: openpi's make_bool_mask(6, -1, 6, -1)
    np.testing.assert_array_equal(adapter.delta_mask, [True] * 6 + [False] + [True] * 6 + [False])
    # shoulder and elbow flipped: openpi's _joint_flip_mask [1, -1, -1, 1, 1, 1, 1] per arm
    current = {j.name: 0.0 for j in spec.joints}
    delta = np.zeros((1, 14))
    delta[0, 1] = 0.1   # left shoulder, in model space
    delta[0, 3] = 0.1   # left forearm roll (not flipped)
    out = adapter.decode(delta, current)
    assert out[0, 1] == pytest.approx(-0.1) and out[0, 3] == pytest.approx(0.1)


def test_camera_roles_map_to_model_slots_and_missing_ones_are_absent():
    spec = load_embodiment("ur5e")  # base + one wrist camera
    adapter = EmbodimentAdapter(spec)
    img = np.zeros((4, 4, 3), np.uint8)
    obs = adapter.encode({"images": {"base": img, "left_wrist": img + 1},
                          "positions": mid_positions(spec, np.random.default_rng(3))})
    # right_wrist_0_rgb is absent: the policy masks it
    assert set(obs["images"]) == {"base_0_rgb", "left_wrist_0_rgb"}
    assert obs["images"]["left_wrist_0_rgb"][0, 0, 0] == 1
    mobile = EmbodimentAdapter(load_embodiment("mobile_trossen"))
    assert mobile.camera_keys == {"base": "base_0_rgb", "left_wrist": "left_wrist_0_rgb",
                                  "right_wrist": "right_wrist_0_rgb"}


def test_actions_outside_limits_are_clamped():
    spec = load_embodiment("mobile_trossen")
    adapter = EmbodimentAdapter(spec, AdapterConfig(embodiment="mobile_trossen"))  # absolute, no flips
    huge = np.full((3, spec.action_dim), 100.0)
    lower, upper, _ = spec.limits(adapter.action_names[:14])
    # policy gripper 100 is far beyond "closed"; ALOHA's closed (-0.6213) is its lower limit
    closed_limit = np.where([d.kind == "gripper" for d in spec.action_dims[:14]], lower, upper)
    out = adapter.decode(huge, {})
    np.testing.assert_allclose(out[:, :14], np.broadcast_to(closed_limit, (3, 14)))
    np.testing.assert_allclose(out[:, 14:], [[1.6, 1.5]] * 3)   # base max_linear, max_angular
    out = adapter.decode(-huge, {})
    np.testing.assert_allclose(out[:, :14], np.broadcast_to(lower + upper - closed_limit, (3, 14)))
    np.testing.assert_allclose(out[:, 14:], [[-1.6, -1.5]] * 3)


def test_bad_inputs_raise_naming_the_value():
    spec = load_embodiment("ur5e")
    adapter = EmbodimentAdapter(spec)
    positions = mid_positions(spec, np.random.default_rng(4))
    with pytest.raises(ValueError, match="lacks.*elbow_joint"):
        adapter.encode({"positions": {k: v for k, v in positions.items() if k != "elbow_joint"}})
    with pytest.raises(ValueError, match="not finite.*wrist_1_joint"):
        adapter.encode({"positions": {**positions, "wrist_1_joint": float("nan")}})
    with pytest.raises(ValueError, match="NaN"):
        adapter.decode(np.full((2, 7), np.nan), positions)
    with pytest.raises(ValueError, match=r"\(H, >= 7\)"):
        adapter.decode(np.zeros((2, 5)), positions)
    with pytest.raises(ValueError, match="unknown camera role 'top'"):
        AdapterConfig(embodiment="ur5e", cameras={"top": "base_0_rgb"})
    with pytest.raises(ValueError, match="'nope' is not a joint"):
        EmbodimentAdapter(spec, AdapterConfig(embodiment="ur5e", sign_flip_joints=("nope",)))
    with pytest.raises(FileNotFoundError, match="no adapter for embodiment 'robot_x'"):
        load_adapter_config("robot_x")
    with pytest.raises(ValueError, match="unknown adapter keys"):
        AdapterConfig.from_dict({"embodiment": "ur5e", "flip": []})
