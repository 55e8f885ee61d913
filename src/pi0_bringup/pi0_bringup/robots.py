"""What each robot starts: per-robot descriptions computed from YAML data.

`describe(robot, ...)` is the one place that decides which nodes run for a robot, with which
parameters and remappings. The launch files (through `pi0_bringup.launch_helpers`) and the
in-process runner (`pi0 bringup`, `pi0_bringup.runner`) both render its output, so what
`ros2 launch pi0_bringup ROBOT.launch.py` starts and what `pi0 bringup ROBOT` starts agree.

Per-robot data lives in `pi0_bringup/config/<robot>.yaml` (installed to
`share/pi0_bringup/config/`), a ROS 2 parameter file, so it also works as
`--ros-args --params-file` for the nodes run by hand:

- `pi0_policy.ros__parameters`: parameters of pi0_policy_node for this robot; `embodiment` is
  the pi0_hw_interfaces embodiment name (its spec gives joints, cameras, controllers and rates;
  nothing of it is repeated here).
- `sim_robot.ros__parameters`: parameters of sim_robot (`hardware="sim"`).
- `trajectory_bridge.ros__parameters` (robots whose spec names driver topics, i.e. controllers
  with a `driver_topic`: vendor drivers that do not take JointTrajectory, e.g. Piper's
  JointState or a base's Twist): parameters of the bridge (`hardware="real", bridge=True`).
- `pi0_bringup.ros__parameters` (no such node; read only here): `description`, and `stack`,
  the driver or ros2_control stack a real robot runs (documentation).

An alias (`bimanual_agilex`, `mobile_arx`) is a robot file of its own with its parent's
embodiment. Every node section names the same embodiment.

Remappings given to `describe` apply to every node it starts, so a camera topic remapped for
the policy is also the topic the simulated robot publishes on.
"""
from __future__ import annotations

import copy
import difflib
import functools
import re
from dataclasses import dataclass, field
from importlib import resources

import yaml

from pi0_policy.ros.topics import INSTRUCTION_TOPIC  # noqa: F401 - defined once, by the policy

#: The seven robot classes of the π0 paper, then aliases for variants that share a class.
ROBOTS = (
    "ur5e",
    "bimanual_ur5e",
    "franka",
    "bimanual_trossen",
    "bimanual_arx",
    "mobile_trossen",
    "mobile_fibocom",
)
ALIASES = ("bimanual_agilex", "mobile_arx")
HARDWARE = ("sim", "real")
POLICY_NODE = ("pi0_policy", "pi0_policy_node", "pi0_policy")
SIM_NODE = ("pi0_hw_interfaces", "sim_robot", "sim_robot")
#: Simulators for `hardware="sim"`: the kinematic sim robot (any robot), or MuJoCo physics
#: (pi0_hw_interfaces.mujoco_sim) for the robots of the listed embodiment classes.
SIMULATORS = {"kinematic": SIM_NODE, "mujoco": ("pi0_hw_interfaces", "mujoco_sim", "mujoco_sim")}
MUJOCO_CLASSES = ("bimanual_trossen",)
BRIDGE_NODE = ("pi0_hw_interfaces", "trajectory_bridge", "trajectory_bridge")
#: Sections of a robot file: node name → key in `robot_config`.
_SECTIONS = {"pi0_bringup": "meta", "pi0_policy": "policy", "sim_robot": "sim", "trajectory_bridge": "bridge"}
_NAMESPACE = re.compile(r"^/?([A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*)?$")
_TOPIC = re.compile(r"^[~/]?[A-Za-z_{][A-Za-z0-9_{}/~]*$")


@dataclass(frozen=True)
class NodeDescription:
    """One node to start: what `launch_ros.actions.Node` takes, and what the runner builds.

    `parameters` are ROS parameter values (no nested dicts); `remappings` are `(from, to)`
    topic pairs; `lifecycle` marks a rclpy LifecycleNode (rendered as a LifecycleNode action).
    """

    package: str
    executable: str
    name: str
    namespace: str = ""
    parameters: dict = field(default_factory=dict)
    remappings: tuple = ()
    lifecycle: bool = False


def list_robots() -> list[str]:
    """Every robot name `describe` accepts: the seven classes, then the aliases."""
    return [*ROBOTS, *ALIASES]


def _check_robot(robot: str) -> None:
    if robot not in list_robots():
        close = difflib.get_close_matches(str(robot), list_robots(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown robot {robot!r}; choose one of {', '.join(list_robots())}.{hint}")


@functools.lru_cache(maxsize=None)
def _load_yaml(robot: str) -> dict:
    where = f"pi0_bringup/config/{robot}.yaml"
    text = resources.files("pi0_bringup").joinpath("config", f"{robot}.yaml").read_text()
    data = yaml.safe_load(text) or {}
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ValueError(f"{where}: unknown sections {sorted(unknown)}; allowed: {sorted(_SECTIONS)}")
    sections = {}
    for node, body in data.items():
        if not isinstance(body, dict) or set(body) != {"ros__parameters"}:
            raise ValueError(f"{where}: {node}: expected only 'ros__parameters:' (a ROS 2 parameter file)")
        sections[_SECTIONS[node]] = dict(body["ros__parameters"] or {})
    return sections


def robot_config(robot: str) -> dict:
    """The robot's file as {embodiment, description, policy, sim, real: {stack, bridge}}.

    `policy`, `sim` and `bridge` are node parameters without `embodiment`; `bridge` is None
    where the file has no trajectory_bridge section. A file whose sections name different
    embodiments, or that lacks pi0_policy's `embodiment`, raises ValueError. A fresh copy.
    """
    _check_robot(robot)
    sections = copy.deepcopy(_load_yaml(robot))
    where = f"pi0_bringup/config/{robot}.yaml"
    embodiment = sections.get("policy", {}).get("embodiment")
    if not embodiment:
        raise ValueError(f"{where}: pi0_policy.ros__parameters.embodiment is missing")
    for key in ("policy", "sim", "bridge"):
        named = sections.get(key, {}).pop("embodiment", embodiment)
        if named != embodiment:
            raise ValueError(f"{where}: {key} names embodiment {named!r}, pi0_policy names {embodiment!r}")
    meta = sections.get("meta", {})
    return {
        "embodiment": embodiment,
        "description": meta.get("description", ""),
        "policy": sections.get("policy", {}),
        "sim": sections.get("sim", {}),
        "real": {"stack": meta.get("stack", ""), "bridge": sections.get("bridge")},
    }


def embodiment_spec(robot: str, embodiment: str = ""):
    """The pi0_hw_interfaces EmbodimentSpec of `robot` (joints, cameras, controllers, rates), or
    of `embodiment` (a name or an embodiment YAML file) where given; that must be of the same
    class as the robot's (else ValueError)."""
    from pi0_hw_interfaces.embodiment import load_embodiment

    own = load_embodiment(robot_config(robot)["embodiment"])
    if not embodiment:
        return own
    spec = load_embodiment(embodiment)
    if spec.name != own.name:
        raise ValueError(f"embodiment {embodiment!r} is a {spec.name!r}; {robot} needs a {own.name!r}")
    return spec


def bridged_controllers(spec) -> list:
    """The spec's controllers that trajectory_bridge serves (those with a `driver_topic`)."""
    return [c for c in spec.controllers if c.driver_topic]


def normalize_namespace(namespace: str) -> str:
    """"" or "/" (none), "robot1", "/lab/robot1/" → "", "/robot1", "/lab/robot1"; else ValueError."""
    namespace = (namespace or "").strip()
    if len(namespace) > 1:
        namespace = namespace.rstrip("/")
    if namespace in ("", "/"):
        return ""
    if not _NAMESPACE.match(namespace):
        raise ValueError(
            f"invalid namespace {namespace!r}: use names of letters, digits and '_' separated by '/', "
            "e.g. 'robot1' or '/lab/robot1'"
        )
    return "/" + namespace.strip("/")


def parse_remap(text: str) -> tuple[str, str]:
    """"from:=to" → ("from", "to"); a missing ":=" or an invalid topic name raises ValueError."""
    if text.count(":=") != 1:
        raise ValueError(f"invalid remapping {text!r}: write FROM:=TO, e.g. camera_high/image:=/cam0/image")
    source, target = (part.strip() for part in text.split(":="))
    for topic in (source, target):
        if not _TOPIC.match(topic) or "//" in topic or topic.endswith("/"):
            raise ValueError(f"invalid topic name {topic!r} in remapping {text!r}")
    return source, target


def parse_bool(value, what: str) -> bool:
    """A launch-style boolean ("true"/"false", any case, or a bool); else ValueError naming `what`."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{what}: expected true or false, got {value!r}")


def camera_remappings(spec, camera_topics: dict | None) -> list[tuple[str, str]]:
    """Remappings from the spec's camera topics to `camera_topics` {role: topic}; "" keeps a topic."""
    roles = {camera.role: camera.topic for camera in spec.cameras}
    pairs = []
    for role, topic in (camera_topics or {}).items():
        if role not in roles:
            raise ValueError(f"{spec.name} has no camera {role!r}; its cameras are {sorted(roles)}")
        if topic:
            pairs.append(parse_remap(f"{roles[role]}:={topic}"))
    return pairs


def describe(
    robot: str,
    hardware: str = "sim",
    checkpoint: str = "",
    device: str = "",
    namespace: str = "",
    autostart: bool = True,
    bridge: bool = False,
    camera_topics: dict | None = None,
    joint_states: str = "",
    remappings=(),
    parameters: dict | None = None,
    sim_parameters: dict | None = None,
    embodiment: str = "",
    sim: str = "kinematic",
) -> list[NodeDescription]:
    """The nodes that run `robot`, in start order.

    - Always the lifecycle policy node (`pi0_policy/pi0_policy_node`, name `pi0_policy`), with
      the robot's `policy` parameters, then `embodiment`, `autostart`, and `checkpoint` and
      `device` where given (non-empty), then `parameters` (overrides).
    - `hardware="sim"`: the simulated robot (`pi0_hw_interfaces/sim_robot`) with the robot's
      `sim` parameters and `sim_parameters`; `sim="mujoco"`: the MuJoCo simulator
      (`pi0_hw_interfaces/mujoco_sim`, ALOHA robots only) with `sim_parameters`. `bridge=True` with `hardware="sim"` is a ValueError.
    - `hardware="real"`: nothing else (the user's driver or ros2_control stack is running), or
      with `bridge=True` the trajectory bridge; for a robot whose spec has no driver topics
      (its stack takes JointTrajectory itself) that is a ValueError saying so.
    - `camera_topics` {role: topic} and `joint_states` remap the spec's topics; `remappings` are
      more `(from, to)` pairs or "from:=to" strings. All apply to every node.
    - `embodiment` (a YAML file of the robot's class, e.g. with your camera sizes or joint
      names) replaces the robot's embodiment name for every node.
    """
    config = robot_config(robot)
    if hardware not in HARDWARE:
        raise ValueError(f"hardware must be one of {HARDWARE}, got {hardware!r}")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {tuple(SIMULATORS)}, got {sim!r}")
    namespace = normalize_namespace(namespace)
    spec = embodiment_spec(robot, embodiment)
    embodiment = str(embodiment or config["embodiment"])
    remaps = camera_remappings(spec, camera_topics)
    if joint_states:
        remaps.append(parse_remap(f"{spec.joint_state_topic}:={joint_states}"))
    remaps += [parse_remap(r) if isinstance(r, str) else parse_remap(":=".join(r)) for r in remappings]
    remaps = tuple(remaps)

    # autostart: configure and activate; otherwise configured (model loaded) and left inactive.
    policy = {**config["policy"], "embodiment": embodiment, "autostart": bool(autostart), "autoconfigure": True}
    if checkpoint:
        policy["checkpoint"] = str(checkpoint)
    if device:
        policy["device"] = str(device)
    if hardware == "sim":
        # A simulated robot told to render another image size: the policy expects that size.
        sim_size = {**config["sim"], **(sim_parameters or {})}
        for axis in ("width", "height"):
            if int(sim_size.get(f"image_{axis}") or 0) > 0:
                for cam in spec.cameras:
                    policy[f"cameras.{cam.role}.{axis}"] = int(sim_size[f"image_{axis}"])
    policy.update(parameters or {})
    package, executable, name = POLICY_NODE
    nodes = [NodeDescription(package, executable, name, namespace, policy, remaps, lifecycle=True)]

    if hardware == "sim":
        if bridge:
            raise ValueError(
                "bridge:=true only applies to hardware:=real (the simulated robot takes trajectories itself)"
            )
        if sim == "mujoco":
            if spec.name not in MUJOCO_CLASSES:
                raise ValueError(f"sim mujoco simulates {MUJOCO_CLASSES} only, not {spec.name}; use sim kinematic")
            params = {"embodiment": embodiment, **(sim_parameters or {})}
        else:
            params = {**config["sim"], "embodiment": embodiment, **(sim_parameters or {})}
        package, executable, name = SIMULATORS[sim]
        nodes.append(NodeDescription(package, executable, name, namespace, params, remaps))
    elif bridge:
        if not bridged_controllers(spec):
            raise ValueError(
                f"{robot} needs no bridge: its stack ({config['real'].get('stack', 'ros2_control')}) takes "
                "trajectory_msgs/JointTrajectory itself; leave bridge:=false"
            )
        params = {**(config["real"].get("bridge") or {}), "embodiment": embodiment}
        nodes.append(NodeDescription(*BRIDGE_NODE[:2], BRIDGE_NODE[2], namespace, params, remaps))
    return nodes
