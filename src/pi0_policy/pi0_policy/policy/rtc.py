"""Real-time chunking (Black et al. 2025, arXiv 2506.07339): pure functions. The next chunk is
sampled while the current one executes; the actions that run during the inference delay are
frozen to the executing chunk's and the overlap after them is guided towards it (inpainting of
the flow), so a new chunk continues the one it replaces.

Axis letters: H = actions in a chunk, D = action dimensions.

- `soft_mask`: the paper's guidance weights over the horizon (its eq. 5, LeRobot's "exp" prefix
  attention schedule): 1 on the frozen prefix (indices < ``frozen``), exponentially decaying over
  the rest of the overlap (``frozen <= i < overlap``), 0 beyond the previous chunk's end.
- `guidance_weight`: the clipped guidance strength ``min(β, (1 − τ)/τ · 1/r²_τ)`` at a flow time.
- `leftover_actions`: the executing chunk's actions at the new chunk's target times.
- `DelayEstimator`: the frozen prefix length (in control periods) from measured latency.

The guided Euler steps themselves are `pi0_policy.model.guided.guided_denoise`.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from pi0_policy.policy.chunking import ScheduledChunk

DEFAULT_MAX_GUIDANCE = 5.0  # β: the paper's choice for π0-class policies (LeRobot's default too)


def soft_mask(horizon: int, frozen: int, overlap: int) -> np.ndarray:
    """``Float[horizon]`` guidance weights: 1 for ``i < frozen``, ``c·(e^c − 1)/(e − 1)`` with
    ``c = (overlap − i)/(overlap − frozen + 1)`` for ``frozen <= i < overlap``, 0 from ``overlap``.
    ``frozen`` is clipped into ``[0, overlap]`` and ``overlap`` into ``[0, horizon]``."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    overlap = int(min(max(overlap, 0), horizon))
    frozen = int(min(max(frozen, 0), overlap))
    i = np.arange(horizon, dtype=np.float64)
    c = (overlap - i) / (overlap - frozen + 1)
    weights = np.where(i < overlap, c * np.expm1(c) / (math.e - 1.0), 0.0)
    weights[:frozen] = 1.0
    return weights


def guidance_weight(t: float, max_guidance: float) -> float:
    """The guidance strength at model flow time ``t`` (1 = noise, 0 = data; the paper's τ = 1 − t):
    ``min(β, (1 − τ)/τ · ((1 − τ)² + τ²)/(1 − τ)²)``; β at τ = 0 (pure noise), 0 at τ = 1."""
    if not max_guidance >= 0:
        raise ValueError(f"max_guidance (β) must be >= 0, got {max_guidance!r}")
    tau = 1.0 - float(t)
    if tau <= 0.0:
        return float(max_guidance)
    if tau >= 1.0:
        return 0.0
    inv_r2 = ((1 - tau) ** 2 + tau ** 2) / (1 - tau) ** 2
    return float(min(max_guidance, (1 - tau) / tau * inv_r2))


def leftover_actions(chunk: ScheduledChunk, obs_time: float, horizon: int) -> tuple[np.ndarray, int]:
    """The executing ``chunk``'s actions at the target times ``obs_time + (k + 1)·dt`` of a new
    chunk observed at ``obs_time``: ``(Float[horizon, D], overlap)``, rows ``>= overlap`` (past the
    chunk's end) repeat its last action. A chunk's targets lie on its own grid; the nearest is used."""
    actions = np.asarray(chunk.actions, dtype=np.float64)
    out = np.zeros((horizon, actions.shape[1]))
    if not len(actions):
        return out, 0
    k = np.arange(horizon)
    index = np.rint((obs_time + (k + 1) * chunk.dt - chunk.start) / chunk.dt).astype(int) - 1
    inside = (index >= 0) & (index < len(actions))
    overlap = horizon if inside.all() else int(np.argmin(inside))  # leading rows the chunk covers
    if overlap == 0:
        return out, 0
    out[:overlap] = actions[index[:overlap]]
    out[overlap:] = actions[index[overlap - 1]]
    return out, overlap


class DelayEstimator:
    """The inference delay in control periods: ``ceil(max of the last `window` latencies / dt)``
    (the maximum, as LeRobot does: a too-short frozen prefix lets the new chunk move actions that
    already ran). ``initial`` seconds until the first measurement."""

    def __init__(self, dt: float, window: int = 10, initial: float = 0.0):
        if not dt > 0 or window < 1:
            raise ValueError(f"dt must be > 0 and window >= 1, got dt={dt!r}, window={window!r}")
        self.dt = dt
        self._latencies = deque(maxlen=window)
        self._initial = float(initial)

    def update(self, latency: float) -> None:
        if math.isfinite(latency) and latency >= 0:
            self._latencies.append(float(latency))

    @property
    def seconds(self) -> float:
        return max(self._latencies) if self._latencies else self._initial

    @property
    def steps(self) -> int:
        return int(math.ceil(self.seconds / self.dt - 1e-9))


@dataclass(frozen=True)
class RtcGuide:
    """What the policy needs for one guided sample (model space, un-normalised): the previous
    chunk's ``actions`` ``Float[H, D]`` at the new chunk's targets, their ``weights`` ``Float[H]``
    (`soft_mask`) and β. Passed to `Pi0Policy.infer` as ``obs["rtc"]``."""

    actions: np.ndarray
    weights: np.ndarray
    max_guidance: float = DEFAULT_MAX_GUIDANCE

    def as_obs(self) -> dict:
        return {"actions": np.asarray(self.actions, np.float32), "weights": np.asarray(self.weights, np.float32),
                "max_guidance": float(self.max_guidance)}
