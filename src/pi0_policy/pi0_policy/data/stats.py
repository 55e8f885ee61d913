"""Dataset statistics: LeRobot's meta/stats.json and openpi's norm_stats.json.

- `lerobot_stats`: per feature ``min, max, mean, std, count`` (and ``q01, q99``) over every frame;
  video features per channel, shape ``[3, 1, 1]``, pixels in [0, 1] (LeRobot's convention), from
  running sums over every frame (`pi0_policy.data.lerobot.PixelStats`).
- `norm_stats`: openpi's ``{"state", "actions"}`` `NormStats` (mean, std, q01, q99) of the values
  the model is trained on: states, and every real step of every action chunk after the delta
  transform (openpi computes them after its data transforms too).
"""
from __future__ import annotations

import numpy as np

from pi0_policy.policy.normalize import NormStats

def _summary(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"min": values.min(0).tolist(), "max": values.max(0).tolist(), "mean": values.mean(0).tolist(),
            "std": values.std(0).tolist(), "count": [int(len(values))],
            "q01": np.quantile(values, 0.01, axis=0).tolist(), "q99": np.quantile(values, 0.99, axis=0).tolist()}


def lerobot_stats(vectors: dict[str, np.ndarray], pixels: dict[str, dict]) -> dict:
    """meta/stats.json content for vector features ``[N, d]`` and per-channel pixel summaries
    (``{"min", "max", "mean", "std": float[3], "count": int}``)."""
    stats = {key: _summary(values) for key, values in vectors.items()}
    for key, summary in pixels.items():
        stats[key] = {k: np.asarray(summary[k], dtype=np.float64)[:, None, None].tolist()
                      for k in ("min", "max", "mean", "std")}
        stats[key]["count"] = [int(summary["count"])]
    return stats


def norm_stats(states: np.ndarray, action_chunks: np.ndarray, valid: np.ndarray) -> dict[str, NormStats]:
    """``states`` [N, s]; ``action_chunks`` [N, H, a] and ``valid`` bool[N, H] → openpi stats."""
    actions = action_chunks[valid]

    def one(values):
        values = np.asarray(values, dtype=np.float64)
        return NormStats(mean=values.mean(0), std=values.std(0), q01=np.quantile(values, 0.01, axis=0),
                         q99=np.quantile(values, 0.99, axis=0))

    return {"state": one(states), "actions": one(actions)}
