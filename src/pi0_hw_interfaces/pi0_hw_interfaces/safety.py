"""Safety layer: pure functions that every path to the motors goes through.

Used by the simulated robot, the bridges and the policy node. Positions are numpy arrays in
driver units, one entry per joint, with limits from `EmbodimentSpec.limits(names)`. None of
these functions raise on out-of-range values: they return the nearest safe command. They
raise `ValueError` (naming the value) only on input that cannot be made safe (NaN, wrong shape).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class JointLimits:
    """Limits of a group of joints, in the group's order: position [lower, upper], |velocity| ≤ max."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray

    @classmethod
    def from_spec(cls, spec, names: Sequence[str]) -> "JointLimits":
        """Limits of joints `names` of an `EmbodimentSpec` (KeyError on an unknown joint)."""
        lower, upper, vmax = spec.limits(names)
        return cls(tuple(names), lower, upper, vmax)


def _as_positions(values, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape[-1:] != (n,):
        raise ValueError(f"{what} has shape {arr.shape}, expected (..., {n})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains a non-finite value: {arr.tolist()}")
    return arr


def clamp_positions(positions, limits: JointLimits) -> np.ndarray:
    """`positions` (…, n) clipped into [lower, upper] per joint."""
    arr = _as_positions(positions, len(limits.names), "positions")
    return np.clip(arr, limits.lower, limits.upper)


def cap_step(target, current, limits: JointLimits, dt: float) -> np.ndarray:
    """The command one step of `dt` seconds from `current` towards `target`.

    Each joint moves at most `max_velocity * dt`; the result is then clamped to the position
    limits. `dt` ≤ 0 means no time has passed: the result is `current` (clamped).
    """
    target = _as_positions(target, len(limits.names), "target")
    current = _as_positions(current, len(limits.names), "current")
    max_step = limits.max_velocity * max(float(dt), 0.0)
    step = np.clip(target - current, -max_step, max_step)
    return np.clip(current + step, limits.lower, limits.upper)


def is_stale(last_command_time: float | None, now: float, timeout: float) -> bool:
    """True when no command arrived, or the last one is more than `timeout` s older than `now`."""
    return last_command_time is None or (now - last_command_time) > timeout


def cap_base_velocity(command, axes: Sequence[str], max_linear: float, max_angular: float) -> np.ndarray:
    """Base velocity `command` (one value per axis in `axes`) with each axis clipped to its cap.

    The linear part (base_x, base_y) is scaled down together so its norm is ≤ `max_linear`
    (direction is kept); base_yaw is clipped to ±`max_angular`.
    """
    cmd = _as_positions(command, len(axes), "base command").copy()
    linear = np.array([i for i, a in enumerate(axes) if a != "base_yaw"], dtype=int)
    norm = float(np.linalg.norm(cmd[linear])) if linear.size else 0.0
    if norm > max_linear > 0:
        cmd[linear] *= max_linear / norm
    for i, a in enumerate(axes):
        if a == "base_yaw":
            cmd[i] = np.clip(cmd[i], -max_angular, max_angular)
    return cmd


def safe_base_command(command, last_command_time: float | None, now: float, base) -> np.ndarray:
    """The base velocity to apply now: zero when stale, else `command` capped (`base`: a BaseSpec)."""
    if command is None or is_stale(last_command_time, now, base.command_timeout):
        return np.zeros(len(base.axes))
    return cap_base_velocity(command, base.axes, base.max_linear, base.max_angular)
