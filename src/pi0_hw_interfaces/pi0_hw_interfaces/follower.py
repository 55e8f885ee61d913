"""Pure state machines that the sim robot and the bridges step at their control rate.

- `GroupFollower`: one joint_trajectory controller's joints following `Trajectory`s through the
  safety layer (targets clamped to the limits, each step capped by the joint velocity limits).
- `BaseIntegrator`: a mobile base integrating velocity commands into a planar pose, with stale
  commands treated as zero.

No ROS here: times are seconds, positions numpy arrays.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from . import safety
from .trajectory import Trajectory, make_trajectory


class GroupFollower:
    """Joints of one controller: `positions` (the state), the running `trajectory` (or None).

    `accept(...)` validates a trajectory (raising `TrajectoryError`, state unchanged) and makes it
    the running one at once; `step(now)` moves `positions` towards `trajectory.sample(now)` and
    returns them. Without a trajectory the joints hold.
    """

    def __init__(self, name: str, limits: safety.JointLimits, positions: Sequence[float]):
        self.name = name
        self.limits = limits
        self.positions = safety.clamp_positions(positions, limits)
        self.velocities = np.zeros(len(limits.names))
        self.trajectory: Trajectory | None = None
        self._last_step: float | None = None

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.limits.names

    def accept(self, joint_names, times, positions, stamp: float, now: float) -> Trajectory:
        self.trajectory = make_trajectory(self.limits.names, joint_names, times, positions, stamp, now,
                                          self.positions)
        return self.trajectory

    def reset(self, positions: Sequence[float]) -> None:
        """Put the joints at `positions` (clamped) at rest, dropping any trajectory (a sim reset)."""
        self.positions = safety.clamp_positions(positions, self.limits)
        self.velocities = np.zeros(len(self.limits.names))
        self.trajectory = None

    def target(self, now: float) -> np.ndarray:
        """The clamped desired positions at `now` (the held state without a trajectory)."""
        if self.trajectory is None:
            return self.positions.copy()
        return safety.clamp_positions(self.trajectory.sample(now), self.limits)

    def step(self, now: float) -> np.ndarray:
        """Advance to `now`: velocity-capped move towards the target; returns the new positions."""
        dt = 0.0 if self._last_step is None else now - self._last_step
        self._last_step = now
        new = safety.cap_step(self.target(now), self.positions, self.limits, dt)
        self.velocities = (new - self.positions) / dt if dt > 0 else np.zeros_like(new)
        self.positions = new
        if self.trajectory is not None and self.trajectory.done(now) and np.allclose(
                self.positions, self.trajectory.positions[-1]):
            self.trajectory = None
        return new


class BaseIntegrator:
    """A planar base pose (x, y, yaw in the odom frame) integrating body-frame velocity commands.

    `command(values, now)` stores a command (one value per `base.axes`); `step(now)` applies it
    for the elapsed time if it is fresh (zero when stale), capped by the base's limits.
    `velocity` is the body-frame (vx, vy, wz) applied in the last step.
    """

    def __init__(self, base):
        self.base = base
        self.pose = np.zeros(3)
        self.velocity = np.zeros(3)
        self._command: np.ndarray | None = None
        self._command_time: float | None = None
        self._last_step: float | None = None

    def command(self, values: Sequence[float], now: float):
        self._command = safety.cap_base_velocity(values, self.base.axes, self.base.max_linear,
                                                 self.base.max_angular)
        self._command_time = now

    def reset(self) -> None:
        """Back to the origin at rest, forgetting the last command (a sim reset)."""
        self.pose, self.velocity = np.zeros(3), np.zeros(3)
        self._command = self._command_time = None

    def stale(self, now: float) -> bool:
        return safety.is_stale(self._command_time, now, self.base.command_timeout)

    def step(self, now: float) -> np.ndarray:
        dt = 0.0 if self._last_step is None else max(now - self._last_step, 0.0)
        self._last_step = now
        cmd = safety.safe_base_command(self._command, self._command_time, now, self.base)
        axes = dict(zip(self.base.axes, cmd))
        vx, vy, wz = axes.get("base_x", 0.0), axes.get("base_y", 0.0), axes.get("base_yaw", 0.0)
        x, y, yaw = self.pose
        # Midpoint heading: exact for constant velocity over small steps to second order.
        mid = yaw + 0.5 * wz * dt
        x += (vx * math.cos(mid) - vy * math.sin(mid)) * dt
        y += (vx * math.sin(mid) + vy * math.cos(mid)) * dt
        yaw = math.atan2(math.sin(yaw + wz * dt), math.cos(yaw + wz * dt))
        self.pose = np.array([x, y, yaw])
        self.velocity = np.array([vx, vy, wz])
        return self.pose
