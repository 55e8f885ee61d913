"""Convention profiles: how one family of checkpoints expects robot data (data in ``profiles/*.yaml``).

The network is the same for every π0 checkpoint; what differs is the robot-side convention its
training data used. A profile says, per dimension of the embodiment's state and action:
- ``sign_flip_joints``: joints whose sign the model sees flipped (openpi's ALOHA ``_joint_flip_mask``);
- ``delta_kinds`` / ``delta_joints``: action dimensions predicted relative to the state (openpi's
  ``make_bool_mask``); ``adapter`` instead of a list keeps the embodiment adapter's own choice;
- ``gripper.state`` / ``gripper.action``: the gripper maps, robot reading → model and model →
  robot command, as chains of steps (`pi0_policy.policy.gripper_maps`);
- ``actions``: ``position`` or ``velocity`` (then ``velocity`` says which kinds and their scale;
  see `pi0_policy.policy.velocity`);
- ``image_resize``: ``antialias`` (openpi's JAX pipeline and its clients: antialiased bilinear,
  rounded to uint8) or ``bilinear`` (LeRobot, openpi's PyTorch path: no antialiasing);
- ``cameras`` (optional): camera role → the checkpoint's image key, replacing the adapter's
  (LeRobot's ALOHA sim checkpoints see one camera, ``top``);
- ``default_prompt``, the ``embodiments`` it fits (``["*"]``: any), and ``detect``: how
  `detect_profile` recognises a source checkpoint directory of this family.

A checkpoint records its profile in config.json (``"profile"``); `pi0 checkpoint convert` writes
it. Checkpoints without one use ``pi0ros``, this project's own convention.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from pi0_policy.policy.gripper_maps import check_chain

DEFAULT_PROFILE = "pi0ros"
RESIZE_METHODS = ("bilinear", "antialias")
_KEYS = {"name", "description", "source", "embodiments", "detect", "default_prompt", "image_resize",
         "sign_flip_joints", "delta_kinds", "delta_joints", "gripper", "actions", "velocity", "cameras"}
_DETECT_KEYS = {"openpi_config_names", "openpi_asset_ids", "lerobot_image_keys"}
_VELOCITY_KEYS = {"kinds", "clip", "max_step", "step_hz", "rescale_to_unit_max"}


@dataclass(frozen=True)
class VelocitySpec:
    """Which action kinds are normalised velocities and how one unit maps to rad/s."""

    kinds: tuple[str, ...]
    max_step: float               # per control step of the source robot, at one unit
    step_hz: float                # that robot's control rate
    clip: tuple[float, float] | None = (-1.0, 1.0)
    rescale_to_unit_max: bool = True

    @property
    def units_per_second(self) -> float:
        return self.max_step * self.step_hz


@dataclass(frozen=True)
class Profile:
    """One profile YAML, validated (see the module docstring)."""

    name: str
    description: str
    source: str
    embodiments: tuple[str, ...]
    gripper_state: tuple[dict, ...]
    gripper_action: tuple[dict, ...]
    image_resize: str = "bilinear"
    default_prompt: str | None = None
    sign_flip_joints: tuple[str, ...] | None = None    # None: the adapter's
    delta_kinds: tuple[str, ...] | None = None         # None: the adapter's
    delta_joints: tuple[str, ...] = ()
    actions: str = "position"
    velocity: VelocitySpec | None = None
    detect: dict = field(default_factory=dict)
    cameras: dict | None = None                        # None: the adapter's

    def fits(self, embodiment: str) -> bool:
        return "*" in self.embodiments or embodiment in self.embodiments

    def check_fits(self, embodiment: str) -> None:
        """ValueError naming the profiles that do fit ``embodiment`` when this one does not."""
        if not self.fits(embodiment):
            choices = profiles_for(embodiment)
            raise ValueError(
                f"checkpoint profile {self.name!r} is for {list(self.embodiments)}, not embodiment "
                f"{embodiment!r}; profiles for {embodiment}: {choices} (reconvert with "
                f"`pi0 checkpoint convert --profile NAME` or choose a matching checkpoint)")

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "Profile":
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown profile keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        for key in ("name", "embodiments", "gripper"):
            if key not in data:
                raise ValueError(f"{where}: missing {key!r}")
        gripper = data["gripper"] or {}
        if set(gripper) != {"state", "action"}:
            raise ValueError(f"{where}: 'gripper' needs exactly 'state' and 'action' chains, got {sorted(gripper)}")
        resize = data.get("image_resize", "bilinear")
        if resize not in RESIZE_METHODS:
            raise ValueError(f"{where}: image_resize {resize!r}; choose from {list(RESIZE_METHODS)}")
        actions = data.get("actions", "position")
        if actions not in ("position", "velocity"):
            raise ValueError(f"{where}: actions {actions!r}; choose 'position' or 'velocity'")
        velocity = None
        if actions == "velocity":
            v = data.get("velocity") or {}
            if set(v) - _VELOCITY_KEYS or not {"kinds", "max_step", "step_hz"} <= set(v):
                raise ValueError(f"{where}: 'velocity' needs kinds, max_step, step_hz (optional clip, "
                                 f"rescale_to_unit_max), got {sorted(v)}")
            velocity = VelocitySpec(tuple(v["kinds"]), float(v["max_step"]), float(v["step_hz"]),
                                    tuple(v["clip"]) if v.get("clip") is not None else None,
                                    bool(v.get("rescale_to_unit_max", True)))
        detect = data.get("detect") or {}
        if set(detect) - _DETECT_KEYS:
            raise ValueError(f"{where}: unknown detect keys {sorted(set(detect) - _DETECT_KEYS)}")

        def names(key):
            value = data.get(key)
            if value == "adapter" or (value is None and key != "delta_joints"):
                return None
            return tuple(str(x) for x in (value or ()))

        return cls(
            name=str(data["name"]), description=str(data.get("description", "")).strip(),
            source=str(data.get("source", "")).strip(), embodiments=tuple(data["embodiments"]),
            gripper_state=check_chain(gripper["state"], f"{where}: gripper.state"),
            gripper_action=check_chain(gripper["action"], f"{where}: gripper.action"),
            image_resize=resize, default_prompt=data.get("default_prompt"),
            sign_flip_joints=names("sign_flip_joints"), delta_kinds=names("delta_kinds"),
            delta_joints=names("delta_joints") or (), actions=actions, velocity=velocity,
            detect={k: tuple(v) for k, v in detect.items()},
            cameras={str(k): str(v) for k, v in data["cameras"].items()} if data.get("cameras") else None,
        )


def _folder():
    return resources.files("pi0_policy.policy") / "profiles"


def list_profiles() -> list[str]:
    """Names of the packaged profiles."""
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".yaml"))


def load_profile(name: str | Path) -> Profile:
    """A packaged profile by name, or a profile YAML by path."""
    path = Path(str(name))
    if not path.suffix == ".yaml":
        if str(name) not in list_profiles():
            raise ValueError(f"unknown convention profile {name!r}; choose from {list_profiles()}")
        path = Path(str(_folder() / f"{name}.yaml"))
    if not path.is_file():
        raise FileNotFoundError(f"profile file not found: {path}")
    profile = Profile.from_dict(yaml.safe_load(path.read_text()) or {}, str(path))
    if path.stem != profile.name:
        raise ValueError(f"{path}: file name and profile name {profile.name!r} differ")
    return profile


def profiles_for(embodiment: str) -> list[str]:
    """The packaged profiles that fit ``embodiment`` (specific ones first, then the generic)."""
    loaded = [load_profile(n) for n in list_profiles()]
    return ([p.name for p in loaded if embodiment in p.embodiments]
            + [p.name for p in loaded if "*" in p.embodiments])


# ------------------------------------------------------------------- checkpoints and their sources
def detect_profile(src: str | Path) -> str | None:
    """The profile a LeRobot/openpi source directory's own files identify, or None.

    openpi: a config name in config.json (``"name"`` or ``"config_name"``) or the asset id of its
    ``assets/<asset id>/norm_stats.json`` (e.g. ``trossen``, ``droid``; pi0_aloha_sim's is its
    dataset, ``lerobot/aloha_sim_transfer_cube_human``). LeRobot: the camera keys of config.json's
    input features. Several matching profiles → None (the caller asks for ``--profile``)."""
    src = Path(src)
    config = {}
    if (src / "config.json").is_file():
        try:
            config = json.loads((src / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            config = {}
    config_name = str(config.get("config_name") or config.get("name") or "")
    assets = src / "assets"
    asset_ids = {str(p.parent.relative_to(assets)) for p in assets.rglob("norm_stats.json")} if assets.is_dir() else set()
    features = config.get("input_features") or {}
    image_keys = {k for k in features if k.startswith("observation.images.")}
    found = []
    for name in list_profiles():
        detect = load_profile(name).detect
        if (config_name and config_name in detect.get("openpi_config_names", ())
                or any(a in detect.get("openpi_asset_ids", ()) for a in asset_ids)
                or (image_keys and image_keys == set(detect.get("lerobot_image_keys", ())))):
            found.append(name)
    return found[0] if len(found) == 1 else None


def choose_profile(src: str | Path, requested: str | None) -> tuple[str, str]:
    """(profile name, how it was chosen) for converting ``src``: ``requested`` if given (checked),
    else the detected one; ValueError asking for ``--profile`` when neither is known."""
    if not Path(src).is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {src}")
    if requested:
        return load_profile(requested).name, "given"
    detected = detect_profile(src)
    if detected is None:
        raise ValueError(f"{src}: its files do not say which convention profile it follows; give "
                         f"--profile, one of {list_profiles()} (see `pi0 checkpoint convert --help`)")
    return detected, "detected"


def record_profile(checkpoint: str | Path, name: str, how: str = "given") -> None:
    """Write ``"profile"`` (and how it was chosen) into a project checkpoint's config.json."""
    path = Path(checkpoint) / "config.json"
    meta = json.loads(path.read_text())
    meta["profile"] = load_profile(name).name
    meta.setdefault("source", {})["profile_chosen"] = how
    path.write_text(json.dumps(meta, indent=2) + "\n")


def checkpoint_profile(checkpoint: str | Path) -> Profile:
    """The profile a checkpoint directory records in config.json; for a LeRobot/openpi directory
    without one, the detected one; else ``pi0ros``."""
    path = Path(checkpoint) / "config.json"
    meta = json.loads(path.read_text()) if path.is_file() else {}
    name = meta.get("profile")
    if not name and meta.get("format") != "pi0_ros":
        name = detect_profile(checkpoint)
    return load_profile(name or DEFAULT_PROFILE)
