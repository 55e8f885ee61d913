"""Validation of an `EmbodimentSpec`: every check names the offending field and value.

Kept apart from `embodiment` so the spec module reads as data types plus loading. `validate(spec)`
raises `ValueError("embodiment '<name>': <field>: <what is wrong>")` on the first problem.
"""
from __future__ import annotations

import difflib
import math
from typing import Sequence

DIM_KINDS = ("joint", "gripper", "base")
JOINT_TYPES = ("revolute", "prismatic")
BASE_AXES = {"diff": ("base_x", "base_yaw"), "holonomic": ("base_x", "base_y", "base_yaw")}
CONTROLLER_MSG_TYPES = {
    "joint_trajectory": ("trajectory_msgs/JointTrajectory",),
    "diff_drive": ("geometry_msgs/Twist", "geometry_msgs/TwistStamped"),
    "holonomic_drive": ("geometry_msgs/Twist", "geometry_msgs/TwistStamped"),
}
CAMERA_ROLES = ("base", "left_wrist", "right_wrist")
DRIVER_MSG_TYPES = (
    "sensor_msgs/JointState",
    "std_msgs/Float64MultiArray",
    "geometry_msgs/Twist",
    "geometry_msgs/TwistStamped",
)


def unknown_message(what: str, name: str, choices: Sequence[str], where: str = "") -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.4)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    where = f" in {where}" if where else ""
    return f"unknown {what} {name!r}{where}{hint} Known: {', '.join(sorted(choices))}"


def _check(ok: bool, field_name: str, message: str, spec_name: str = ""):
    if not ok:
        prefix = f"embodiment {spec_name!r}: " if spec_name else ""
        raise ValueError(f"{prefix}{field_name}: {message}")


def _relative(topic: str) -> bool:
    return bool(topic) and not topic.startswith("/") and " " not in topic


def validate(s) -> None:  # noqa: C901 - one flat list of checks reads best
    def check(ok, field_name, message):
        _check(ok, field_name, message, s.name)

    check(bool(s.name), "name", "must not be empty")
    check(s.control_rate_hz > 0 and math.isfinite(s.control_rate_hz), "control_rate_hz",
          f"must be a positive number, got {s.control_rate_hz!r}")
    check(isinstance(s.replan_interval, int) and s.replan_interval >= 1, "replan_interval",
          f"must be an integer >= 1, got {s.replan_interval!r}")
    names = [j.name for j in s.joints]
    check(len(names) == len(set(names)), "joints", f"duplicate joint names in {names}")
    for i, j in enumerate(s.joints):
        values = (j.lower, j.upper, j.max_velocity)
        where = f"joints[{i}] ({j.name})"
        check(all(math.isfinite(v) for v in values), where, f"non-finite limit in {values}")
        check(j.lower < j.upper, where, f"lower {j.lower} must be < upper {j.upper}")
        check(j.max_velocity > 0, where, f"max_velocity must be > 0, got {j.max_velocity}")
        check(j.type in JOINT_TYPES, where, f"type {j.type!r} not one of {JOINT_TYPES}")
    known = set(names)
    for key, g in s.grippers.items():
        check(key == g.joint, f"grippers[{key}]", f"keyed by {key!r} but its joint is {g.joint!r}")
        check(g.joint in known, f"grippers[{key}]", unknown_message("joint", g.joint, names))
        check(g.open != g.closed, f"grippers[{key}]", f"open and closed are both {g.open}")
        j = s.joint(g.joint)
        for label, v in (("open", g.open), ("closed", g.closed)):
            check(j.lower <= v <= j.upper, f"grippers[{key}].{label}",
                  f"{v} outside the joint's limits [{j.lower}, {j.upper}]")
    base_axes = s.base.axes if s.base else ()
    for dims_name, dims in (("state_dims", s.state_dims), ("action_dims", s.action_dims)):
        seen = [d.name for d in dims]
        check(len(seen) == len(set(seen)), dims_name, f"duplicate entries in {seen}")
        for i, d in enumerate(dims):
            where = f"{dims_name}[{i}]"
            check(d.kind in DIM_KINDS, where, f"kind {d.kind!r} not one of {DIM_KINDS}")
            if d.kind == "base":
                check(d.name in base_axes, where, f"base axis {d.name!r} but the base has axes {base_axes}")
            else:
                check(d.name in known, where, unknown_message("joint", d.name, names))
                check((d.kind == "gripper") == (d.name in s.grippers), where,
                      f"{d.name!r} is kind {d.kind!r} but is {'' if d.name in s.grippers else 'not '}"
                      f"a gripper in `grippers`")
    check(all(d.kind != "base" for d in s.state_dims), "state_dims", "base velocities are actions only")
    action_base = tuple(d.name for d in s.action_dims if d.kind == "base")
    check(action_base == base_axes, "action_dims",
          f"base dimensions {action_base} must be the base's axes {base_axes}, in that order")
    check(all(d.kind == "base" for d in s.action_dims[len(s.action_dims) - len(base_axes):]), "action_dims",
          "base dimensions must come last")
    commanded = [d.name for d in s.action_dims if d.kind != "base"]
    check(sorted(commanded) == sorted(names), "action_dims",
          f"must command every joint once: joints {names}, commanded {commanded}")
    cnames = [c.name for c in s.controllers]
    check(len(cnames) == len(set(cnames)), "controllers", f"duplicate controller names in {cnames}")
    in_jtc: list[str] = []
    for i, c in enumerate(s.controllers):
        where = f"controllers[{i}] ({c.name})"
        check(c.type in CONTROLLER_MSG_TYPES, where,
              f"type {c.type!r} not one of {tuple(CONTROLLER_MSG_TYPES)}")
        check(c.msg_type in CONTROLLER_MSG_TYPES[c.type], where,
              f"msg_type {c.msg_type!r} not one of {CONTROLLER_MSG_TYPES[c.type]} for type {c.type!r}")
        check(_relative(c.topic), where, f"topic {c.topic!r} must be relative (no leading '/')")
        if c.driver_topic is not None or c.driver_msg_type is not None:
            check(c.driver_topic is not None and _relative(c.driver_topic), where,
                  f"driver_topic {c.driver_topic!r} must be a relative topic")
            check(c.driver_msg_type in DRIVER_MSG_TYPES, where,
                  f"driver_msg_type {c.driver_msg_type!r} not one of {DRIVER_MSG_TYPES}")
        check(c.driver_state_topic is None or (c.driver_topic and _relative(c.driver_state_topic)), where,
              f"driver_state_topic {c.driver_state_topic!r} must be relative, with a driver_topic")
        check(not c.driver_joints or len(c.driver_joints) == len(c.joints), where,
              f"driver_joints {list(c.driver_joints)} must name each of joints {list(c.joints)}")
        if c.type == "joint_trajectory":
            check(len(c.joints) > 0, where, "a joint_trajectory controller needs joints")
            for jn in c.joints:
                check(jn in known, where, unknown_message("joint", jn, names))
            in_jtc += c.joints
        else:
            check(not c.joints, where, "a base controller lists no joints (wheel joints go in `base`)")
    check(sorted(in_jtc) == sorted(names), "controllers",
          f"every joint must be in exactly one joint_trajectory controller: joints {names}, "
          f"in controllers {in_jtc}")
    n_base = sum(c.type != "joint_trajectory" for c in s.controllers)
    check(n_base == (1 if s.base else 0), "controllers",
          f"{n_base} base controllers for {'a' if s.base else 'no'} base")
    if s.base:
        b = s.base
        check(b.kind in BASE_AXES, "base.kind", f"{b.kind!r} not one of {tuple(BASE_AXES)}")
        check(b.axes == BASE_AXES[b.kind], "base.axes",
              f"{b.axes} but a {b.kind} base has {BASE_AXES[b.kind]}")
        for label, v in (("max_linear", b.max_linear), ("max_angular", b.max_angular),
                         ("command_timeout", b.command_timeout)):
            check(math.isfinite(v) and v > 0, f"base.{label}", f"must be > 0, got {v}")
        expected = 2 if b.kind == "diff" else 4
        check(len(b.wheel_joints) == expected, "base.wheel_joints",
              f"a {b.kind} base needs {expected} wheel joints, got {list(b.wheel_joints)}")
        ctrl = s.base_controller
        check(ctrl.type == ("diff_drive" if b.kind == "diff" else "holonomic_drive"), "controllers",
              f"base controller {ctrl.name!r} has type {ctrl.type!r} for a {b.kind} base")
        check(s.odom_topic is not None and _relative(s.odom_topic), "odom_topic",
              f"a mobile base needs a relative odom_topic, got {s.odom_topic!r}")
    roles = [c.role for c in s.cameras]
    check(len(roles) == len(set(roles)), "cameras", f"duplicate roles in {roles}")
    for i, c in enumerate(s.cameras):
        check(c.role in CAMERA_ROLES, f"cameras[{i}]", f"role {c.role!r} not one of {CAMERA_ROLES}")
        check(_relative(c.topic), f"cameras[{i}]", f"topic {c.topic!r} must be relative")
        check(c.width > 0 and c.height > 0, f"cameras[{i}]", f"size {c.width}x{c.height} must be positive")
    check(_relative(s.joint_state_topic), "joint_state_topic", f"{s.joint_state_topic!r} must be relative")
    check(s.hardware.update_rate > 0, "hardware.update_rate", f"must be > 0, got {s.hardware.update_rate}")
