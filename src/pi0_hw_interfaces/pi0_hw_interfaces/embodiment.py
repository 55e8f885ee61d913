"""Embodiment specs: what a robot class is, as data (``embodiments/<name>.yaml``), loaded and validated.

```python
spec = load_embodiment("mobile_trossen")          # aliases work: "mobile_aloha", "mobile_arx"
spec = load_embodiment("ur5e", joint_names={"shoulder_pan_joint": "ur_shoulder_pan_joint"})
spec.action_dim, spec.control_rate_hz, spec.trajectory_controllers, spec.grippers["gripper"]
```

Units are the drivers': rad, m, rad/s, m/s. Policy space differs only for grippers
(0 = open, 1 = closed, see `GripperSpec`). Every class is one YAML file; its comments name the
datasheet or driver each limit comes from. A spec is validated when it is built: an unknown name
raises `KeyError` listing the names (closest first), an inconsistent spec raises `ValueError`
naming the field.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from .spec_validation import BASE_AXES, CONTROLLER_MSG_TYPES, unknown_message, validate

_ALL_AXES = frozenset(BASE_AXES["holonomic"])

@dataclass(frozen=True)
class JointSpec:
    """One commanded joint: position limits `lower` < `upper` and `max_velocity` > 0 (driver units).

    `type` is the URDF joint type, "revolute" (rad) or "prismatic" (m).
    """

    name: str
    lower: float
    upper: float
    max_velocity: float
    type: str = "revolute"


@dataclass(frozen=True)
class DimSpec:
    """One policy dimension: `kind` "joint"/"gripper" (name = joint) or "base" (name = base axis)."""

    name: str
    kind: str


@dataclass(frozen=True)
class GripperSpec:
    """Gripper joint with its `open` and `closed` positions in driver units (m or rad).

    Policy space is linear between them: open → 0, closed → 1. Neither direction clips; the
    safety layer clamps driver values to the joint's limits.
    """

    joint: str
    open: float
    closed: float

    def to_policy(self, driver):
        """Driver units → policy space (open 0, closed 1); float or numpy array."""
        return (np.asarray(driver, dtype=np.float64) - self.open) / (self.closed - self.open) + 0.0

    def to_driver(self, policy):
        """Policy space (open 0, closed 1) → driver units; float or numpy array."""
        return self.open + np.asarray(policy, dtype=np.float64) * (self.closed - self.open)


@dataclass(frozen=True)
class ControllerSpec:
    """A controller the policy commands.

    `type` ∈ joint_trajectory / diff_drive / holonomic_drive; `topic` is relative and carries
    `msg_type`. `joints`: a JTC's joints in command order (empty for a base). `driver_topic` and
    `driver_msg_type` (optional) say what `trajectory_bridge` streams for drivers that do not take
    `msg_type` (sensor_msgs/JointState, std_msgs/Float64MultiArray, geometry_msgs/Twist[Stamped]);
    `driver_joints` are the joint names in that driver's messages, in `joints` order (default:
    `joints`), e.g. Piper's unprefixed ``joint1``; `driver_state_topic` (optional) is where that
    driver publishes its sensor_msgs/JointState feedback under those names.
    """

    name: str
    type: str
    joints: tuple[str, ...]
    topic: str
    msg_type: str
    driver_topic: str | None = None
    driver_msg_type: str | None = None
    driver_joints: tuple[str, ...] = ()
    driver_state_topic: str | None = None

    @property
    def driver_joint_names(self) -> tuple[str, ...]:
        return self.driver_joints or self.joints


@dataclass(frozen=True)
class BaseSpec:
    """A mobile base commanded by velocity: `kind` "diff" (x, yaw) or "holonomic" (x, y, yaw).

    `max_linear` (m/s) and `max_angular` (rad/s) cap commands; after `command_timeout` s without
    a command the base stops. `wheel_joints`, `wheel_radius`, `wheel_separation` (m) feed the
    ros2_control description (diff: left, right; holonomic: front_left, front_right, rear_left,
    rear_right, with `wheel_separation` the sum of half track and half wheelbase).
    """

    kind: str
    axes: tuple[str, ...]
    max_linear: float
    max_angular: float
    command_timeout: float = 0.5
    wheel_joints: tuple[str, ...] = ()
    wheel_radius: float = 0.1
    wheel_separation: float = 0.5


@dataclass(frozen=True)
class CameraSpec:
    """A camera by policy role (base / left_wrist / right_wrist), its relative topic and size."""

    role: str
    topic: str
    width: int = 640
    height: int = 480


@dataclass(frozen=True)
class HardwareSpec:
    """ros2_control: hardware plugins `mock` (default) and the vendor's `vendor` (or None), the
    vendor plugin's `<param>`s, and the controller_manager's `update_rate` (Hz)."""

    mock: str = "mock_components/GenericSystem"
    vendor: str | None = None
    vendor_parameters: Mapping[str, str] = field(default_factory=dict)
    update_rate: int = 100


@dataclass(frozen=True)
class EmbodimentSpec:
    """A robot class: joints, policy dimensions, grippers, controllers, base, cameras, rates."""

    name: str
    aliases: tuple[str, ...]
    description: str
    control_rate_hz: float
    replan_interval: int
    joints: tuple[JointSpec, ...]
    state_dims: tuple[DimSpec, ...]
    action_dims: tuple[DimSpec, ...]
    grippers: Mapping[str, GripperSpec]
    controllers: tuple[ControllerSpec, ...]
    cameras: tuple[CameraSpec, ...]
    base: BaseSpec | None = None
    joint_state_topic: str = "joint_states"
    odom_topic: str | None = None
    hardware: HardwareSpec = field(default_factory=HardwareSpec)

    def __post_init__(self):
        validate(self)

    def __hash__(self):  # grippers/hardware are mappings: hash what identifies the spec
        return hash((self.name, self.joints, self.action_dims, self.controllers))

    @property
    def dt(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def state_dim(self) -> int:
        return len(self.state_dims)

    @property
    def action_dim(self) -> int:
        return len(self.action_dims)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def trajectory_controllers(self) -> tuple[ControllerSpec, ...]:
        return tuple(c for c in self.controllers if c.type == "joint_trajectory")

    @property
    def base_controller(self) -> ControllerSpec | None:
        return next((c for c in self.controllers if c.type != "joint_trajectory"), None)

    @functools.cached_property
    def _joints_by_name(self) -> dict[str, JointSpec]:
        return {j.name: j for j in self.joints}

    def joint(self, name: str) -> JointSpec:
        """The joint called `name`; `KeyError` listing the joints otherwise."""
        try:
            return self._joints_by_name[name]
        except KeyError:
            message = unknown_message("joint", name, self.joint_names, f"embodiment {self.name!r}")
            raise KeyError(message) from None

    def limits(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower, upper, max_velocity) arrays for joints `names`, in that order."""
        joints = [self.joint(n) for n in names]
        return (np.array([j.lower for j in joints]), np.array([j.upper for j in joints]),
                np.array([j.max_velocity for j in joints]))

    def clamp(self, names: Sequence[str], positions) -> np.ndarray:
        """`positions` (…, len(names)) clamped to the joints' limits; NaN stays NaN."""
        lower, upper, _ = self.limits(names)
        positions = np.asarray(positions, dtype=np.float64)
        if positions.shape[-1:] != (len(names),):
            raise ValueError(f"positions have shape {positions.shape}, expected (..., {len(names)}) "
                             f"for joints {list(names)}")
        return np.clip(positions, lower, upper)

    def with_joint_names(self, mapping: Mapping[str, str]) -> EmbodimentSpec:
        """A copy with joints renamed (old → new) everywhere: joints, dims, grippers, controllers."""
        for old in mapping:
            self.joint(old)
        ren = lambda n: mapping.get(n, n)  # noqa: E731
        return dataclasses.replace(
            self,
            joints=tuple(dataclasses.replace(j, name=ren(j.name)) for j in self.joints),
            state_dims=tuple(dataclasses.replace(d, name=ren(d.name)) for d in self.state_dims),
            action_dims=tuple(dataclasses.replace(d, name=ren(d.name)) for d in self.action_dims),
            grippers={ren(k): dataclasses.replace(g, joint=ren(g.joint)) for k, g in self.grippers.items()},
            controllers=tuple(dataclasses.replace(c, joints=tuple(map(ren, c.joints)))
                              for c in self.controllers),
        )


# --------------------------------------------------------------------------- loading
_PACKAGE_DIR = "embodiments"


def _spec_files() -> dict[str, Any]:
    folder = resources.files("pi0_hw_interfaces").joinpath(_PACKAGE_DIR)
    return {p.name[: -len(".yaml")]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


@functools.lru_cache(maxsize=None)
def _registry() -> tuple[dict[str, EmbodimentSpec], dict[str, str]]:
    specs = {}
    for stem, path in sorted(_spec_files().items()):
        spec = spec_from_dict(yaml.safe_load(path.read_text()), source=str(path))
        if spec.name != stem:
            raise ValueError(f"{path}: name {spec.name!r} must match the file name {stem!r}")
        specs[spec.name] = spec
    aliases = {}
    for spec in specs.values():
        for alias in (spec.name, *spec.aliases):
            if alias in aliases and aliases[alias] != spec.name:
                raise ValueError(f"alias {alias!r} is used by both {aliases[alias]!r} and {spec.name!r}")
            aliases[alias] = spec.name
    return specs, aliases


def list_embodiments(include_aliases: bool = False) -> list[str]:
    """Names of the packaged embodiment classes (sorted); with aliases too if asked."""
    specs, aliases = _registry()
    return sorted(aliases) if include_aliases else sorted(specs)


def load_embodiment(name: str, joint_names: Mapping[str, str] | None = None) -> EmbodimentSpec:
    """The validated spec for class `name` (or an alias, or a path to a `.yaml` file of that format:
    `FileNotFoundError` if missing).

    `joint_names` renames joints (old → new), e.g. for a driver's `tf_prefix`. Unknown name →
    `KeyError` naming the known classes and the closest match.
    """
    if str(name).endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"embodiment spec file {str(path)!r} does not exist")
        spec = spec_from_dict(yaml.safe_load(path.read_text()), source=str(path))
    else:
        specs, aliases = _registry()
        key = str(name).strip().lower()
        if key not in aliases:
            raise KeyError(unknown_message("embodiment", str(name), sorted(aliases)))
        spec = specs[aliases[key]]
    return spec.with_joint_names(joint_names) if joint_names else spec


_MISSING = object()
# Field type (as annotated) → the conversion of a YAML value into it.
_CONVERT = {"str": str, "float": float, "int": int, "tuple[str, ...]": tuple, "str | None": str,
            "Mapping[str, str]": dict}


def spec_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> EmbodimentSpec:
    """Build and validate a spec from the YAML layout of `embodiments/*.yaml` (see those files).

    A missing or mistyped field raises `ValueError` naming it, e.g. ``joints[3].lower``.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: an embodiment spec is a mapping, got {type(data).__name__}")
    name = str(data.get("name", ""))

    def get(mapping, key, where, conv=str, default=_MISSING):
        path = f"{where}.{key}" if where else key
        if not isinstance(mapping, Mapping):
            raise ValueError(f"embodiment {name!r} ({source}): {where} must be a mapping, got {mapping!r}")
        if key not in mapping or mapping[key] is None:
            if default is _MISSING:
                raise ValueError(f"embodiment {name!r} ({source}): missing required field {path!r}")
            return default
        try:
            return conv(mapping[key])
        except (TypeError, ValueError):
            raise ValueError(f"embodiment {name!r} ({source}): {path} has an invalid value "
                             f"{mapping[key]!r}") from None

    def build(cls, mapping, where, **computed):
        """``cls`` from ``mapping``, field by field: a field with a default (or a ``computed``
        one) is optional, the others are required; each value converted to the field's type."""
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in computed:
                default = computed[f.name]
            elif f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = _MISSING
            kwargs[f.name] = get(mapping, f.name, where, _CONVERT[f.type], default)
        return cls(**kwargs)

    def items(key, required=True):
        entries = get(data, key, "", list, _MISSING if required else [])
        return [(f"{key}[{i}]", entry) for i, entry in enumerate(entries)]

    grippers = {}
    for where, g in items("grippers", required=False):
        gripper = build(GripperSpec, g, where)
        grippers[gripper.joint] = gripper

    def dims(key):
        out = []
        for where, entry in items(key):
            if isinstance(entry, Mapping):
                out.append(DimSpec(get(entry, "name", where), get(entry, "kind", where)))
            else:
                entry = str(entry)
                kind = "base" if entry in _ALL_AXES else "gripper" if entry in grippers else "joint"
                out.append(DimSpec(entry, kind))
        declared = get(data, key[:-1], "", int, None)
        if declared is not None and declared != len(out):
            raise ValueError(f"embodiment {name!r}: {key} has {len(out)} entries but "
                             f"{key[:-1]} is {declared}")
        return tuple(out)

    base = None
    if data.get("base"):
        b = data["base"]
        kind = get(b, "kind", "base")
        base = build(BaseSpec, b, "base", axes=BASE_AXES.get(kind, ()))
    controllers = []
    for where, c in items("controllers"):
        cname, ctype = get(c, "name", where), get(c, "type", where, str, "joint_trajectory")
        suffix = "joint_trajectory" if ctype == "joint_trajectory" else "cmd_vel"
        controllers.append(build(ControllerSpec, c, where, type=ctype, joints=(), topic=f"{cname}/{suffix}",
                                 msg_type=CONTROLLER_MSG_TYPES.get(ctype, ("?",))[-1]))
    hw = data.get("hardware") or {}
    return EmbodimentSpec(
        name=name,
        aliases=tuple(str(a).lower() for a in data.get("aliases") or ()),
        description=str(data.get("description", "")).strip(),
        control_rate_hz=get(data, "control_rate_hz", "", float),
        replan_interval=get(data, "replan_interval", "", int),
        joints=tuple(build(JointSpec, j, w) for w, j in items("joints")),
        state_dims=dims("state_dims"),
        action_dims=dims("action_dims"),
        grippers=grippers,
        controllers=tuple(controllers),
        cameras=tuple(build(CameraSpec, c, w) for w, c in items("cameras", required=False)),
        base=base,
        joint_state_topic=get(data, "joint_state_topic", "", str, "joint_states"),
        odom_topic=get(data, "odom_topic", "", str, "odom" if base else None),
        hardware=build(HardwareSpec, hw, "hardware"),
    )
