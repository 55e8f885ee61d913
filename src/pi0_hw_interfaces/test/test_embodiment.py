"""Embodiment specs: the seven classes load with the paper's dims and rates; errors name the field."""
import copy

import numpy as np
import pytest
import yaml
from importlib import resources

from pi0_hw_interfaces.embodiment import list_embodiments, load_embodiment, spec_from_dict

# class: (state_dim, action_dim, control_rate_hz, replan_interval, base axes) — the paper's Fig. 4 / §V.
EXPECTED = {
    "ur5e": (7, 7, 20, 16, ()),
    "bimanual_ur5e": (14, 14, 20, 16, ()),
    "franka": (8, 8, 20, 16, ()),
    "bimanual_trossen": (14, 14, 50, 25, ()),
    "bimanual_arx": (14, 14, 50, 25, ()),
    "mobile_trossen": (14, 16, 50, 25, ("base_x", "base_yaw")),
    "mobile_fibocom": (14, 17, 50, 25, ("base_x", "base_y", "base_yaw")),
}


def raw(name):
    """The packaged YAML of class `name`, as a dict to edit into a bad spec."""
    path = resources.files("pi0_hw_interfaces").joinpath("embodiments", f"{name}.yaml")
    return yaml.safe_load(path.read_text())


def test_the_seven_classes_are_packaged():
    assert list_embodiments() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dims_rates_and_layout(name):
    spec = load_embodiment(name)
    state_dim, action_dim, rate, replan, axes = EXPECTED[name]
    assert (spec.state_dim, spec.action_dim) == (state_dim, action_dim)
    assert spec.control_rate_hz == rate and spec.replan_interval == replan
    assert spec.dt == pytest.approx(1.0 / rate)
    assert tuple(d.name for d in spec.action_dims if d.kind == "base") == axes
    assert (spec.base is None) == (not axes) and (spec.base_controller is None) == (not axes)
    # State = the action's joint/gripper part, in the same order.
    assert spec.state_dims == spec.action_dims[:state_dim]
    n_grippers = 1 if state_dim in (7, 8) else 2
    assert [d.kind for d in spec.state_dims].count("gripper") == n_grippers == len(spec.grippers)
    if state_dim == 14:  # openpi bimanual layout: grippers at dims 6 and 13
        assert [i for i, d in enumerate(spec.state_dims) if d.kind == "gripper"] == [6, 13]
    roles = {c.role for c in spec.cameras}
    assert roles == ({"base", "left_wrist"} if state_dim in (7, 8) else {"base", "left_wrist", "right_wrist"})
    jtc_joints = [j for c in spec.trajectory_controllers for j in c.joints]
    assert sorted(jtc_joints) == sorted(spec.joint_names)
    assert all(c.topic == f"{c.name}/joint_trajectory" for c in spec.trajectory_controllers)


def test_franka_and_ur5e_use_the_drivers_joint_names():
    assert load_embodiment("franka").joint_names[:7] == tuple(f"fr3_joint{i}" for i in range(1, 8))
    ur = load_embodiment("ur5e")
    assert ur.joint_names[0] == "shoulder_pan_joint"
    assert ur.controllers[0].name == "scaled_joint_trajectory_controller"
    assert ur.grippers["robotiq_85_left_knuckle_joint"].closed == 0.8


@pytest.mark.parametrize("alias, name", [("mobile_aloha", "mobile_trossen"), ("mobile_arx", "mobile_trossen"),
                                         ("agilex", "bimanual_arx"), ("piper", "bimanual_arx"),
                                         ("bimanual_agilex", "bimanual_arx"), ("ALOHA", "bimanual_trossen"),
                                         ("fr3", "franka")])
def test_aliases(alias, name):
    assert load_embodiment(alias).name == name


def test_unknown_name_lists_the_names_and_the_closest():
    with pytest.raises(KeyError) as err:
        load_embodiment("bimanual_trosen")
    message = str(err.value)
    assert "did you mean 'bimanual_trossen'" in message
    assert all(name in message for name in EXPECTED)


def test_joint_name_override_renames_everywhere():
    spec = load_embodiment("ur5e", joint_names={"shoulder_pan_joint": "ur_shoulder_pan_joint",
                                                "robotiq_85_left_knuckle_joint": "finger"})
    assert spec.joint_names[0] == "ur_shoulder_pan_joint" and "shoulder_pan_joint" not in spec.joint_names
    assert spec.action_dims[0].name == "ur_shoulder_pan_joint"
    assert spec.controllers[0].joints[0] == "ur_shoulder_pan_joint"
    assert spec.grippers["finger"].joint == "finger" and spec.action_dims[6].kind == "gripper"
    assert spec.joint("finger").upper == 0.8
    assert load_embodiment("ur5e").joint_names[0] == "shoulder_pan_joint"  # the packaged spec is untouched
    with pytest.raises(KeyError, match="unknown joint 'elbow'.*did you mean 'elbow_joint'"):
        load_embodiment("ur5e", joint_names={"elbow": "x"})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gripper_round_trip(name):
    spec = load_embodiment(name)
    for g in spec.grippers.values():
        assert g.to_policy(g.open) == pytest.approx(0.0) and g.to_policy(g.closed) == pytest.approx(1.0)
        policy = np.linspace(0.0, 1.0, 11)
        np.testing.assert_allclose(g.to_policy(g.to_driver(policy)), policy, atol=1e-12)
        assert spec.joint(g.joint).lower <= g.to_driver(0.5) <= spec.joint(g.joint).upper


def test_aloha_gripper_constants():
    g = load_embodiment("bimanual_trossen").grippers["follower_left_gripper"]
    assert g.to_driver(0.0) == pytest.approx(1.4910) and g.to_driver(1.0) == pytest.approx(-0.6213)
    assert g.to_policy(0.43485) == pytest.approx(0.5)


def test_clamp_to_joint_limits():
    spec = load_embodiment("franka")
    names = ["fr3_joint4", "fr3_joint6", "fr3_finger_joint1"]
    out = spec.clamp(names, [[0.0, 0.0, 0.1], [-1.0, 2.0, -0.01]])
    np.testing.assert_allclose(out, [[-0.1518, 0.5445, 0.04], [-1.0, 2.0, 0.0]])
    with pytest.raises(ValueError, match="expected"):
        spec.clamp(names, [0.0, 0.0])


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(action_dim=15), "action_dims has 16 entries but action_dim is 15"),
    (lambda d: d["state_dims"].pop(), "state_dims has 13 entries but state_dim is 14"),
    (lambda d: d["action_dims"].__setitem__(3, "follower_left_elbo"), "action_dims[3]: unknown joint"),
    (lambda d: (d["action_dims"].pop(15), d.update(action_dim=15)), "action_dims: base dimensions"),
    (lambda d: d["joints"][2].update(lower=2.0),
     "joints[2] (follower_left_elbow): lower 2.0 must be < upper"),
    (lambda d: d["controllers"][0]["joints"].pop(), "controllers: every joint must be in exactly one"),
    (lambda d: d["controllers"][1].update(topic="/abs/joint_trajectory"), "must be relative"),
    (lambda d: d["grippers"][0].update(open=3.0), "grippers[follower_left_gripper].open: 3.0 outside"),
    (lambda d: d["cameras"][0].update(role="front"), "cameras[0]: role 'front'"),
    (lambda d: d["base"].update(kind="holonomic"), "base.axes"),
    (lambda d: d.update(replan_interval=0), "replan_interval: must be an integer >= 1"),
])
def test_inconsistent_spec_errors_name_the_field(edit, field):
    data = copy.deepcopy(raw("mobile_trossen"))
    spec_from_dict(data)  # the unedited spec is valid
    edit(data)
    with pytest.raises(ValueError) as err:
        spec_from_dict(data)
    assert field in str(err.value)
    assert "mobile_trossen" in str(err.value)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["joints"][3].pop("lower"), "missing required field 'joints[3].lower'"),
    (lambda d: d["joints"][0].update(max_velocity="fast"),
     "joints[0].max_velocity has an invalid value 'fast'"),
    (lambda d: d.pop("controllers"), "missing required field 'controllers'"),
    (lambda d: d["base"].pop("max_linear"), "missing required field 'base.max_linear'"),
    (lambda d: d["cameras"].__setitem__(1, "camera_high"), "cameras[1] must be a mapping"),
])
def test_malformed_yaml_errors_name_the_field(edit, message):
    data = copy.deepcopy(raw("mobile_trossen"))
    edit(data)
    with pytest.raises(ValueError) as err:
        spec_from_dict(data, source="mobile_trossen.yaml")
    assert message in str(err.value)


def test_load_from_a_yaml_path(tmp_path):
    data = raw("franka")
    data["name"] = "my_franka"
    data["control_rate_hz"] = 15
    path = tmp_path / "my_franka.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = load_embodiment(str(path))
    assert spec.name == "my_franka" and spec.control_rate_hz == 15 and spec.action_dim == 8
    with pytest.raises(FileNotFoundError, match="no_such.yaml"):
        load_embodiment(str(tmp_path / "no_such.yaml"))
