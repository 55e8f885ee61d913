"""Random-weight checkpoints for demos and tests, written in the project's format.

Not a file format of its own: `make_random_checkpoint` builds a seeded random π0 and saves it
with `pi0_policy.policy.checkpoint.save_checkpoint`, the package's demo tokenizer and plausible
statistics (`random_norm_stats`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from pi0_policy.model.config import get_config
from pi0_policy.policy.checkpoint import DEFAULT_IMAGE_KEYS, check_dims, save_checkpoint
from pi0_policy.policy.normalize import NormStats
from pi0_policy.policy.tokenizer import demo_tokenizer_path


def random_norm_stats(state_dim: int, action_dim: int, seed: int = 0) -> dict[str, NormStats]:
    """Plausible statistics for a demo: means in [-0.5, 0.5], stds in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)

    def one(dim):
        mean = rng.uniform(-0.5, 0.5, dim).astype(np.float32)
        std = rng.uniform(0.5, 1.5, dim).astype(np.float32)
        return NormStats(mean=mean, std=std, q01=mean - 2 * std, q99=mean + 2 * std)

    return {"state": one(state_dim), "actions": one(action_dim)}


def make_random_checkpoint(
    path: str | Path,
    preset: str = "pi0_tiny",
    state_dim: int = 14,
    action_dim: int = 14,
    norm_stats: Mapping[str, NormStats] | None = None,
    seed: int = 0,
    image_keys: tuple[str, ...] = DEFAULT_IMAGE_KEYS,
    dtype: str = "float32",
    **config_overrides,
) -> Path:
    """A checkpoint with random weights (seeded) and the package's demo tokenizer, for demos and tests.

    ``norm_stats`` defaults to `random_norm_stats`; ``config_overrides`` go to ``get_config``
    (e.g. ``action_horizon=25``); ``dtype`` is that of the stored weights ("bfloat16" halves a
    full-size ``pi0`` file to about 6.5 GB).
    """
    from pi0_policy.model.weights import build_model

    config = get_config(preset, **config_overrides)
    check_dims(state_dim, action_dim, path)
    stats = dict(norm_stats) if norm_stats is not None else random_norm_stats(state_dim, action_dim, seed)
    model = build_model(config, dtype=dtype, seed=seed)
    return save_checkpoint(
        path,
        model,
        config,
        state_dim,
        action_dim,
        demo_tokenizer_path(),
        stats,
        image_keys=image_keys,
        source={"kind": "random", "preset": preset, "seed": seed},
    )
