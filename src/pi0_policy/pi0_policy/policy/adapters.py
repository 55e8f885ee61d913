"""Per-embodiment adapters between the robot's space and the π0 model's space (data + pure maps).

Robot space: what ROS topics carry. Joint positions in driver units (rad, m) keyed by joint name,
gripper positions in driver units, base velocities in m/s and rad/s, camera images by role.
Model space: what the policy's normalisation statistics were computed on. A state vector in the
spec's policy order, grippers as the checkpoint's convention profile says (``pi0ros``: [0 = open,
1 = closed]), images keyed by the model's camera slots
(``base_0_rgb``, ``left_wrist_0_rgb``, ``right_wrist_0_rgb``), and actions that may be deltas.

Per dimension, in this order (encode applies it forwards, decode backwards):
    1. sign flip (joints listed in ``sign_flip_joints``): model = -robot. openpi's ALOHA adapter
       flips the shoulder and elbow joints to match the convention its base model was trained on
       (openpi/src/openpi/policies/aloha_policy.py, ``_joint_flip_mask``).
    2. gripper conversion: ``GripperSpec.to_policy`` (driver units → [0, 1]) and ``to_driver``.
    3. delta actions (dimension kinds in ``delta_kinds`` or names in ``delta_joints``): the model
       predicts ``action - state`` for those dimensions; decode adds the current state back.
       openpi's ALOHA checkpoints use delta arm joints and absolute grippers
       (``make_bool_mask(6, -1, 6, -1)`` in openpi's pi0_aloha configs).
Base velocity dimensions are absolute and clipped to the base's ``max_linear``/``max_angular``;
joint and gripper actions are clamped to the spec's joint limits after decoding.

Each robot has ``adapters/<embodiment name>.yaml``::

    embodiment: bimanual_trossen          # must equal EmbodimentSpec.name
    cameras: {base: base_0_rgb, left_wrist: left_wrist_0_rgb, right_wrist: right_wrist_0_rgb}
    delta_kinds: [joint]                  # kinds relative to the state: joint / gripper
    delta_joints: []                      # extra individual dimensions (by name)
    sign_flip_joints: []                  # joint names whose sign is flipped

A convention profile (`pi0_policy.policy.profiles`, recorded in the checkpoint) overrides the
flips and deltas, replaces the gripper map by its state and action chains, and may make joint
actions velocities (integrated into positions, `pi0_policy.policy.velocity`). Without one the
adapter uses the ``pi0ros`` profile: the YAML's flips and deltas, the spec's linear grippers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from pi0_hw_interfaces.spec_validation import CAMERA_ROLES
from pi0_policy.model.config import IMAGE_KEYS as MODEL_IMAGE_KEYS
from pi0_policy.policy.gripper_maps import GripperMap
from pi0_policy.policy.profiles import DEFAULT_PROFILE, Profile, load_profile
from pi0_policy.policy.velocity import differentiate_positions, integrate_velocities

DIM_KINDS = ("joint", "gripper", "base")
_BASE_LINEAR_AXES = ("base_x", "base_y")
_ADAPTER_KEYS = {"embodiment", "cameras", "delta_kinds", "delta_joints", "sign_flip_joints"}


@dataclass(frozen=True)
class AdapterConfig:
    """The YAML data of one robot's adapter (see the module docstring). Validated on creation."""

    embodiment: str
    cameras: dict[str, str] = field(default_factory=lambda: dict(zip(CAMERA_ROLES, MODEL_IMAGE_KEYS)))
    delta_kinds: tuple[str, ...] = ()
    delta_joints: tuple[str, ...] = ()
    sign_flip_joints: tuple[str, ...] = ()

    def __post_init__(self):
        for role, key in self.cameras.items():
            if role not in CAMERA_ROLES:
                raise ValueError(f"adapter {self.embodiment}: unknown camera role {role!r}; "
                                 f"choose from {list(CAMERA_ROLES)}")
            if key not in MODEL_IMAGE_KEYS:
                raise ValueError(f"adapter {self.embodiment}: unknown model image key {key!r} for "
                                 f"role {role!r}; choose from {list(MODEL_IMAGE_KEYS)}")
        for kind in self.delta_kinds:
            if kind not in ("joint", "gripper"):
                raise ValueError(f"adapter {self.embodiment}: delta_kinds entry {kind!r} must be "
                                 "'joint' or 'gripper' (base actions are velocities)")

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> "AdapterConfig":
        unknown = set(data) - _ADAPTER_KEYS
        if unknown:
            raise ValueError(f"{source}: unknown adapter keys {sorted(unknown)}; "
                             f"allowed: {sorted(_ADAPTER_KEYS)}")
        if "embodiment" not in data:
            raise ValueError(f"{source}: missing 'embodiment'")
        kwargs = {"embodiment": str(data["embodiment"])}
        if data.get("cameras") is not None:
            kwargs["cameras"] = {str(k): str(v) for k, v in data["cameras"].items()}
        for key in ("delta_kinds", "delta_joints", "sign_flip_joints"):
            kwargs[key] = tuple(str(x) for x in (data.get(key) or ()))
        return cls(**kwargs)


def adapter_path(embodiment: str) -> Path:
    """Path of the packaged adapter YAML for ``embodiment`` (the spec's canonical name)."""
    return Path(str(resources.files("pi0_policy.policy") / "adapters" / f"{embodiment}.yaml"))


def list_adapters() -> list[str]:
    """Names of the embodiments that have a packaged adapter."""
    folder = resources.files("pi0_policy.policy") / "adapters"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_adapter_config(embodiment: str, path: str | Path | None = None) -> AdapterConfig:
    """Read an adapter YAML: ``path`` if given, else the packaged one for ``embodiment``."""
    file = Path(path) if path else adapter_path(embodiment)
    if not file.is_file():
        raise FileNotFoundError(f"no adapter for embodiment {embodiment!r}: {file} does not exist; "
                                f"packaged adapters: {list_adapters()}")
    cfg = AdapterConfig.from_dict(yaml.safe_load(file.read_text()) or {}, source=str(file))
    if cfg.embodiment != embodiment:
        raise ValueError(f"{file}: adapter is for {cfg.embodiment!r}, not {embodiment!r}")
    return cfg


class EmbodimentAdapter:
    """Maps robot observations to model observations (``encode``) and model actions back
    (``decode``) for one ``EmbodimentSpec``. Construction checks the config against the spec."""

    def __init__(self, spec, config: AdapterConfig | None = None, profile: Profile | str | None = None,
                 control_dt: float | None = None):
        self.spec = spec
        self.config = config or load_adapter_config(spec.name)
        if self.config.embodiment != spec.name:
            raise ValueError(f"adapter is for {self.config.embodiment!r}, spec is {spec.name!r}")
        self.profile = load_profile(profile or DEFAULT_PROFILE) if not isinstance(profile, Profile) else profile
        self.profile.check_fits(spec.name)
        flip_joints = self.config.sign_flip_joints if self.profile.sign_flip_joints is None \
            else self.profile.sign_flip_joints
        if self.profile.delta_kinds is None:
            delta_kinds, delta_joints = self.config.delta_kinds, self.config.delta_joints
        else:
            delta_kinds, delta_joints = self.profile.delta_kinds, self.profile.delta_joints
        self.sign_flip_joints = tuple(flip_joints)
        self.control_dt = float(control_dt) if control_dt else 1.0 / float(spec.control_rate_hz)
        joint_names = {j.name for j in spec.joints}
        for name in tuple(flip_joints) + tuple(delta_joints):
            if name not in joint_names:
                raise ValueError(f"adapter {spec.name}: joint {name!r} is not a joint of the spec; "
                                 f"joints: {sorted(joint_names)}")
        for name in flip_joints:
            if name in spec.grippers:
                raise ValueError(f"adapter {spec.name}: {name!r} is a gripper; grippers are converted by "
                                 "their open/closed positions, not sign flips")
        self.state_names = tuple(d.name for d in spec.state_dims)
        self.action_names = tuple(d.name for d in spec.action_dims)
        self._state_kinds = tuple(d.kind for d in spec.state_dims)
        self._action_kinds = tuple(d.kind for d in spec.action_dims)
        flips = set(flip_joints)
        self._state_sign = np.array([-1.0 if n in flips else 1.0 for n in self.state_names])
        self._action_sign = np.array([-1.0 if n in flips else 1.0 for n in self.action_names])
        delta = [(d.kind in delta_kinds or d.name in delta_joints) for d in spec.action_dims]
        for d, is_delta in zip(spec.action_dims, delta):
            if is_delta and d.name not in self.state_names:
                raise ValueError(f"adapter {spec.name}: delta action {d.name!r} has no state "
                                 "dimension to be relative to")
        self.delta_mask = np.array(delta, dtype=bool)
        self._action_state_index = np.array([self.state_names.index(n) if n in self.state_names else -1
                                             for n in self.action_names])
        cameras = self.profile.cameras if self.profile.cameras is not None else self.config.cameras
        unknown_roles = sorted(set(cameras) - set(CAMERA_ROLES))
        if unknown_roles:
            raise ValueError(f"profile {self.profile.name}: unknown camera roles {unknown_roles}; "
                             f"choose from {list(CAMERA_ROLES)}")
        self.camera_keys = {role: key for role, key in cameras.items() if role in {c.role for c in spec.cameras}}
        self._joint_actions = [i for i, k in enumerate(self._action_kinds) if k != "base"]
        self._lower = np.array([spec.joint(self.action_names[i]).lower for i in self._joint_actions])
        self._upper = np.array([spec.joint(self.action_names[i]).upper for i in self._joint_actions])
        self._base_limit = np.array([self._base_max(n) for i, n in enumerate(self.action_names)
                                     if self._action_kinds[i] == "base"])
        self._gripper_state = {n: GripperMap.build(self.profile.gripper_state, g) for n, g in spec.grippers.items()}
        self._gripper_action = {n: GripperMap.build(self.profile.gripper_action, g) for n, g in spec.grippers.items()}
        velocity = self.profile.velocity
        self.velocity_mask = np.array([velocity is not None and k in velocity.kinds for k in self._action_kinds])
        if (self.velocity_mask & self.delta_mask).any():
            raise ValueError(f"profile {self.profile.name}: a dimension cannot be both delta and velocity")
        vel_names = [n for n, v in zip(self.action_names, self.velocity_mask) if v]
        self._vel_max = np.array([spec.joint(n).max_velocity for n in vel_names])
        self._vel_lower = np.array([spec.joint(n).lower for n in vel_names])
        self._vel_upper = np.array([spec.joint(n).upper for n in vel_names])

    def _base_max(self, axis: str) -> float:
        base = self.spec.base
        if base is None:
            raise ValueError(f"{self.spec.name}: action {axis!r} is a base axis but the spec has no base")
        return float(base.max_linear if axis in _BASE_LINEAR_AXES else base.max_angular)

    def check_image_keys(self, image_keys) -> None:
        """ValueError when a camera this adapter feeds is not one of the checkpoint's image keys."""
        missing = sorted(set(self.camera_keys.values()) - set(image_keys))
        if missing:
            raise ValueError(f"the adapter feeds image keys {missing} that the checkpoint lacks "
                             f"(its keys: {list(image_keys)}; profile {self.profile.name}): convert with the "
                             "matching --profile or set the adapter's cameras")

    # ---- state -------------------------------------------------------------------------------
    def state_vector(self, positions: dict[str, float]) -> np.ndarray:
        """Robot-space state ``Float[state_dim]`` in policy order from a ``{name: value}`` dict.

        Raises ``ValueError`` naming missing or non-finite entries. Base axes not in
        ``positions`` read as 0 (the base state is a velocity, not a position)."""
        missing = [n for n, k in zip(self.state_names, self._state_kinds)
                   if k != "base" and n not in positions]
        if missing:
            raise ValueError(f"joint state lacks {missing} (embodiment {self.spec.name})")
        values = np.array([float(positions.get(n, 0.0)) for n in self.state_names], dtype=np.float64)
        bad = [n for n, v in zip(self.state_names, values) if not np.isfinite(v)]
        if bad:
            raise ValueError(f"joint state is not finite for {bad}")
        return values

    def encode_state(self, robot_state: np.ndarray) -> np.ndarray:
        """Robot-space state vector → model-space state vector (sign flips, gripper → [0, 1])."""
        robot_state = np.asarray(robot_state, dtype=np.float64)
        out = robot_state * self._state_sign
        for i, (name, kind) in enumerate(zip(self.state_names, self._state_kinds)):
            if kind == "gripper":
                out[i] = self._gripper_state[name].forward(robot_state[i])
        return out

    def decode_state(self, model_state: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode_state`: model-space state → robot-space state."""
        out = np.asarray(model_state, dtype=np.float64) * self._state_sign
        for i, (name, kind) in enumerate(zip(self.state_names, self._state_kinds)):
            if kind == "gripper":
                out[i] = self._gripper_state[name].inverse(model_state[i])
        return out

    # ---- observation -------------------------------------------------------------------------
    def encode(self, robot_obs: dict) -> dict:
        """``{"images": {role: uint8 HxWx3}, "positions": {joint: value}, "prompt": str}`` →
        ``{"images": {model key: uint8 HxWx3}, "state": float32[state_dim], "prompt": str}``.

        Roles without a model slot in the adapter are ignored; roles the robot lacks are absent
        from the result, so the policy masks their slot."""
        images = {}
        for role, image in robot_obs.get("images", {}).items():
            if role in self.camera_keys:
                images[self.camera_keys[role]] = image
        state = self.encode_state(self.state_vector(robot_obs["positions"]))
        prompt = robot_obs.get("prompt") or self.profile.default_prompt or ""
        return {"images": images, "state": state.astype(np.float32), "prompt": prompt}

    # ---- actions -----------------------------------------------------------------------------
    def decode(self, model_actions: np.ndarray, current_positions: dict[str, float]) -> np.ndarray:
        """Model actions ``Float[H, >= action_dim]`` → robot actions ``Float[H, action_dim]``.

        Extra columns (model padding) are dropped. Delta dimensions are added to the current
        state, signs flipped back, grippers converted to driver units, joints clamped to their
        limits and base velocities clipped to the base limits. Non-finite actions raise
        ``ValueError`` (never sent to a robot)."""
        acts = np.asarray(model_actions, dtype=np.float64)
        n = len(self.action_names)
        if acts.ndim != 2 or acts.shape[1] < n:
            raise ValueError(f"model actions must be (H, >= {n}) for {self.spec.name}, got {acts.shape}")
        acts = acts[:, :n].copy()
        if not np.all(np.isfinite(acts)):
            raise ValueError("model actions contain NaN or infinity")
        if self.delta_mask.any():
            state = self.encode_state(self.state_vector(current_positions))
            idx = self._action_state_index[self.delta_mask]
            acts[:, self.delta_mask] += state[idx]
        for i, (name, kind) in enumerate(zip(self.action_names, self._action_kinds)):
            if kind == "gripper":
                acts[:, i] = self._gripper_action[name].forward(acts[:, i])
        acts *= self._action_sign
        if self.velocity_mask.any():
            v = self.profile.velocity
            start = self.state_vector(current_positions)[self._action_state_index[self.velocity_mask]]
            acts[:, self.velocity_mask] = integrate_velocities(
                start, acts[:, self.velocity_mask], self.control_dt, v.units_per_second, self._vel_max,
                self._vel_lower, self._vel_upper, v.clip, v.rescale_to_unit_max)
        return self.clamp(acts)

    def encode_actions(self, robot_actions: np.ndarray, current_positions: dict[str, float]) -> np.ndarray:
        """Inverse of :meth:`decode` (without clamping): robot actions → model actions, e.g. to
        turn recorded robot trajectories into training targets."""
        acts = np.array(robot_actions, dtype=np.float64)
        if self.velocity_mask.any():
            start = self.state_vector(current_positions)[self._action_state_index[self.velocity_mask]]
            acts[:, self.velocity_mask] = differentiate_positions(
                start, acts[:, self.velocity_mask], self.control_dt, self.profile.velocity.units_per_second)
        acts *= self._action_sign
        for i, (name, kind) in enumerate(zip(self.action_names, self._action_kinds)):
            if kind == "gripper":
                acts[:, i] = self._gripper_action[name].inverse(acts[:, i])
        if self.delta_mask.any():
            state = self.encode_state(self.state_vector(current_positions))
            acts[:, self.delta_mask] -= state[self._action_state_index[self.delta_mask]]
        return acts

    def clamp(self, robot_actions: np.ndarray) -> np.ndarray:
        """Clamp joint/gripper columns to the joint limits and base columns to the base limits."""
        acts = np.array(robot_actions, dtype=np.float64)
        if self._joint_actions:
            acts[:, self._joint_actions] = np.clip(acts[:, self._joint_actions], self._lower, self._upper)
        base_cols = [i for i, k in enumerate(self._action_kinds) if k == "base"]
        if base_cols:
            acts[:, base_cols] = np.clip(acts[:, base_cols], -self._base_limit, self._base_limit)
        return acts
