"""Z-score normalisation of state and actions, with statistics in openpi's norm_stats.json format.

File format (openpi ``assets/<robot>/norm_stats.json``)::

    {"norm_stats": {"state":   {"mean": [...], "std": [...], "q01": [...], "q99": [...]},
                    "actions": {"mean": [...], "std": [...], "q01": [...], "q99": [...]}}}

``q01``/``q99`` are optional (null or absent); π0 uses only mean and std:

    normalize(x)   = (x - mean) / (std + eps)
    unnormalize(y) = y * (std + eps) + mean

with ``eps = 1e-6`` (openpi). LeRobot uses 1e-8; a converted LeRobot checkpoint records its eps
in config.json (``norm_eps``). Statistics may have more dimensions than the data (openpi stores
some padded to 32): the first ``x.shape[-1]`` entries are used. Fewer is a ValueError.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

EPS = 1e-6
REQUIRED_KEYS = ("state", "actions")


@dataclass(frozen=True)
class NormStats:
    """Per-dimension statistics of one quantity (float32 arrays of equal length)."""

    mean: np.ndarray
    std: np.ndarray
    q01: np.ndarray | None = None
    q99: np.ndarray | None = None

    def __post_init__(self):
        for field in ("mean", "std", "q01", "q99"):
            value = getattr(self, field)
            if value is None:
                continue
            array = np.asarray(value, dtype=np.float32)
            if array.ndim != 1 or array.size == 0:
                raise ValueError(f"NormStats.{field} must be a non-empty 1-D list, got shape {array.shape}")
            if not np.isfinite(array).all():
                raise ValueError(f"NormStats.{field} contains NaN or inf: {array.tolist()}")
            if array.shape != np.shape(self.mean):
                raise ValueError(f"NormStats.{field} has {array.size} dims but mean has {np.size(self.mean)}")
            object.__setattr__(self, field, array)
        if (self.std < 0).any():
            raise ValueError(f"NormStats.std must be >= 0, got {self.std.tolist()}")

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def to_json(self) -> dict:
        return {
            name: None if value is None else [float(v) for v in value]
            for name, value in (("mean", self.mean), ("std", self.std), ("q01", self.q01), ("q99", self.q99))
        }

    @classmethod
    def from_json(cls, data: Mapping, where: str = "stats") -> "NormStats":
        if not isinstance(data, Mapping) or "mean" not in data or "std" not in data:
            raise ValueError(f"{where}: expected an object with 'mean' and 'std', got {str(data)[:80]!r}")
        try:
            return cls(**{k: data.get(k) for k in ("mean", "std", "q01", "q99")})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from error

    @classmethod
    def identity(cls, dim: int) -> "NormStats":
        """Mean 0, std 1: normalisation is (almost) the identity."""
        return cls(mean=np.zeros(dim, np.float32), std=np.ones(dim, np.float32))


def _sliced(stats: NormStats, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dim = x.shape[-1]
    if stats.dim < dim:
        raise ValueError(f"statistics have {stats.dim} dims, fewer than the data's {dim}")
    return stats.mean[:dim], stats.std[:dim]


def normalize(x: np.ndarray, stats: NormStats, eps: float = EPS) -> np.ndarray:
    """``(x - mean) / (std + eps)`` over the last axis, float32."""
    x = np.asarray(x, dtype=np.float32)
    mean, std = _sliced(stats, x)
    return ((x - mean) / (std + np.float32(eps))).astype(np.float32)


def unnormalize(y: np.ndarray, stats: NormStats, eps: float = EPS) -> np.ndarray:
    """``y * (std + eps) + mean`` over the last axis, float32 (inverse of `normalize`)."""
    y = np.asarray(y, dtype=np.float32)
    mean, std = _sliced(stats, y)
    return (y * (std + np.float32(eps)) + mean).astype(np.float32)


def parse_norm_stats(data, where: str = "norm_stats.json") -> dict[str, NormStats]:
    """The parsed JSON document → ``{"state": NormStats, "actions": NormStats, ...}``."""
    body = data.get("norm_stats") if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping):
        raise ValueError(f"{where}: expected a top-level object with a 'norm_stats' object")
    missing = [key for key in REQUIRED_KEYS if key not in body]
    if missing:
        raise ValueError(f"{where}: 'norm_stats' lacks {missing} (has {sorted(body)})")
    return {key: NormStats.from_json(value, f"{where}: norm_stats.{key}") for key, value in body.items()}


def load_norm_stats(path: str | Path) -> dict[str, NormStats]:
    """Read a norm_stats.json; FileNotFoundError / ValueError name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"norm stats file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    return parse_norm_stats(data, str(path))


def save_norm_stats(path: str | Path, stats: Mapping[str, NormStats]) -> Path:
    """Write ``stats`` in openpi's format (creates parent folders); returns the path."""
    missing = [key for key in REQUIRED_KEYS if key not in stats]
    if missing:
        raise ValueError(f"norm stats lack {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {key: value.to_json() for key, value in stats.items()}
    path.write_text(json.dumps({"norm_stats": body}, indent=2) + "\n")
    return path


def check_eps(eps: float) -> float:
    """Validate a normalisation eps (finite, >= 0)."""
    if not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"norm eps must be a finite number >= 0, got {eps!r}")
    return float(eps)
