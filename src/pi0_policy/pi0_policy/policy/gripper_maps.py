"""Gripper maps as chains of small invertible steps, written in YAML by the convention profiles.

A chain is a list of steps ``{op: NAME, ...parameters}`` applied in order. A profile has one chain
for the state (robot reading → model) and one for the actions (model → robot command): openpi's
ALOHA state and action maps differ, so one linear map cannot serve both. Every step has an
inverse (``binarize`` and ``clip`` invert to the identity, which is exact at their fixed points),
so robot actions can be turned back into model actions (training targets, round-trip tests).

Steps (``x`` is the value entering the step):
- ``normalize {low, high}``: ``(x - low) / (high - low)``; ``unnormalize``: ``x * (high - low) + low``.
- ``offset {value}``: ``x + value``.
- ``angle_to_linear {horn_radius, arm_length}``: Interbotix's servo-horn geometry, the distance of
  one finger from the horn's centre for motor angle ``x``: ``h·sin x + sqrt(a² − (h·cos x)²)``
  (interbotix_xs_sdk ``robot_convert_angular_position_to_linear``).
- ``linear_to_angle {horn_radius, arm_length, half_pi}``: its inverse,
  ``half_pi − acos(clip((h² + x² − a²) / (2·h·x), −1, 1))``. openpi's ``linear_to_radian`` is
  ``arcsin`` of the same (``half_pi`` = π/2, the default); Interbotix's
  ``robot_convert_linear_position_to_radian`` writes ``3.14159 / 2``.
- ``spec_to_model`` / ``spec_to_robot``: the embodiment spec's own linear gripper map
  (``GripperSpec.to_policy`` / ``to_driver``: open → 0, closed → 1).
- ``binarize {threshold}``: 1 above the threshold, else 0. ``clip {low, high}``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Fn = Callable[[np.ndarray], np.ndarray]


def _angle_to_linear(h: float, a: float, half_pi: float = math.pi / 2) -> Fn:
    shift = half_pi - math.pi / 2   # an inverse of linear_to_angle with a truncated π/2

    def f(x):
        x = np.asarray(x, dtype=np.float64) - shift
        return h * np.sin(x) + np.sqrt(a**2 - (h * np.cos(x)) ** 2)
    return f


def _linear_to_angle(h: float, a: float, half_pi: float = math.pi / 2) -> Fn:
    def f(x):
        x = np.asarray(x, dtype=np.float64)
        return half_pi - np.arccos(np.clip((h**2 + x**2 - a**2) / (2 * h * x), -1.0, 1.0))
    return f


def _affine(scale: float, shift: float) -> Fn:
    return lambda x: np.asarray(x, dtype=np.float64) * scale + shift


def _identity(x):
    return np.asarray(x, dtype=np.float64)


def _make(step: dict, gripper) -> tuple[Fn, Fn]:
    """(forward, inverse) of one step; ``gripper`` is the spec's GripperSpec (for spec_* steps)."""
    op = step["op"]
    if op in ("normalize", "unnormalize"):
        low, high = float(step["low"]), float(step["high"])
        if high == low:
            raise ValueError(f"gripper step {step}: low and high are equal")
        norm, unnorm = _affine(1 / (high - low), -low / (high - low)), _affine(high - low, low)
        return (norm, unnorm) if op == "normalize" else (unnorm, norm)
    if op == "offset":
        value = float(step["value"])
        return _affine(1.0, value), _affine(1.0, -value)
    if op in ("angle_to_linear", "linear_to_angle"):
        args = (float(step["horn_radius"]), float(step["arm_length"]), float(step.get("half_pi", math.pi / 2)))
        to_lin, to_ang = _angle_to_linear(*args), _linear_to_angle(*args)
        return (to_lin, to_ang) if op == "angle_to_linear" else (to_ang, to_lin)
    if op in ("spec_to_model", "spec_to_robot"):
        pair = (gripper.to_policy, gripper.to_driver)
        return pair if op == "spec_to_model" else pair[::-1]
    if op == "binarize":
        threshold = float(step["threshold"])
        return (lambda x: (np.asarray(x, dtype=np.float64) > threshold).astype(np.float64)), _identity
    if op == "clip":
        low, high = float(step["low"]), float(step["high"])
        return (lambda x: np.clip(np.asarray(x, dtype=np.float64), low, high)), _identity
    raise ValueError(f"unknown gripper step op {op!r}; choose from {list(STEP_PARAMETERS)}")


STEP_PARAMETERS = {
    "normalize": {"low", "high"}, "unnormalize": {"low", "high"}, "offset": {"value"},
    "angle_to_linear": {"horn_radius", "arm_length", "half_pi"},
    "linear_to_angle": {"horn_radius", "arm_length", "half_pi"},
    "spec_to_model": set(), "spec_to_robot": set(), "binarize": {"threshold"}, "clip": {"low", "high"},
}
_OPTIONAL = {"half_pi"}


def check_chain(chain, where: str) -> tuple[dict, ...]:
    """Validate a YAML chain (list of ``{op: ..., ...}``); returns it as a tuple of dicts."""
    if not isinstance(chain, (list, tuple)) or not chain:
        raise ValueError(f"{where}: a gripper map is a non-empty list of steps, got {chain!r}")
    for step in chain:
        if not isinstance(step, dict) or step.get("op") not in STEP_PARAMETERS:
            raise ValueError(f"{where}: bad step {step!r}; op must be one of {list(STEP_PARAMETERS)}")
        allowed = STEP_PARAMETERS[step["op"]]
        extra = set(step) - allowed - {"op"}
        missing = allowed - _OPTIONAL - set(step)
        if extra or missing:
            raise ValueError(f"{where}: step {step['op']!r} takes {sorted(allowed)}; "
                             f"unknown {sorted(extra)}, missing {sorted(missing)}")
    return tuple(dict(s) for s in chain)


@dataclass(frozen=True)
class GripperMap:
    """A chain bound to one gripper: ``forward`` applies the steps, ``inverse`` undoes them."""

    steps: tuple[Fn, ...]
    inverses: tuple[Fn, ...]

    @classmethod
    def build(cls, chain, gripper) -> "GripperMap":
        pairs = [_make(step, gripper) for step in chain]
        return cls(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))

    def forward(self, x):
        for f in self.steps:
            x = f(x)
        return np.asarray(x, dtype=np.float64)

    def inverse(self, x):
        for f in reversed(self.inverses):
            x = f(x)
        return np.asarray(x, dtype=np.float64)
