"""Convention profiles against the reference projects' own code (fixtures in data/conventions,
made by running openpi's, gym-aloha's, DROID's and Interbotix's functions: see its README), round
trips robot → model → robot, profile/embodiment mismatches, and detection from source files."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pi0_hw_interfaces.embodiment import list_embodiments, load_embodiment

from pi0_policy.policy.adapters import EmbodimentAdapter
from pi0_policy.policy.profiles import (Profile, choose_profile, detect_profile, list_profiles, load_profile,
                                        profiles_for)

DATA = Path(__file__).parent / "data" / "conventions"
REFERENCE = ["openpi_aloha", "openpi_aloha_sim", "openpi_mobile_trossen", "lerobot_aloha", "openpi_droid",
             "openpi_franka_joint_position", "openpi_ur5"]
TOL = 1e-6  # the fixtures are float64 from the reference code; the maps here are float64 too


def fixture(name):
    fx = json.loads((DATA / f"{name}.json").read_text())
    return fx, load_embodiment(fx["embodiment"])


def adapter_for(name):
    fx, spec = fixture(name)
    return fx, EmbodimentAdapter(spec, profile=name, control_dt=fx.get("dt"))


def test_every_profile_loads_and_fits_a_known_embodiment():
    own = ["pi0ros", "pi0ros_absolute_base"]  # this project's conventions (no external reference)
    assert sorted(REFERENCE + own) == list_profiles()
    known = set(list_embodiments())
    for name in list_profiles():
        profile = load_profile(name)
        assert profile.name == name and profile.source and profile.description
        assert set(profile.embodiments) <= known | {"*"}, (name, profile.embodiments)
    assert profiles_for("bimanual_trossen") == ["lerobot_aloha", "openpi_aloha", "openpi_aloha_sim", *own]
    assert profiles_for("franka") == ["openpi_droid", "openpi_franka_joint_position", *own]


@pytest.mark.parametrize("name", REFERENCE)
def test_robot_state_to_model_state_equals_the_reference(name):
    fx, adapter = adapter_for(name)
    # grippers at open, closed and mid-range are among the inputs
    gripper_cols = [i for i, d in enumerate(adapter.spec.state_dims) if d.kind == "gripper"]
    readings = np.array(fx["robot_state"])[:, gripper_cols]
    spec_grippers = [adapter.spec.grippers[adapter.state_names[i]] for i in gripper_cols]
    assert any(np.isclose(readings[:, k], g.open).any() and np.isclose(readings[:, k], g.closed).any()
               for k, g in enumerate(spec_grippers))
    for robot, model in zip(fx["robot_state"], fx["model_state"]):
        np.testing.assert_allclose(adapter.encode_state(np.array(robot)), model, atol=TOL, rtol=0)
        obs = adapter.encode({"positions": dict(zip(adapter.state_names, robot))})
        np.testing.assert_allclose(obs["state"], model, atol=1e-5, rtol=0)  # float32 observation


@pytest.mark.parametrize("name", REFERENCE)
def test_model_actions_to_robot_commands_equal_the_reference(name):
    fx, adapter = adapter_for(name)
    for robot, model_actions, commands in zip(fx["robot_state"], fx["model_actions"], fx["robot_actions"]):
        current = dict(zip(adapter.state_names, robot))
        # model padding columns (π0 predicts 32) are ignored
        padded = np.pad(np.array(model_actions), ((0, 0), (0, 32 - adapter.spec.action_dim)), constant_values=9.0)
        np.testing.assert_allclose(adapter.decode(padded, current), commands, atol=TOL, rtol=0)


@pytest.mark.parametrize("name", REFERENCE + ["pi0ros"])
def test_round_trip_robot_model_robot_is_the_identity(name):
    fx, spec = fixture(name if name != "pi0ros" else "openpi_aloha")
    adapter = EmbodimentAdapter(spec, profile=name, control_dt=fx.get("dt"))
    angular = any(step["op"] == "angle_to_linear" for step in adapter.profile.gripper_state)
    for robot, commands in zip(fx["robot_state"], fx["robot_actions"]):
        robot = np.array(robot)
        expected = robot.copy()
        if angular:  # the servo-horn geometry folds at π/2 (finger fully out): see the test below
            grippers = [i for i, d in enumerate(spec.state_dims) if d.kind == "gripper"]
            expected[grippers] = np.where(robot[grippers] > np.pi / 2, np.pi - robot[grippers], robot[grippers])
        np.testing.assert_allclose(adapter.decode_state(adapter.encode_state(robot)), expected, atol=1e-9)
        current = dict(zip(adapter.state_names, robot))
        commands = np.array(commands)
        model = adapter.encode_actions(commands, current)
        # every dimension comes back: absolute ones by the inverse maps, deltas and velocities
        # because the same current state is used both ways (DROID's gripper commands are 0/1 already)
        np.testing.assert_allclose(adapter.decode(model, current), commands, atol=1e-9)


def test_openpi_aloha_gripper_is_angular_and_not_the_linear_map():
    """The issue's numbers: at "closed" openpi's state is about -1.08, the linear map's 1 (2.1 apart);
    a predicted "open" (0) is commanded at 0.5476 rad, not at the closed end."""
    spec = load_embodiment("bimanual_trossen")
    openpi, linear = EmbodimentAdapter(spec, profile="openpi_aloha"), EmbodimentAdapter(spec)
    state = np.zeros(14)
    state[[6, 13]] = [-0.6213, 1.4910]  # closed, open
    assert openpi.encode_state(state)[[6, 13]] == pytest.approx([-1.0803142, 0.8719039], abs=1e-6)
    assert linear.encode_state(state)[[6, 13]] == pytest.approx([1.0, 0.0])
    current = dict(zip(openpi.state_names, state))
    out = openpi.decode(np.array([[0.0] * 6 + [0.0] + [0.0] * 6 + [1.0]]), current)
    assert out[0, [6, 13]] == pytest.approx([0.5476, 1.5476])


def test_gripper_state_beyond_half_pi_reads_like_its_mirror():
    """openpi's state map goes through the finger's linear position, which peaks at a motor angle of
    π/2: ALOHA 2's open 1.6214 rad reads like 1.5202 (openpi's own function gives the same, see the
    fixture's last row), so the state round trip is the identity up to π/2 only."""
    spec = load_embodiment("bimanual_trossen")
    adapter = EmbodimentAdapter(spec, profile="openpi_aloha")
    state = np.zeros(14)
    state[[6, 13]] = [1.6214, np.pi - 1.6214]
    model = adapter.encode_state(state)
    assert model[6] == pytest.approx(model[13], abs=1e-12)


def test_openpi_aloha_sim_is_absolute_and_aloha_real_delta():
    spec = load_embodiment("bimanual_trossen")
    current = {n: 0.3 for n in spec.joint_names}
    zeros = np.zeros((2, 14))
    real = EmbodimentAdapter(spec, profile="openpi_aloha").decode(zeros, current)
    sim = EmbodimentAdapter(spec, profile="openpi_aloha_sim").decode(zeros, current)
    arm = [i for i, d in enumerate(spec.action_dims) if d.kind == "joint"]
    np.testing.assert_allclose(real[:, arm], 0.3)   # a zero delta holds the current joints
    np.testing.assert_allclose(sim[:, arm], 0.0)    # an absolute zero is the zero pose


def test_sim_gripper_beyond_the_reachable_finger_stays_finite():
    spec = load_embodiment("bimanual_trossen")
    adapter = EmbodimentAdapter(spec, profile="openpi_aloha_sim")
    out = adapter.decode(np.full((1, 14), 5.0), {n: 0.0 for n in spec.joint_names})
    assert np.isfinite(out).all()
    assert out[0, 6] <= spec.joint("follower_left_gripper").upper


@pytest.mark.parametrize("profile,embodiment", [("openpi_aloha", "franka"), ("openpi_droid", "bimanual_trossen"),
                                                ("openpi_aloha", "mobile_trossen")])
def test_profile_embodiment_mismatch_says_what_to_choose(profile, embodiment):
    with pytest.raises(ValueError) as error:
        EmbodimentAdapter(load_embodiment(embodiment), profile=profile)
    message = str(error.value)
    assert f"profile {profile!r}" in message and embodiment in message and "--profile" in message
    for choice in profiles_for(embodiment):
        assert choice in message


def test_default_prompt_fills_an_empty_prompt():
    spec = load_embodiment("bimanual_trossen")
    adapter = EmbodimentAdapter(spec, profile="openpi_aloha_sim")
    positions = {n: 0.0 for n in spec.joint_names}
    assert adapter.encode({"positions": positions})["prompt"] == "Transfer cube"
    assert adapter.encode({"positions": positions, "prompt": "stack"})["prompt"] == "stack"


def test_bad_profile_yaml_names_the_problem(tmp_path):
    good = yaml.safe_load((Path(load_profile.__globals__["_folder"]()) / "openpi_ur5.yaml").read_text())
    cases = [
        ({"gripper": {"state": [{"op": "squash"}], "action": [{"op": "spec_to_robot"}]}}, "op must be one of"),
        ({"image_resize": "lanczos"}, "choose from \\['bilinear', 'antialias'\\]"),
        ({"actions": "torque"}, "choose 'position' or 'velocity'"),
        ({"gripper": {"state": [{"op": "offset"}], "action": [{"op": "spec_to_robot"}]}}, "missing \\['value'\\]"),
        ({"colour": "red"}, "unknown profile keys \\['colour'\\]"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            Profile.from_dict({**good, **change}, "test.yaml")
    with pytest.raises(ValueError, match="unknown convention profile 'openpi_kuka'; choose from"):
        load_profile("openpi_kuka")


def _openpi_dir(path: Path, asset_id: str) -> Path:
    (path / "assets" / asset_id).mkdir(parents=True)
    (path / "assets" / asset_id / "norm_stats.json").write_text("{}")
    return path


def test_detect_profile_from_source_files(tmp_path):
    assert detect_profile(_openpi_dir(tmp_path / "a", "trossen")) == "openpi_aloha"
    assert detect_profile(_openpi_dir(tmp_path / "b", "lerobot/aloha_sim_transfer_cube_human")) == "openpi_aloha_sim"
    assert detect_profile(_openpi_dir(tmp_path / "c", "droid")) == "openpi_droid"
    assert detect_profile(_openpi_dir(tmp_path / "d", "trossen_mobile")) == "openpi_mobile_trossen"
    named = tmp_path / "e"
    named.mkdir()
    (named / "config.json").write_text(json.dumps({"config_name": "pi0_aloha_sim", "action_dim": 32}))
    assert detect_profile(named) == "openpi_aloha_sim"
    lerobot = tmp_path / "f"
    lerobot.mkdir()
    (lerobot / "config.json").write_text(json.dumps({"type": "pi0", "input_features": {
        "observation.images.top": {}, "observation.state": {}}}))
    assert detect_profile(lerobot) == "lerobot_aloha"
    unknown = _openpi_dir(tmp_path / "g", "my_robot")
    assert detect_profile(unknown) is None
    with pytest.raises(ValueError, match="give --profile, one of \\['lerobot_aloha'"):
        choose_profile(unknown, None)
    assert choose_profile(unknown, "openpi_ur5") == ("openpi_ur5", "given")


def test_profile_cameras_and_the_checkpoint_image_keys():
    spec = load_embodiment("bimanual_trossen")
    lerobot = EmbodimentAdapter(spec, profile="lerobot_aloha")
    assert lerobot.camera_keys == {"base": "top"}
    image = np.zeros((4, 4, 3), np.uint8)
    obs = lerobot.encode({"images": {"base": image, "left_wrist": image}, "positions": {n: 0.0 for n in spec.joint_names}})
    assert list(obs["images"]) == ["top"]
    lerobot.check_image_keys(("top",))
    with pytest.raises(ValueError, match=r"image keys \['top'\] that the checkpoint lacks"):
        lerobot.check_image_keys(("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb"))
    EmbodimentAdapter(spec, profile="openpi_aloha").check_image_keys(("base_0_rgb", "left_wrist_0_rgb",
                                                                      "right_wrist_0_rgb"))
