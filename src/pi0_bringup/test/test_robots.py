"""Per-robot descriptions (robots.describe) checked against each robot's embodiment spec and
the π0 paper's robot table, for the seven classes and the aliases."""
import pytest

from pi0_bringup import robots

# Paper Fig. 4 / §V: (state dim, action dim, cameras, control rate Hz, replan interval, base kind)
PAPER = {
    "ur5e": (7, 7, 2, 20, 16, None),
    "bimanual_ur5e": (14, 14, 3, 20, 16, None),
    "franka": (8, 8, 2, 20, 16, None),
    "bimanual_trossen": (14, 14, 3, 50, 25, None),
    "bimanual_arx": (14, 14, 3, 50, 25, None),
    "bimanual_agilex": (14, 14, 3, 50, 25, None),
    "mobile_trossen": (14, 16, 3, 50, 25, "diff"),
    "mobile_arx": (14, 16, 3, 50, 25, "diff"),
    "mobile_fibocom": (14, 17, 3, 50, 25, "holonomic"),
}
ALIAS_OF = {"bimanual_agilex": "bimanual_arx", "mobile_arx": "mobile_trossen"}


def test_robot_list_is_the_paper_table():
    assert sorted(robots.list_robots()) == sorted(PAPER)


@pytest.mark.parametrize("robot", robots.list_robots())
def test_embodiment_matches_the_paper(robot):
    spec = robots.embodiment_spec(robot)
    state, action, cameras, rate, replan, base = PAPER[robot]
    assert (spec.state_dim, spec.action_dim, len(spec.cameras)) == (state, action, cameras)
    assert (spec.control_rate_hz, spec.replan_interval) == (rate, replan)
    assert (spec.base.kind if spec.base else None) == base
    assert spec.name == ALIAS_OF.get(robot, robot)


@pytest.mark.parametrize("robot", robots.list_robots())
def test_sim_description_matches_the_spec(robot):
    spec = robots.embodiment_spec(robot)
    policy, sim = robots.describe(robot, checkpoint="/ckpt")
    assert (policy.package, policy.executable, policy.name, policy.lifecycle) == robots.POLICY_NODE + (True,)
    assert (sim.package, sim.executable, sim.name, sim.lifecycle) == robots.SIM_NODE + (False,)
    assert policy.parameters["embodiment"] == sim.parameters["embodiment"] == spec.name
    assert policy.parameters["checkpoint"] == "/ckpt" and policy.parameters["autostart"] is True
    # Cameras: each role remaps its spec topic, for the policy and the simulated robot alike.
    topics = {role: f"/cams/{role}" for role in (c.role for c in spec.cameras)}
    policy, sim = robots.describe(robot, camera_topics=topics, joint_states="/arm/joint_states")
    expected = tuple((c.topic, f"/cams/{c.role}") for c in spec.cameras)
    expected += ((spec.joint_state_topic, "/arm/joint_states"),)
    assert policy.remappings == sim.remappings == expected


@pytest.mark.parametrize("robot", robots.list_robots())
def test_real_hardware_starts_a_bridge_only_for_driver_topics(robot):
    spec = robots.embodiment_spec(robot)
    (policy,) = robots.describe(robot, hardware="real", checkpoint="/ckpt", autostart=False)
    assert policy.parameters["autostart"] is False and policy.parameters["autoconfigure"] is True
    bridged = [c for c in spec.controllers if c.driver_topic]
    if bridged:
        policy, bridge = robots.describe(robot, hardware="real", bridge=True, namespace="/lab/robot1")
        assert (bridge.package, bridge.executable) == robots.BRIDGE_NODE[:2]
        assert bridge.parameters["embodiment"] == spec.name
        assert policy.namespace == bridge.namespace == "/lab/robot1"
    else:
        with pytest.raises(ValueError, match="needs no bridge"):
            robots.describe(robot, hardware="real", bridge=True)


def test_which_robots_have_bridges():
    with_bridge = {r for r in robots.list_robots() if robots.bridged_controllers(robots.embodiment_spec(r))}
    assert with_bridge == {
        "bimanual_arx", "bimanual_agilex", "mobile_trossen", "mobile_arx", "mobile_fibocom"
    }


@pytest.mark.parametrize("robot", robots.list_robots())
def test_policy_parameters_are_declared_by_the_policy_node(robot):
    schema = pytest.importorskip("pi0_policy.ros.parameters")
    policy = robots.describe(robot, checkpoint="/ckpt", device="cpu")[0]
    values = {p.name: p.default for p in schema.SCHEMA}
    unknown = set(policy.parameters) - set(values)
    assert not unknown, f"config/{robot}.yaml sets undeclared policy parameters {unknown}"
    for name, value in policy.parameters.items():
        assert type(value) is type(values[name]), f"{name}={value!r}: the node declares {type(values[name])}"
    values.update(policy.parameters)
    assert schema.validate(values).embodiment == robots.embodiment_spec(robot).name


@pytest.mark.parametrize("alias, parent", sorted(ALIAS_OF.items()))
def test_alias_runs_its_parents_nodes_with_its_own_stack(alias, parent):
    mine, theirs = robots.robot_config(alias), robots.robot_config(parent)
    for key in ("embodiment", "policy", "sim"):
        assert mine[key] == theirs[key], key
    assert mine["real"]["bridge"] == theirs["real"]["bridge"]
    assert mine["real"]["stack"] and mine["real"]["stack"] != theirs["real"]["stack"]
    assert robots.describe(alias, checkpoint="/c") == robots.describe(parent, checkpoint="/c")


@pytest.mark.parametrize("robot", robots.list_robots())
def test_robot_file_is_a_ros_parameter_file_naming_one_embodiment(robot):
    from importlib import resources

    import yaml

    data = yaml.safe_load(resources.files("pi0_bringup").joinpath("config", f"{robot}.yaml").read_text())
    spec = robots.embodiment_spec(robot)
    for node, body in data.items():
        assert list(body) == ["ros__parameters"], node
        if node != "pi0_bringup":
            assert body["ros__parameters"]["embodiment"] == spec.name, node
    # A trajectory_bridge section exactly where the spec has driver topics to bridge.
    assert ("trajectory_bridge" in data) == bool(robots.bridged_controllers(spec))
    assert robots.robot_config(robot)["real"]["stack"]


def test_overrides_and_remappings():
    policy, sim = robots.describe(
        "franka", device="cuda", parameters={"num_steps": 5}, sim_parameters={"x": 1},
        remappings=["fr3_arm_controller/joint_trajectory:=/arm/jt", ("a", "/b")],
    )
    assert policy.parameters["num_steps"] == 5 and policy.parameters["device"] == "cuda"
    assert sim.parameters["x"] == 1 and "num_steps" not in sim.parameters
    assert policy.remappings == (("fr3_arm_controller/joint_trajectory", "/arm/jt"), ("a", "/b"))


def test_sim_image_size_is_passed_on_to_the_policy():
    policy, sim = robots.describe("mobile_trossen", sim_parameters={"image_width": 320, "image_height": 240})
    assert (sim.parameters["image_width"], sim.parameters["image_height"]) == (320, 240)
    for role in ("base", "left_wrist", "right_wrist"):
        assert policy.parameters[f"cameras.{role}.width"] == 320
        assert policy.parameters[f"cameras.{role}.height"] == 240
    policy, _ = robots.describe("mobile_trossen")  # the spec's size: nothing to pass on
    assert not any(name.startswith("cameras.") for name in policy.parameters)
    (policy,) = robots.describe("ur5e", hardware="real", checkpoint="/c", sim_parameters={"image_width": 320})
    assert "cameras.base.width" not in policy.parameters


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: robots.describe("ur5"), KeyError, "unknown robot 'ur5'.*Did you mean 'ur5e'"),
        (lambda: robots.describe("ur5e", hardware="gazebo"), ValueError, "hardware must be one of"),
        (lambda: robots.describe("ur5e", remappings=["a=b"]), ValueError, "invalid remapping 'a=b'"),
        (lambda: robots.describe("ur5e", remappings=["a:=b c"]), ValueError, "invalid topic name 'b c'"),
        (lambda: robots.describe("ur5e", camera_topics={"right_wrist": "/x"}), ValueError,
         "ur5e has no camera 'right_wrist'; its cameras are \\['base', 'left_wrist'\\]"),
        (lambda: robots.normalize_namespace("1robot"), ValueError, "invalid namespace '1robot'"),
    ],
)
def test_bad_input_raises_naming_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "text, expected", [("", ""), ("/", ""), ("robot1", "/robot1"), ("/lab/r1/", "/lab/r1")]
)
def test_namespace_normalisation(text, expected):
    assert robots.normalize_namespace(text) == expected
