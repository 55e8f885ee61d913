"""The launch files: thin, valid Python that imports only launch/launch_ros and pi0_bringup,
one per robot and alias, each rendering `robots.describe` through launch_helpers."""
import ast
import importlib.util
from pathlib import Path

import pytest

from pi0_bringup import launch_helpers, robots

PACKAGE = Path(__file__).resolve().parents[1]
LAUNCH_DIR = PACKAGE / "launch"
ALLOWED_IMPORTS = ("launch", "launch_ros", "pi0_bringup")


def _imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_one_launch_file_per_robot_and_alias():
    files = sorted(p.name for p in LAUNCH_DIR.glob("*.launch.py"))
    assert files == sorted(f"{r}.launch.py" for r in robots.list_robots())
    assert len(robots.ROBOTS) == 7 and set(robots.ALIASES) == {"bimanual_agilex", "mobile_arx"}


@pytest.mark.parametrize("robot", robots.list_robots())
def test_launch_file_is_thin_and_imports_only_launch_and_pi0_bringup(robot):
    path = LAUNCH_DIR / f"{robot}.launch.py"
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    modules = list(_imported_modules(tree))
    assert modules, "a launch file imports its helper"
    for module in modules:
        assert module.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {module}"
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in functions] == ["generate_launch_description"]
    calls = [n for n in ast.walk(functions[0]) if isinstance(n, ast.Call)]
    assert [(c.func.id, [a.value for a in c.args]) for c in calls] == [("generate", [robot])]
    assert len(source.splitlines()) <= 20


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is not None, reason="launch_ros is installed")
def test_without_launch_ros_the_error_says_what_to_install_and_what_to_run_instead():
    path = LAUNCH_DIR / "mobile_trossen.launch.py"
    spec = importlib.util.spec_from_file_location("mobile_trossen_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ImportError, match="launch_ros") as error:
        module.generate_launch_description()
    assert "pi0 bringup" in str(error.value) and "ros-jazzy-launch-ros" in str(error.value)


def test_unknown_robot_fails_before_importing_launch():
    with pytest.raises(KeyError, match="mobile_trossen"):
        launch_helpers.generate("mobile_trosen")


def test_default_launch_arguments_start_policy_and_sim_autostarted():
    nodes = launch_helpers.describe_arguments("mobile_trossen", {})
    assert [(n.package, n.executable, n.lifecycle) for n in nodes] == [
        ("pi0_policy", "pi0_policy_node", True),
        ("pi0_hw_interfaces", "sim_robot", False),
    ]
    assert nodes[0].parameters["autostart"] is True
    assert nodes[0].parameters["embodiment"] == "mobile_trossen"
    assert all(n.namespace == "" and n.remappings == () for n in nodes)


def test_launch_arguments_map_to_describe():
    nodes = launch_helpers.describe_arguments(
        "mobile_trossen",
        {
            "hardware": "real",
            "bridge": "True",
            "autostart": "false",
            "namespace": "robot1",
            "checkpoint": "/ckpt",
            "device": "cuda:1",
            "left_wrist_camera": "/cams/left/image",
            "joint_states": "/robot1/arms/joint_states",
        },
    )
    assert [n.executable for n in nodes] == ["pi0_policy_node", "trajectory_bridge"]
    policy = nodes[0]
    assert policy.parameters["autostart"] is False
    assert (policy.parameters["checkpoint"], policy.parameters["device"]) == ("/ckpt", "cuda:1")
    assert policy.namespace == "/robot1" and nodes[1].namespace == "/robot1"
    expected = (
        ("camera_wrist_left/camera/color/image_rect_raw", "/cams/left/image"),
        ("joint_states", "/robot1/arms/joint_states"),
    )
    assert policy.remappings == expected and nodes[1].remappings == expected


@pytest.mark.parametrize(
    "values, message",
    [
        ({"autostart": "maybe"}, "autostart: expected true or false, got 'maybe'"),
        ({"hardware": "gazebo"}, "hardware must be one of"),
        ({"right_wrist_camera": "/cam"}, "ur5e has no camera 'right_wrist'"),
        ({"bridge": "true"}, "bridge:=true only applies to hardware:=real"),
        ({"hardware": "real", "bridge": "true"}, "ur5e needs no bridge"),
        ({"namespace": "robot 1"}, "invalid namespace 'robot 1'"),
        ({"base_camera": "/cam//image"}, "invalid topic name '/cam//image'"),
        ({"cameras": "x"}, "unknown launch arguments \\['cameras'\\]"),
    ],
)
def test_bad_launch_arguments_name_the_value(values, message):
    with pytest.raises(ValueError, match=message):
        launch_helpers.describe_arguments("ur5e", values)


def test_camera_arguments_cover_every_camera_role_of_every_robot():
    roles = {c.role for r in robots.list_robots() for c in robots.embodiment_spec(r).cameras}
    assert roles == set(launch_helpers.CAMERA_ROLES)


def test_every_launch_argument_has_a_description_and_valid_default():
    for argument in launch_helpers.LAUNCH_ARGUMENTS:
        assert argument.description
        assert not argument.choices or argument.default in argument.choices
    names = [a.name for a in launch_helpers.LAUNCH_ARGUMENTS]
    assert len(names) == len(set(names))


class _Recorder:
    """Stands in for launch_ros.actions.Node/LifecycleNode where launch_ros is not installed:
    records the keyword arguments `_to_action` passes (the mapping under test)."""

    def __init__(self, kind):
        self.kind = kind

    def __call__(self, **kwargs):
        return self.kind, kwargs


def test_descriptions_map_onto_launch_ros_node_arguments():
    from types import SimpleNamespace

    actions = SimpleNamespace(Node=_Recorder("Node"), LifecycleNode=_Recorder("LifecycleNode"))
    fake = SimpleNamespace(actions=actions)
    policy, sim = robots.describe("ur5e", checkpoint="/ckpt", namespace="r1", joint_states="/js")
    kind, kwargs = launch_helpers._to_action(policy, fake)
    assert kind == "LifecycleNode"
    assert kwargs["package"] == "pi0_policy" and kwargs["executable"] == "pi0_policy_node"
    assert (kwargs["name"], kwargs["namespace"]) == ("pi0_policy", "/r1")
    assert kwargs["parameters"] == [policy.parameters] and kwargs["remappings"] == [("joint_states", "/js")]
    assert launch_helpers._to_action(sim, fake)[0] == "Node"


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="needs launch_ros (ROS 2 install)")
def test_generate_renders_nodes_with_launch_ros(tmp_path):
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import LifecycleNode

    description = launch_helpers.generate("ur5e")
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    assert [d.name for d in declared] == [a.name for a in launch_helpers.LAUNCH_ARGUMENTS]
    context = LaunchContext()
    context.launch_configurations.update({a.name: a.default for a in launch_helpers.LAUNCH_ARGUMENTS})
    context.launch_configurations.update({"hardware": "real", "checkpoint": str(tmp_path)})
    actions = description.entities[-1].execute(context)
    assert len(actions) == 1 and isinstance(actions[0], LifecycleNode)
