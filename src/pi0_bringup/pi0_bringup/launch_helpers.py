"""Render a robot's description (pi0_bringup.robots.describe) as a ROS 2 launch description.

Every `launch/<robot>.launch.py` is `generate(robot)`. The launch arguments are declared from
`LAUNCH_ARGUMENTS`; at launch time an OpaqueFunction reads their values, turns them into
`describe` arguments (`describe_arguments`, plain Python, tested without launch) and
returns one launch_ros Node (LifecycleNode for the policy) per NodeDescription.

`launch` and `launch_ros` are imported only inside `generate`: they come with a ROS 2 install
(ros-jazzy-launch-ros), not with the PyPI wheels. Without them, run the same description with
`pi0 bringup ROBOT`.
"""
from __future__ import annotations

from dataclasses import dataclass

from pi0_hw_interfaces.spec_validation import CAMERA_ROLES  # one `<role>_camera` launch argument each

from pi0_bringup import robots


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str
    choices: tuple = ()


LAUNCH_ARGUMENTS = (
    LaunchArgument(
        "hardware", "sim", "sim: start the simulated robot; real: use the running driver", ("sim", "real")
    ),
    LaunchArgument("sim", "kinematic", "with hardware:=sim: kinematic or mujoco (MuJoCo ALOHA physics)",
                   ("kinematic", "mujoco")),
    LaunchArgument("bridge", "false", "true: with hardware:=real, start the robot's trajectory bridge"),
    LaunchArgument(
        "checkpoint", "", "π0 checkpoint directory (empty or none: a random tiny π0 in simulation; needed "
        "for real)"
    ),
    LaunchArgument("device", "", "torch device for the policy, e.g. cpu, cuda, cuda:1 (empty or none: default)"),
    LaunchArgument("namespace", "", "namespace of every node and relative topic, e.g. robot1 (empty or none: "
                   "no namespace)"),
    LaunchArgument("autostart", "true", "true: configure and activate the policy node at start; false: configure it and leave it inactive"),
    *(
        LaunchArgument(f"{role}_camera", "", f"topic of the {role} camera (empty: the robot's default topic)")
        for role in CAMERA_ROLES
    ),
    LaunchArgument("joint_states", "", "joint state topic (empty: joint_states)"),
    LaunchArgument("embodiment", "", "embodiment YAML of the robot's class, e.g. your camera sizes"),
)


#: A launch argument cannot be given empty on the command line (`ros2 launch` refuses
#: `checkpoint:=` as a "malformed launch argument"): this value stands for "not set" in every
#: argument whose default is empty (docker/compose.yaml passes it for unset settings).
UNSET = "none"


def unset_to_empty(values: dict) -> dict:
    """{name: value} with UNSET ("none", any case) replaced by "" for arguments whose default is empty."""
    empty = {a.name for a in LAUNCH_ARGUMENTS if a.default == ""}
    return {k: "" if k in empty and str(v).strip().lower() == UNSET else v for k, v in values.items()}


def describe_arguments(robot: str, values: dict) -> list:
    """Launch-argument strings {name: value} → `robots.describe(robot, ...)`'s node descriptions.

    Missing names take their LAUNCH_ARGUMENTS default; UNSET ("none") means empty; a camera
    argument for a role the robot lacks must stay empty (else ValueError naming its cameras).
    """
    values = unset_to_empty(values)
    unknown = set(values) - {a.name for a in LAUNCH_ARGUMENTS}
    if unknown:
        known = [a.name for a in LAUNCH_ARGUMENTS]
        raise ValueError(f"unknown launch arguments {sorted(unknown)}; known: {known}")
    v = {a.name: str(values.get(a.name, a.default)).strip() for a in LAUNCH_ARGUMENTS}
    cameras = {role: v[f"{role}_camera"] for role in CAMERA_ROLES if v[f"{role}_camera"]}
    return robots.describe(
        robot,
        hardware=v["hardware"],
        checkpoint=v["checkpoint"],
        device=v["device"],
        namespace=v["namespace"],
        autostart=robots.parse_bool(v["autostart"], "autostart"),
        bridge=robots.parse_bool(v["bridge"], "bridge"),
        camera_topics=cameras,
        joint_states=v["joint_states"],
        embodiment=v["embodiment"],
        sim=v["sim"],
    )


def _import_launch():
    try:
        import launch
        import launch.actions
        import launch.substitutions
        import launch_ros.actions
    except ImportError as error:
        raise ImportError(
            f"pi0_bringup launch files need the ROS 2 packages 'launch' and 'launch_ros' ({error}). "
            "Install them (apt: ros-jazzy-launch-ros) and source /opt/ros/jazzy/setup.bash, or run the "
            "same robot without launch: `pi0 bringup ROBOT --hardware sim`."
        ) from error
    return launch, launch_ros


def _to_action(description, launch_ros):
    kwargs = dict(
        package=description.package,
        executable=description.executable,
        name=description.name,
        namespace=description.namespace,
        parameters=[description.parameters],
        remappings=list(description.remappings),
        output="screen",
        emulate_tty=True,
    )
    if description.lifecycle:
        return launch_ros.actions.LifecycleNode(**kwargs)
    return launch_ros.actions.Node(**kwargs)


def generate(robot: str):
    """The LaunchDescription of `robot` (declared arguments + its nodes, resolved at launch time)."""
    robots.robot_config(robot)  # an unknown robot fails here, with the list of robots
    launch, launch_ros = _import_launch()
    from launch.substitutions import LaunchConfiguration

    def render(context):
        from pi0_bringup.checkpoints import resolve_checkpoint

        values = unset_to_empty({a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS})
        values["checkpoint"], note = resolve_checkpoint(
            robots.embodiment_spec(robot, values["embodiment"]), values["checkpoint"], values["hardware"]
        )
        actions = [_to_action(d, launch_ros) for d in describe_arguments(robot, values)]
        if note:
            actions.insert(0, launch.actions.LogInfo(msg=note))
        return actions

    declared = [
        launch.actions.DeclareLaunchArgument(
            a.name,
            default_value=a.default,
            description=a.description,
            **({"choices": list(a.choices)} if a.choices else {}),
        )
        for a in LAUNCH_ARGUMENTS
    ]
    return launch.LaunchDescription([*declared, launch.actions.OpaqueFunction(function=render)])
