"""π0 network configuration: frozen dataclasses and named presets.

A `Pi0Config` fixes every size of the network (SigLIP vision tower, the PaliGemma language model
("text"), the action expert), the token layout (cameras, prompt length, action horizon, padded
state/action widths) and the flow-matching constants. Presets:

- ``pi0``: the paper's sizes (SigLIP So400m/14 at 224 px, Gemma 2B, Gemma-style 300M action
  expert, horizon 50, state/action padded to 32, 48 prompt tokens): 3,238,048,528 parameters.
- ``pi0_tiny``: exactly the sizes of the LeRobot tiny reference checkpoint used by the parity tests.
- ``pi0_small``: a CPU demo size (bigger than tiny; a 10-step chunk well under a second on a CPU).

``get_config(name, **overrides)`` looks a preset up by name (a typo gets the closest name suggested)
and applies top-level field overrides, e.g. ``get_config("pi0_small", num_cameras=2)``.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass


def _require_positive(owner: str, **values: int | float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{owner}.{name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class GemmaSpec:
    """One Gemma-style transformer (the PaliGemma language model or the action expert)."""

    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int

    def __post_init__(self):
        _require_positive("GemmaSpec", **dataclasses.asdict(self))
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"GemmaSpec.num_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                f"({self.num_kv_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"GemmaSpec.head_dim must be even for RoPE, got {self.head_dim}")


@dataclass(frozen=True)
class VisionSpec:
    """The SigLIP vision tower (no pooling head): image_size/patch_size squared tokens per image."""

    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch_size: int = 14
    image_size: int = 224

    def __post_init__(self):
        _require_positive("VisionSpec", **dataclasses.asdict(self))
        if self.width % self.num_heads:
            raise ValueError(
                f"VisionSpec.width ({self.width}) must be a multiple of num_heads ({self.num_heads})"
            )
        if self.image_size % self.patch_size:
            raise ValueError(
                f"VisionSpec.image_size ({self.image_size}) must be a multiple of "
                f"patch_size ({self.patch_size})"
            )

    @property
    def tokens_per_image(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class Pi0Config:
    """Every size and constant of a π0 network. Frozen; derive variants with `dataclasses.replace`.

    The two experts share self-attention layer by layer, so `text` and `expert` must agree on
    depth, num_heads, num_kv_heads and head_dim (their widths and MLPs differ).
    Flow-matching time: t ~ Beta(time_beta_alpha, time_beta_beta) * time_scale + time_offset.
    """

    name: str
    vision: VisionSpec
    text: GemmaSpec
    expert: GemmaSpec
    vocab_size: int = 257152
    num_cameras: int = 3
    action_horizon: int = 50
    max_state_dim: int = 32
    max_action_dim: int = 32
    max_token_len: int = 48
    num_steps: int = 10
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    min_period: float = 4e-3
    max_period: float = 4.0
    time_beta_alpha: float = 1.5
    time_beta_beta: float = 1.0
    time_scale: float = 0.999
    time_offset: float = 0.001

    def __post_init__(self):
        _require_positive(
            "Pi0Config", vocab_size=self.vocab_size, num_cameras=self.num_cameras,
            action_horizon=self.action_horizon, max_state_dim=self.max_state_dim,
            max_action_dim=self.max_action_dim, max_token_len=self.max_token_len, num_steps=self.num_steps,
        )
        for attr in ("depth", "num_heads", "num_kv_heads", "head_dim"):
            a, b = getattr(self.text, attr), getattr(self.expert, attr)
            if a != b:
                raise ValueError(
                    f"Pi0Config {self.name!r}: text.{attr} ({a}) != expert.{attr} ({b}); the experts share "
                    "self-attention, so these must match"
                )
        if self.expert.width % 2:
            raise ValueError(f"Pi0Config {self.name!r}: expert.width must be even (sin/cos time embedding)")

    @property
    def tokens_per_image(self) -> int:
        return self.vision.tokens_per_image

    @property
    def prefix_len(self) -> int:
        """Image tokens of every camera, then the prompt tokens."""
        return self.num_cameras * self.tokens_per_image + self.max_token_len

    @property
    def suffix_len(self) -> int:
        """One state token, then one token per action step."""
        return 1 + self.action_horizon

    def to_dict(self) -> dict:
        """A JSON-ready dict; `Pi0Config.from_dict(cfg.to_dict()) == cfg`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Pi0Config:
        """Inverse of `to_dict`; unknown fields raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown Pi0Config fields {unknown}; valid fields: {sorted(names)}")
        kwargs = dict(data)
        for key, spec_cls in (("vision", VisionSpec), ("text", GemmaSpec), ("expert", GemmaSpec)):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = spec_cls(**kwargs[key])
        return cls(**kwargs)


#: The model's camera slots, in prefix order (openpi's and LeRobot's names).
IMAGE_KEYS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")

PRESETS: dict[str, Pi0Config] = {
    "pi0": Pi0Config(
        name="pi0",
        vision=VisionSpec(width=1152, depth=27, mlp_dim=4304, num_heads=16),
        text=GemmaSpec(width=2048, depth=18, mlp_dim=16384, num_heads=8, num_kv_heads=1, head_dim=256),
        expert=GemmaSpec(width=1024, depth=18, mlp_dim=4096, num_heads=8, num_kv_heads=1, head_dim=256),
        vocab_size=257152,
    ),
    # Sizes of /work/shared/fixtures/lerobot-pi0-tiny (reference.json → tiny_arch).
    "pi0_tiny": Pi0Config(
        name="pi0_tiny",
        vision=VisionSpec(width=64, depth=2, mlp_dim=128, num_heads=2),
        text=GemmaSpec(width=128, depth=2, mlp_dim=256, num_heads=8, num_kv_heads=1, head_dim=32),
        expert=GemmaSpec(width=64, depth=2, mlp_dim=128, num_heads=8, num_kv_heads=1, head_dim=32),
        vocab_size=512,
    ),
    "pi0_small": Pi0Config(
        name="pi0_small",
        vision=VisionSpec(width=192, depth=4, mlp_dim=768, num_heads=3),
        text=GemmaSpec(width=256, depth=4, mlp_dim=1024, num_heads=4, num_kv_heads=1, head_dim=64),
        expert=GemmaSpec(width=128, depth=4, mlp_dim=512, num_heads=4, num_kv_heads=1, head_dim=64),
        vocab_size=512,
    ),
}


def list_configs() -> list[str]:
    return sorted(PRESETS)


def get_config(name: str, **overrides) -> Pi0Config:
    """The preset called `name`, with top-level fields replaced by `overrides`.

    Unknown name → KeyError naming it, the closest preset name and all names.
    Unknown override field → ValueError naming it.
    """
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1, cutoff=0.0)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown π0 config {name!r}.{hint} Available: {', '.join(list_configs())}")
    config = PRESETS[name]
    if overrides:
        names = {f.name for f in dataclasses.fields(Pi0Config)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown Pi0Config fields {unknown}; valid fields: {sorted(names)}")
        config = dataclasses.replace(config, **overrides)
    return config
