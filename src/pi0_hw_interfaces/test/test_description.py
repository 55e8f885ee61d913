"""ros2_control descriptions and controllers.yaml: parse, agree with the spec, and are up to date."""
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from pi0_hw_interfaces import description
from pi0_hw_interfaces.embodiment import list_embodiments, load_embodiment

PACKAGE = Path(__file__).resolve().parents[1]
CLASSES = list_embodiments()
XACRO_NS = "{http://www.ros.org/wiki/xacro}"


def expand_args(text: str, **overrides) -> str:
    """Expand a xacro that uses only `xacro:arg` and `$(arg ...)` (what the generator emits)."""
    root = ET.fromstring(text)
    args = {a.get("name"): a.get("default") for a in root.iter(f"{XACRO_NS}arg")}
    unknown = set(overrides) - set(args)
    assert not unknown, f"no xacro args {unknown}"
    args.update(overrides)
    used = set(re.findall(r"\$\((\w+) ", text))
    assert used <= {"arg"}, f"xacro features other than $(arg) used: {used}"
    text = re.sub(r"\$\(arg (\w+)\)", lambda m: args[m.group(1)], text)
    text = re.sub(r"\s*<xacro:arg [^>]*/>", "", text)
    return re.sub(r"\s*<!-- hardware_plugin: [^>]*-->", "", text)


@pytest.mark.parametrize("name", CLASSES)
def test_generated_files_are_committed_and_up_to_date(name):
    for rel, text in description.generated_files(load_embodiment(name)).items():
        path = PACKAGE / rel
        assert path.is_file(), f"{rel} missing: run python -m pi0_hw_interfaces.description"
        assert path.read_text() == text, f"{rel} is out of date: run python -m pi0_hw_interfaces.description"


@pytest.mark.parametrize("name", CLASSES)
def test_urdf_ros2_control_block_agrees_with_the_spec(name):
    spec = load_embodiment(name)
    xacro_text = (PACKAGE / "description" / f"{name}.urdf.xacro").read_text()
    urdf_text = (PACKAGE / "description" / f"{name}.urdf").read_text()
    assert ET.fromstring(expand_args(xacro_text)) is not None
    assert expand_args(xacro_text).strip() == urdf_text.strip()  # the URDF is the xacro with defaults
    robot = ET.fromstring(urdf_text)
    (block,) = robot.findall("ros2_control")
    assert block.get("type") == "system"
    assert block.find("hardware/plugin").text == "mock_components/GenericSystem"
    wheels = spec.base.wheel_joints if spec.base else ()
    assert [j.get("name") for j in block.findall("joint")] == [*spec.joint_names, *wheels]
    for joint in spec.joints:
        (j,) = [e for e in block.findall("joint") if e.get("name") == joint.name]
        assert [c.get("name") for c in j.findall("command_interface")] == ["position"]
        assert [s.get("name") for s in j.findall("state_interface")] == ["position", "velocity"]
        limits = {p.get("name"): float(p.text) for p in j.findall("command_interface/param")}
        assert limits == {"min": joint.lower, "max": joint.upper}
        (urdf_joint,) = [e for e in robot.findall("joint") if e.get("name") == joint.name]
        assert urdf_joint.get("type") == joint.type
        limit = urdf_joint.find("limit")
        assert float(limit.get("velocity")) == joint.max_velocity and float(limit.get("lower")) == joint.lower
    for wheel in wheels:
        (j,) = [e for e in block.findall("joint") if e.get("name") == wheel]
        assert [c.get("name") for c in j.findall("command_interface")] == ["velocity"]
    # Every link referenced exists: the URDF is a tree rooted at base_link.
    links = {link.get("name") for link in robot.findall("link")}
    children = [j.find("child").get("link") for j in robot.findall("joint")]
    assert {j.find("parent").get("link") for j in robot.findall("joint")} <= links
    assert sorted(children) == sorted(links - {"base_link"})


@pytest.mark.parametrize("name", CLASSES)
def test_hardware_plugin_is_selectable(name):
    spec = load_embodiment(name)
    text = (PACKAGE / "description" / f"{name}.urdf.xacro").read_text()
    plugin = spec.hardware.vendor or "my_vendor/Hardware"
    robot = ET.fromstring(expand_args(text, hardware_plugin=plugin))
    assert robot.find("ros2_control/hardware/plugin").text == plugin
    params = {p.get("name"): p.text for p in robot.findall("ros2_control/hardware/param")}
    assert {k: params[k] for k in spec.hardware.vendor_parameters} == dict(spec.hardware.vendor_parameters)
    if spec.hardware.vendor:
        assert spec.hardware.vendor in text  # named in the xacro for users


@pytest.mark.parametrize("name", CLASSES)
def test_controllers_yaml_agrees_with_the_spec(name):
    spec = load_embodiment(name)
    config = yaml.safe_load((PACKAGE / "config" / f"{name}_controllers.yaml").read_text())
    manager = config["controller_manager"]["ros__parameters"]
    assert manager["update_rate"] == spec.hardware.update_rate > 0
    assert manager["joint_state_broadcaster"]["type"] == "joint_state_broadcaster/JointStateBroadcaster"
    declared = {k for k, v in manager.items() if isinstance(v, dict)} - {"joint_state_broadcaster"}
    assert declared == {c.name for c in spec.controllers}
    for c in spec.trajectory_controllers:
        assert manager[c.name]["type"] == "joint_trajectory_controller/JointTrajectoryController"
        params = config[c.name]["ros__parameters"]
        assert params["joints"] == list(c.joints)
        assert params["command_interfaces"] == ["position"] and params["allow_partial_joints_goal"] is False
    if spec.base is None:
        assert spec.base_controller is None
        return
    c = spec.base_controller
    params = config[c.name]["ros__parameters"]
    if spec.base.kind == "diff":
        assert manager[c.name]["type"] == "diff_drive_controller/DiffDriveController"
        assert params["left_wheel_names"] + params["right_wheel_names"] == list(spec.base.wheel_joints)
        assert params["linear"]["x"]["max_velocity"] == spec.base.max_linear
        assert params["angular"]["z"]["max_velocity"] == spec.base.max_angular
        assert params["cmd_vel_timeout"] == spec.base.command_timeout
        assert c.topic == f"{c.name}/cmd_vel" and c.msg_type == "geometry_msgs/TwistStamped"
    else:
        assert manager[c.name]["type"] == "mecanum_drive_controller/MecanumDriveController"
        wheels = [params[f"{w}_wheel_command_joint_name"]
                  for w in ("front_left", "front_right", "rear_left", "rear_right")]
        assert wheels == list(spec.base.wheel_joints)
        assert c.topic == f"{c.name}/reference" and c.msg_type == "geometry_msgs/TwistStamped"


def test_vendor_plugin_in_the_expanded_urdf():
    urdf = description.urdf(load_embodiment("franka"), plugin="franka_hardware/FrankaHardwareInterface")
    robot = ET.fromstring(urdf)
    assert robot.find("ros2_control/hardware/plugin").text == "franka_hardware/FrankaHardwareInterface"
    assert robot.find("ros2_control/hardware/param[@name='robot_ip']").text == "172.16.0.2"


def test_check_mode_reports_stale_files(tmp_path, capsys):
    assert description.main(["--root", str(tmp_path), "--check"]) == 1
    assert "out of date: description/ur5e.urdf" in capsys.readouterr().out
    assert description.main(["--root", str(tmp_path)]) == 0
    assert description.main(["--root", str(tmp_path), "--check"]) == 0
    assert (tmp_path / "config" / "franka_controllers.yaml").is_file()
