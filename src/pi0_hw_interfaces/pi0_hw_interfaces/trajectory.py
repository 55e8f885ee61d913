"""Joint trajectories with joint_trajectory_controller (JTC, ROS 2 Jazzy) semantics, as pure functions.

Kept apart from the nodes, as JTC keeps `Trajectory::sample` apart from its controller. Times
are seconds on the node's clock. Acceptance (`make_trajectory`) follows JTC's checks:

- `stamp` 0 means "start now"; otherwise the trajectory starts at `stamp`.
- every joint of the controller is given exactly once (no partial goals, no unknown or
  duplicate joints), in any order (reordered to the controller's order);
- at least one point; every point has exactly one finite position per joint (positions only:
  velocities and accelerations, if given, are ignored);
- `time_from_start` is finite, ≥ 0 and strictly increasing;
- a trajectory whose last point lies in the past (start + last time_from_start < now) is rejected.

A rejected trajectory raises `TrajectoryError` whose message is the reason; it never replaces the
running trajectory. An accepted one replaces the running one at once (no splicing).

`Trajectory.sample(t)` (t in seconds):
- before the trajectory was received (`t < initial_time`): the state at receipt;
- before the first point's time: linear from (receipt time, state at receipt) to the first point;
- between points: linear interpolation (JTC with positions only);
- at or after the last point: the last point (held).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


class TrajectoryError(ValueError):
    """A trajectory that must not be executed; the message says why."""


@dataclass(frozen=True)
class Trajectory:
    """An accepted trajectory in the controller's joint order (see the module docstring)."""

    joint_names: tuple[str, ...]
    start_time: float
    times: np.ndarray          # (m,) time_from_start, s, strictly increasing
    positions: np.ndarray      # (m, n)
    initial_time: float        # when it replaced the previous one
    initial_positions: np.ndarray  # (n,) the state at that moment

    @property
    def end_time(self) -> float:
        return self.start_time + float(self.times[-1])

    def done(self, t: float) -> bool:
        return t >= self.end_time

    def sample(self, t: float) -> np.ndarray:
        """Desired positions (n,) at time `t` (seconds)."""
        abs_times = self.start_time + self.times
        if t <= self.initial_time:
            return self.initial_positions.copy()
        if t < abs_times[0]:
            span = abs_times[0] - self.initial_time
            alpha = (t - self.initial_time) / span if span > 0 else 1.0
            return self.initial_positions + alpha * (self.positions[0] - self.initial_positions)
        if t >= abs_times[-1]:
            return self.positions[-1].copy()
        i = int(np.searchsorted(abs_times, t, side="right")) - 1
        alpha = (t - abs_times[i]) / (abs_times[i + 1] - abs_times[i])
        return self.positions[i] + alpha * (self.positions[i + 1] - self.positions[i])


def make_trajectory(
    controller_joints: Sequence[str],
    joint_names: Sequence[str],
    times: Sequence[float],
    positions: Sequence[Sequence[float]],
    stamp: float,
    now: float,
    current: Sequence[float],
) -> Trajectory:
    """Validate a received trajectory and return it in `controller_joints` order.

    `joint_names`, `times` (time_from_start of each point, s) and `positions` (one list per point)
    are the message's; `stamp` is header.stamp in seconds (0 → now); `current` (n,) is the
    controller joints' state now. Raises `TrajectoryError` naming the problem.
    """
    controller_joints = tuple(controller_joints)
    names = list(joint_names)
    if not names:
        raise TrajectoryError("trajectory has no joint names")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise TrajectoryError(f"duplicate joint names {dup}")
    unknown = [n for n in names if n not in controller_joints]
    if unknown:
        raise TrajectoryError(f"unknown joints {unknown}; this controller has {list(controller_joints)}")
    missing = [n for n in controller_joints if n not in names]
    if missing:
        raise TrajectoryError(f"joints {missing} missing (partial goals are not allowed)")
    if len(times) == 0:
        raise TrajectoryError("trajectory has no points")
    if len(positions) != len(times):
        raise TrajectoryError(f"{len(positions)} position lists for {len(times)} points")
    for i, p in enumerate(positions):
        if len(p) != len(names):
            raise TrajectoryError(f"point {i} has {len(p)} positions for {len(names)} joints")
    pos = np.asarray(positions, dtype=np.float64).reshape(len(times), len(names))
    t = np.asarray(times, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise TrajectoryError(f"non-finite time_from_start in {t.tolist()}")
    bad = np.argwhere(~np.isfinite(pos))
    if bad.size:
        i, j = bad[0]
        raise TrajectoryError(f"point {i} joint {names[j]!r} has non-finite position {pos[i, j]}")
    if t[0] < 0:
        raise TrajectoryError(f"point 0 has negative time_from_start {t[0]}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise TrajectoryError(f"time_from_start must strictly increase: point {i} at {t[i]} s "
                              f"after point {i - 1} at {t[i - 1]} s")
    start = now if stamp == 0 else float(stamp)
    if start + t[-1] < now:
        raise TrajectoryError(f"trajectory ends {now - (start + t[-1]):.3f} s in the past")
    order = [names.index(n) for n in controller_joints]
    current = np.asarray(current, dtype=np.float64)
    if current.shape != (len(controller_joints),):
        raise ValueError(f"current state has shape {current.shape}, expected ({len(controller_joints)},)")
    return Trajectory(controller_joints, start, t, pos[:, order], now, current.copy())
