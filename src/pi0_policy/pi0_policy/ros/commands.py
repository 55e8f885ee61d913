"""Robot command and report messages built from a scheduled chunk (see policy/chunking.py)."""
from __future__ import annotations

import array
import functools

import numpy as np

from pi0_hw_interfaces.ros_time import sec_to_duration, sec_to_time

from pi0_policy.policy.chunking import ScheduledChunk

_TWIST_AXES = {"base_x": ("linear", "x"), "base_y": ("linear", "y"), "base_yaw": ("angular", "z")}


def _unchecked(msg_class) -> dict:
    """Constructor kwargs that skip rosidl's per-element Python field checks (Jazzy's
    ``check_fields``; absent in older generators), for messages built here from arrays that are
    already validated: a 50-point trajectory is otherwise ~1 ms of Python per controller."""
    return {"check_fields": False} if "_check_fields" in getattr(msg_class, "__slots__", ()) else {}


@functools.lru_cache(maxsize=64)
def _durations(dt: float, n: int) -> tuple:
    """``(1, ..., n) * dt`` as Duration messages (the same for every chunk: built once)."""
    return tuple(sec_to_duration((k + 1) * dt) for k in range(n))


def joint_trajectory(joints, action_names, chunk: ScheduledChunk):
    """JointTrajectory for ``joints`` (a controller's joints, in its order) from ``chunk``.

    ``header.stamp`` = ``chunk.start``; point j holds the positions of kept action j at
    ``time_from_start = (j + 1) * dt``. Positions only (JTC interpolates between them).
    """
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    cols = [action_names.index(j) for j in joints]
    msg = JointTrajectory()
    msg.header.stamp = sec_to_time(chunk.start)
    msg.joint_names = list(joints)
    fast = _unchecked(JointTrajectoryPoint)
    rows = np.ascontiguousarray(chunk.actions[:, cols], dtype=np.float64)
    msg.points = [JointTrajectoryPoint(positions=array.array("d", row.tobytes()), time_from_start=t, **fast)
                  for row, t in zip(rows, _durations(chunk.dt, len(rows)))]
    return msg


def hold_trajectory(joints, positions: dict, dt: float, limits: dict | None = None):
    """One-point JointTrajectory to the measured ``positions`` of ``joints``, reached ``dt`` after
    receipt (header stamp zero = start now): replaces a running chunk so the robot stops where
    it is. ``limits`` ``{joint: (lower, upper)}``: each position is clamped into them, so a hold
    never commands outside a limit, whatever was measured. None if a joint's position is unknown
    or not finite (the controller then holds at the end of the last trajectory)."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    if any(j not in positions or not np.isfinite(positions[j]) for j in joints):
        return None
    limits = limits or {}
    target = [float(np.clip(positions[j], *limits.get(j, (-np.inf, np.inf)))) for j in joints]
    msg = JointTrajectory()
    msg.joint_names = list(joints)
    msg.points = [JointTrajectoryPoint(positions=target, time_from_start=sec_to_duration(dt))]
    return msg


def twist(velocities: dict, stamped: bool, stamp: float, frame_id: str = "base_link"):
    """Twist (or TwistStamped) from ``{"base_x": v, "base_y": v, "base_yaw": w}`` (missing = 0)."""
    from geometry_msgs.msg import Twist, TwistStamped

    msg = Twist()
    for axis, value in velocities.items():
        part, coord = _TWIST_AXES[axis]
        setattr(getattr(msg, part), coord, float(value))
    if not stamped:
        return msg
    out = TwistStamped()
    out.header.stamp = sec_to_time(stamp)
    out.header.frame_id = frame_id
    out.twist = msg
    return out


def base_velocity_at(chunk: ScheduledChunk | None, base_cols: dict, now: float) -> dict:
    """Base velocities to command at ``now``: action j covers ``[start + j*dt, start + (j+1)*dt)``;
    outside the chunk (or with no chunk) every axis is 0."""
    if chunk is None or not base_cols or not len(chunk.actions):
        return {axis: 0.0 for axis in base_cols}
    j = int(np.floor((now - chunk.start) / chunk.dt))
    if j < 0 or j >= len(chunk.actions):
        return {axis: 0.0 for axis in base_cols}
    return {axis: float(chunk.actions[j, col]) for axis, col in base_cols.items()}


def action_chunk(chunk: ScheduledChunk, *, embodiment: str, action_names, obs_time: float, sequence: int,
                 instruction: str, inference_latency: float, latency: dict | None = None):
    """pi0_msgs/ActionChunk of the kept actions: ``start`` = the trajectories' header stamp
    (kept action k is reached at ``start + (k + 1) * dt``); ``header.stamp`` = observation time;
    ``latency``: seconds by LatencyBreakdown field (missing ones 0)."""
    from pi0_msgs.msg import ActionChunk, LatencyBreakdown

    from pi0_policy.ros.status import LATENCY_FIELDS

    msg = ActionChunk()
    msg.header.stamp = sec_to_time(obs_time)
    msg.embodiment = embodiment
    msg.action_names = list(action_names)
    msg.horizon = len(chunk.actions)
    msg.action_dim = len(action_names)
    msg.actions = array.array("f", np.ascontiguousarray(chunk.actions, dtype=np.float32).tobytes())
    msg.dt = sec_to_duration(chunk.dt)
    msg.start = sec_to_time(chunk.start)
    msg.sequence = sequence
    msg.instruction = instruction
    msg.inference_latency = sec_to_duration(max(0.0, inference_latency))
    msg.latency = LatencyBreakdown(**{k: float((latency or {}).get(k, 0.0)) for k in LATENCY_FIELDS})
    return msg
