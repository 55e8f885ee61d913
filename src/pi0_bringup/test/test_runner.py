"""The in-process runner: executables map to node classes, descriptions to rclpy Node arguments."""
import inspect
import sys

import pytest

from pi0_bringup import robots
from pi0_bringup.robots import NodeDescription
from pi0_bringup.runner import EXECUTABLES, Runner, node_class, node_kwargs

NODES = [robots.POLICY_NODE, *robots.SIMULATORS.values(), robots.BRIDGE_NODE]


@pytest.mark.parametrize("package, executable, name", NODES)
def test_described_executables_resolve_to_node_classes_of_the_same_name(package, executable, name):
    assert set(EXECUTABLES) == {node[:2] for node in NODES}
    cls = node_class(package, executable)
    assert inspect.signature(cls.__init__).parameters["node_name"].default == name


def test_unknown_executable_names_the_known_ones():
    with pytest.raises(KeyError, match="pi0_policy/pi0_policy_node"):
        node_class("pi0_policy", "pi0_node")


def test_node_kwargs_carry_name_namespace_parameters_and_remappings():
    remaps = (("joint_states", "/js"), ("a", "b"))
    params = {"rate_hz": 10.0, "x": (1, 2)}
    description = NodeDescription("pi0_hw_interfaces", "sim_robot", "sim", "/lab", params, remaps)
    kwargs = node_kwargs(description)
    assert (kwargs["node_name"], kwargs["namespace"]) == ("sim", "/lab")
    assert [(p.name, p.value) for p in kwargs["parameter_overrides"]] == [("rate_hz", 10.0), ("x", [1, 2])]
    assert kwargs["cli_args"] == ["--ros-args", "-r", "joint_states:=/js", "-r", "a:=b"]
    assert "context" not in kwargs
    assert node_kwargs(NodeDescription("p", "e", "n"))["cli_args"] is None


@pytest.mark.parametrize("value, message", [([], "an empty list has no ROS type"), ({"a": 1}, "no ROS")])
def test_parameters_without_a_ros_type_are_refused(value, message):
    with pytest.raises(ValueError, match=f"parameter 'p' of n: .*{message}|{message}"):
        node_kwargs(NodeDescription("pkg", "exe", "n", "", {"p": value}))


def test_runner_starts_named_nodes_in_a_namespace_and_cleans_up_on_failure(ros_context):
    params = {"embodiment": "ur5e", "camera_rate_hz": 0.0}
    good = NodeDescription(*robots.SIM_NODE[:2], "arm_sim", "/lab", params)
    before = sys.getswitchinterval()
    with Runner([good], context=ros_context) as runner:
        node = runner.nodes["arm_sim"]
        assert node.get_fully_qualified_name() == "/lab/arm_sim"
        assert runner.alive() and sys.getswitchinterval() == pytest.approx(0.0005)
    assert not runner.alive() and runner.nodes == {}
    assert sys.getswitchinterval() == before
    bad = NodeDescription("pi0_policy", "no_such_node", "x")
    runner = Runner([good, bad], context=ros_context)
    with pytest.raises(KeyError, match="no in-process node class for pi0_policy/no_such_node"):
        runner.start()
    assert runner.nodes == {} and ros_context.ok()
