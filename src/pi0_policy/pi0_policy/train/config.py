"""`pi0 train`'s settings (no torch import, so that `pi0 --help` stays fast)."""
from __future__ import annotations

from dataclasses import dataclass, field

DTYPES = ("float32", "bfloat16")
FREEZE_CHOICES = ("none", "vision", "vlm")


@dataclass
class TrainConfig:
    datasets: list[str]
    out: str
    init: str | None = None              # checkpoint to fine-tune; None: random weights of `preset`
    preset: str = "pi0_small"
    image_size: int | None = None        # preset overrides (random init only)
    horizon: int | None = None
    num_cameras: int | None = None
    embodiment: str | None = None        # adapter for robot-space datasets (default: info.json's)
    profile: str | None = None           # convention profile (policy/profiles; None: pi0ros, or --init's)
    steps: int = 1000
    batch_size: int = 8
    accum: int = 1
    lr: float = 2.5e-5                   # openpi's peak for π0 fine-tuning; raise it to train from scratch
    warmup: int = 100
    final_lr_ratio: float = 0.1
    weight_decay: float = 1e-10
    clip: float = 1.0
    dtype: str = "float32"
    frozen_dtype: str = "float32"        # bfloat16: frozen weights stored in bf16 (needs dtype=bfloat16)
    freeze: str = "none"
    lora_rank: int = 0
    lora_alpha: float | None = None
    mixture_alpha: float = 1.0
    seed: int = 0
    log_every: int = 10
    save_every: int = 0                  # 0: only at the end
    device: str = "cpu"
    fsdp: bool = False
    resume: bool = False
    progress: bool = True
    camera_map: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("dtype", "frozen_dtype"):
            if getattr(self, name) not in DTYPES:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose from {list(DTYPES)}")
        if self.frozen_dtype == "bfloat16" and self.dtype != "bfloat16":
            raise ValueError("frozen_dtype=bfloat16 needs dtype=bfloat16 (autocast mixes the two dtypes)")
        for name in ("steps", "batch_size", "accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.freeze not in FREEZE_CHOICES:
            raise ValueError(f"freeze={self.freeze!r}; choose from {list(FREEZE_CHOICES)}")
