"""Velocity-output checkpoints executed as velocities: integrate into a position trajectory.

openpi's DROID checkpoints predict normalised joint velocities (openpi ``examples/droid``; DROID's
``RobotEnv(action_space="joint_velocity")``). DROID turns one into a joint step with
``RobotIKSolver.joint_velocity_to_delta``: if any ``|v| > 1`` the whole vector is divided by the
largest (direction kept), then ``delta = v · max_joint_delta`` (0.2 rad) per 15 Hz control step,
added to the current joints. openpi's client clips every action dimension to [-1, 1] first.
So one unit of normalised velocity is ``0.2 · 15 = 3 rad/s``.

`integrate_velocities` does the same over a whole chunk, step after step from the current
joints, with the robot's own period ``dt`` (the velocity in rad/s is kept; at DROID's 15 Hz the
result equals DROID's steps), each joint's speed capped at the spec's ``max_velocity`` and each
position clamped to its limits (a clamped joint does not wind up beyond the limit).
"""
from __future__ import annotations

import numpy as np


def integrate_velocities(
    start: np.ndarray,
    velocities: np.ndarray,
    dt: float,
    units_per_second: float,
    max_velocity: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    clip: tuple[float, float] | None = (-1.0, 1.0),
    rescale_to_unit_max: bool = True,
) -> np.ndarray:
    """Normalised velocities ``[H, n]`` → joint positions ``[H, n]`` reached after each step.

    ``start``: current joint positions ``[n]``. ``units_per_second``: rad/s of one unit of
    normalised velocity (DROID: 3.0). ``clip``: per-dimension clip of the raw values (None: none);
    ``rescale_to_unit_max``: divide a step by its largest ``|v|`` when that exceeds 1.
    Raises ``ValueError`` on a bad shape, a non-positive ``dt`` or non-finite input."""
    v = np.array(velocities, dtype=np.float64)
    q = np.array(start, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != q.shape[0]:
        raise ValueError(f"velocities must be (H, {q.shape[0]}), got {v.shape}")
    if not dt > 0 or not units_per_second > 0:
        raise ValueError(f"dt and units_per_second must be positive, got {dt}, {units_per_second}")
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(q))):
        raise ValueError("velocities or start positions are not finite")
    if clip is not None:
        v = np.clip(v, clip[0], clip[1])
    if rescale_to_unit_max:
        peak = np.abs(v).max(axis=1, keepdims=True)
        v = np.where(peak > 1.0, v / np.maximum(peak, 1.0), v)
    rates = np.clip(v * units_per_second, -np.asarray(max_velocity), np.asarray(max_velocity))
    out = np.empty_like(rates)
    for k, rate in enumerate(rates):
        q = np.clip(q + rate * dt, lower, upper)
        out[k] = q
    return out


def differentiate_positions(start: np.ndarray, positions: np.ndarray, dt: float,
                            units_per_second: float) -> np.ndarray:
    """Inverse of `integrate_velocities` without clipping: positions ``[H, n]`` → normalised
    velocities, e.g. to turn recorded joint trajectories into a velocity checkpoint's targets."""
    q = np.vstack([np.asarray(start, dtype=np.float64)[None], np.asarray(positions, dtype=np.float64)])
    return np.diff(q, axis=0) / (dt * units_per_second)
