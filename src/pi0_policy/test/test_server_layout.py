"""`ServerLayoutAdapter`: robot observations → openpi's keys and back, from ``layouts.yaml``'s ``client``
sections; mismatches between the layout, the embodiment and the server are one-line errors."""
import numpy as np
import pytest
from pi0_hw_interfaces.embodiment import load_embodiment

from pi0_policy.ros.parameters import SCHEMA, validate
from pi0_policy.serve.client_layout import ServerLayoutAdapter, server_layouts
from pi0_policy.serve.layouts import to_model_space

SPEC = load_embodiment("bimanual_trossen")
NAMES = [d.name for d in SPEC.state_dims]
MODEL_KEYS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")


def robot_obs(seed=0):
    rng = np.random.default_rng(seed)
    positions = {j.name: float(rng.uniform(j.lower, j.upper)) for j in SPEC.joints}
    images = {role: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for role in ("base", "left_wrist", "right_wrist")}
    return {"images": images, "positions": positions, "prompt": "fold"}


def test_aloha_encode_sends_raw_state_and_openpi_cameras():
    obs = robot_obs()
    out = ServerLayoutAdapter(SPEC, "openpi_aloha").encode(obs)
    assert set(out) == {"state", "images", "prompt"} and out["prompt"] == "fold"
    assert sorted(out["images"]) == ["cam_high", "cam_left_wrist", "cam_right_wrist"]
    for image in out["images"].values():
        assert image.dtype == np.uint8 and image.shape == (3, 224, 224)
        assert image[:, :28].max() == 0 and image[:, -28:].max() == 0  # 480x640 → 168x224 padded
    raw = np.array([obs["positions"][n] for n in NAMES])
    arms = [i for i, n in enumerate(NAMES) if n not in SPEC.grippers]
    np.testing.assert_array_equal(out["state"][arms], raw[arms])  # no flips, no normalisation
    for i in (6, 13):
        g = SPEC.grippers[NAMES[i]]
        assert out["state"][i] == pytest.approx((raw[i] - g.closed) / (g.open - g.closed))  # 0 closed, 1 open


def test_aloha_sim_sends_only_the_top_camera():
    out = ServerLayoutAdapter(SPEC, "openpi_aloha_sim").encode(robot_obs())
    assert list(out["images"]) == ["cam_high"] and out["state"].shape == (14,)


def test_what_the_client_sends_is_what_the_server_side_table_reads():
    """Both sides share layouts.yaml: pi0 serve's to_model_space takes the node's openpi_aloha request."""
    client = ServerLayoutAdapter(SPEC, "openpi_aloha")
    sent = client.encode(robot_obs(1))
    model = to_model_space(sent, MODEL_KEYS)
    assert sorted(model["images"]) == sorted(MODEL_KEYS)
    assert model["images"]["base_0_rgb"].shape == (224, 224, 3)
    np.testing.assert_array_equal(model["images"]["left_wrist_0_rgb"],
                                  sent["images"]["cam_left_wrist"].transpose(1, 2, 0))
    np.testing.assert_allclose(model["state"], sent["state"], atol=1e-6)


def test_decode_takes_robot_space_actions_grippers_back_to_driver_units_and_clamps():
    adapter = ServerLayoutAdapter(SPEC, "openpi_aloha")
    actions = np.zeros((3, 14))
    actions[0, 6], actions[1, 6], actions[2, 13] = 1.0, 0.0, 0.5
    actions[:, 0] = [0.1, 5.0, -5.0]
    out = adapter.decode(actions)
    g = SPEC.grippers[NAMES[6]]
    assert out[0, 6] == pytest.approx(g.open) and out[1, 6] == pytest.approx(g.closed)
    assert out[2, 13] == pytest.approx((g.open + g.closed) / 2)
    waist = SPEC.joint(NAMES[0])
    np.testing.assert_allclose(out[:, 0], [0.1, waist.upper, waist.lower])  # absolute, then clamped
    # the round trip of a state through encode's gripper map and decode's is the identity
    obs = robot_obs(2)
    state = adapter.encode(obs)["state"]
    np.testing.assert_allclose(adapter.decode(state[None])[0], [obs["positions"][n] for n in NAMES], atol=1e-9)


@pytest.mark.parametrize("actions, match", [
    (np.zeros((50, 16)), r"server returned actions of shape \(50, 16\); server_layout openpi_aloha and "
                         r"embodiment bimanual_trossen need \(H, 14\)"),
    (np.zeros(14), r"shape \(14,\)"),
    (np.full((2, 14), np.nan), "NaN or infinity"),
])
def test_bad_server_actions_are_errors(actions, match):
    with pytest.raises(ValueError, match=match):
        ServerLayoutAdapter(SPEC, "openpi_aloha").decode(actions)


@pytest.mark.parametrize("embodiment, layout, metadata, match", [
    ("bimanual_trossen", "openpi_aloah", {}, r"server_layout 'openpi_aloah': choose one of \['pi0ros', "
                                             r"'openpi_aloha', 'openpi_aloha_sim', 'openpi_droid'\]"),
    ("ur5e", "openpi_aloha", {}, r"server_layout openpi_aloha is for embodiment\(s\) \['bimanual_trossen'\], not ur5e"),
    ("franka", "openpi_droid", {}, "not supported by the node: the server returns joint velocities"),
    ("bimanual_trossen", "openpi_aloha", {"layouts": ["libero"]}, r"server does not accept layout 'aloha'"),
    ("bimanual_trossen", "openpi_aloha", {"action_dim": 7}, r"server's action_dim 7 < 14"),
])
def test_mismatches_are_clear_errors(embodiment, layout, metadata, match):
    with pytest.raises(ValueError, match=match):
        ServerLayoutAdapter(load_embodiment(embodiment), layout, metadata)


def test_server_layout_parameter():
    assert server_layouts()[:3] == ("pi0ros", "openpi_aloha", "openpi_aloha_sim")
    values = {p.name: p.default for p in SCHEMA}
    values.update(embodiment="bimanual_trossen", backend="remote", server_uri="ws://gpu:8000")
    assert validate(values).server_layout == "pi0ros"
    assert validate(dict(values, server_layout="openpi_aloha")).server_layout == "openpi_aloha"
    with pytest.raises(ValueError, match="server_layout"):
        validate(dict(values, server_layout="openpi"))
    with pytest.raises(ValueError, match="server_layout='openpi_aloha' needs backend remote"):
        validate(dict(values, server_layout="openpi_aloha", backend="local", checkpoint="/ckpt"))
