"""Chunk scheduling: when each action of a chunk runs, and how chunks are joined. Pure functions.

Axis letters: H = actions in a chunk (horizon), D = action dimensions, N = kept actions.

Timing convention (the one the node, the ActionChunk message and the tests share):
    A chunk is computed from an observation taken at ``obs_time``. Action ``k`` (0-based) is the
    target for time ``obs_time + (k + 1) * dt``: action 0 is the first command after the
    observation, reached one control period later (as a recorded action at step t is the target
    that the robot reaches at step t + 1).

    While the model runs, time passes. When the chunk is ready at ``now``, the actions whose
    target time is not strictly after ``now`` are already late and are dropped; the chunk then
    starts at ``start = obs_time + first * dt`` (``first`` = index of the first kept action), which
    lies in ``(now - dt, now]``. Kept action ``first + j`` gets ``time_from_start = (j + 1) * dt``,
    so the trajectory begins at the robot's present and every point lies in the future.

    Publishing and delivery take time too: ``lead`` (seconds, e.g. one control period) drops
    the actions whose target time is within ``lead`` of ``now`` as well, so that every point of
    a published trajectory still lies in the future when it reaches the controller (a
    trajectory that ends in the past is rejected, and one that starts in the past jumps).

`plan_chunk` is the node's whole planning step after inference, as one pure function: schedule,
optional temporal ensembling with earlier chunks, velocity cap from the measured position, clamp.

Times are float seconds on one clock (the node uses its ROS clock).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

# Float slack when comparing times computed from sums of dt (1 µs, far below any control period).
TIME_EPS = 1e-6


@dataclass(frozen=True)
class ScheduledChunk:
    """The part of a chunk that is still in the future, ready to publish.

    - ``start``: trajectory start time (header stamp), ``obs_time + first * dt``.
    - ``first``: index in the original chunk of the first kept action.
    - ``actions``: ``Float[N, D]`` the kept actions, in order.
    - ``times_from_start``: ``Float[N]`` seconds, ``(1, 2, ..., N) * dt``.
    - ``dt``: seconds between actions.
    """

    start: float
    first: int
    actions: np.ndarray
    times_from_start: np.ndarray
    dt: float

    @property
    def end(self) -> float:
        """Time of the last kept action (``start`` if none is kept)."""
        return self.start + (float(self.times_from_start[-1]) if len(self.actions) else 0.0)

    def target_times(self) -> np.ndarray:
        """Absolute target time of each kept action."""
        return self.start + self.times_from_start


def first_future_index(obs_time: float, now: float, dt: float) -> int:
    """Index of the first action whose target time ``obs_time + (k + 1) * dt`` is after ``now``.

    ``now <= obs_time`` gives 0 (nothing has passed). ``dt`` must be positive.
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0 s, got {dt!r}")
    elapsed = now - obs_time
    if elapsed <= 0:
        return 0
    # Action k is late iff obs_time + (k + 1) dt <= now, i.e. k <= elapsed / dt - 1.
    return max(0, int(math.floor(elapsed / dt + TIME_EPS)))


def schedule_chunk(actions: np.ndarray, obs_time: float, now: float, dt: float,
                   max_actions: int | None = None, lead: float = 0.0) -> ScheduledChunk:
    """Drop the actions that passed while the model ran and stamp the rest (see module docstring).

    ``actions`` is ``Float[H, D]``. ``max_actions`` (optional) keeps at most that many actions
    after dropping (e.g. the replan interval plus some overlap). If every action has passed, the
    result has no actions (``N = 0``): the caller must then hold rather than publish. ``lead``
    (>= 0 s) also drops the actions due within ``lead`` of ``now`` (publish and delivery time).
    """
    actions = np.asarray(actions)
    if actions.ndim != 2:
        raise ValueError(f"actions must be 2-D (H, D), got shape {actions.shape}")
    if not lead >= 0:
        raise ValueError(f"lead must be >= 0 s, got {lead!r}")
    first = min(first_future_index(obs_time, now + lead, dt), len(actions))
    kept = actions[first:]
    if max_actions is not None:
        if max_actions < 1:
            raise ValueError(f"max_actions must be >= 1, got {max_actions}")
        kept = kept[:max_actions]
    times = dt * np.arange(1, len(kept) + 1, dtype=np.float64)
    return ScheduledChunk(start=obs_time + first * dt, first=first, actions=kept.copy(),
                          times_from_start=times, dt=dt)


def cap_step_velocity(current: np.ndarray, targets: np.ndarray, max_velocity: np.ndarray,
                      dt: float) -> np.ndarray:
    """Limit each step of a position sequence to ``max_velocity * dt``, starting from ``current``.

    ``current`` ``Float[D]``, ``targets`` ``Float[N, D]``, ``max_velocity`` ``Float[D]`` (> 0;
    ``inf`` disables a dimension). Returns ``Float[N, D]`` where the first point is at most one
    step from ``current`` and each point at most one step from the previous one, so a chunk never
    jumps from the measured position. Points already within the limit are returned unchanged.
    """
    current = np.asarray(current, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    step = np.asarray(max_velocity, dtype=np.float64) * dt
    if np.any(~(step > 0)):
        raise ValueError(f"max_velocity must be > 0 in every dimension, got {max_velocity!r}")
    if len(targets):
        steps = np.diff(np.vstack([current, targets]), axis=0)
        if np.all(np.abs(steps) <= step):
            return targets.copy()  # already within the limit everywhere (the common case)
    out = np.empty_like(targets)
    previous = current
    for k, target in enumerate(targets):
        previous = previous + np.clip(target - previous, -step, step)
        out[k] = previous
    return out


def ensemble_weights(ages: np.ndarray, decay: float) -> np.ndarray:
    """ACT-style temporal-ensembling weights ``exp(-decay * age_rank)``, normalised to sum 1.

    ``ages`` is the rank of each contributing chunk, 0 for the oldest (ACT weights older
    predictions more: w_i = exp(-m * i) with i = 0 the oldest). ``decay`` >= 0; 0 = plain mean.
    """
    if decay < 0:
        raise ValueError(f"ensemble decay must be >= 0, got {decay}")
    w = np.exp(-decay * np.asarray(ages, dtype=np.float64))
    return w / w.sum()


def temporal_ensemble(chunks: list[ScheduledChunk], new: ScheduledChunk,
                      decay: float) -> ScheduledChunk:
    """Blend ``new`` with the still-future parts of earlier ``chunks`` (oldest first).

    For every target time of ``new``, each earlier chunk that has an action at that time (to
    within half a period) contributes; the weights are :func:`ensemble_weights` over the
    contributors ordered oldest → ``new``. Returns a chunk with ``new``'s timing and the blended
    actions. With no overlap (or ``chunks`` empty) the result equals ``new``. All chunks must
    share ``dt`` and ``D``.
    """
    if not len(new.actions):
        return new
    blended = np.empty_like(new.actions, dtype=np.float64)
    for j, t in enumerate(new.target_times()):
        samples = []
        for chunk in chunks:
            if chunk.dt != new.dt or chunk.actions.shape[1:] != new.actions.shape[1:]:
                raise ValueError("chunks to ensemble must share dt and action dimensions")
            k = int(round((t - chunk.start) / chunk.dt)) - 1
            if 0 <= k < len(chunk.actions) and abs(chunk.start + (k + 1) * chunk.dt - t) < chunk.dt / 2:
                samples.append(chunk.actions[k])
        samples.append(new.actions[j])
        w = ensemble_weights(np.arange(len(samples)), decay)
        blended[j] = np.tensordot(w, np.asarray(samples, dtype=np.float64), axes=1)
    return ScheduledChunk(start=new.start, first=new.first, actions=blended.astype(new.actions.dtype),
                          times_from_start=new.times_from_start, dt=new.dt)


def cap_chunk(chunk: ScheduledChunk, current: np.ndarray | None, joint_cols, max_velocity: np.ndarray,
              clamp: Callable[[np.ndarray], np.ndarray]) -> ScheduledChunk:
    """``chunk`` with its joint columns ``joint_cols`` velocity-capped from the measured
    ``current`` positions (`cap_step_velocity`; skipped when ``current`` is None), then every
    column passed through ``clamp`` (limits; a measured position may lie just outside one)."""
    actions = np.array(chunk.actions, dtype=np.float64)
    if current is not None and len(joint_cols):
        actions[:, joint_cols] = cap_step_velocity(current, actions[:, joint_cols], max_velocity, chunk.dt)
    return ScheduledChunk(start=chunk.start, first=chunk.first, actions=clamp(actions),
                          times_from_start=chunk.times_from_start, dt=chunk.dt)


@dataclass(frozen=True)
class PlanSettings:
    """What `plan_chunk` needs to know about the robot and the execution mode.

    ``joint_cols``: action columns that are joint positions (velocity-capped), with their
    ``max_velocity``; ``clamp``: robot actions ``Float[N, D]`` → the same within limits.
    ``mode``: "open_loop", "rtc" (planned as open_loop: the guidance happened in the sampler,
    `pi0_policy.policy.rtc`) or "temporal_ensemble" (``decay``, at most ``max_history`` earlier
    chunks blended). ``lead``: see `schedule_chunk`.
    """

    dt: float
    joint_cols: tuple[int, ...]
    max_velocity: np.ndarray
    clamp: Callable[[np.ndarray], np.ndarray]
    mode: str = "open_loop"
    decay: float = 0.01
    max_history: int = 8
    lead: float = 0.0


@dataclass(frozen=True)
class Plan:
    """The result of `plan_chunk`: the chunk to publish (None: hold, ``reason`` says why) and
    the raw chunks to remember for the next ensemble."""

    chunk: ScheduledChunk | None
    history: tuple[ScheduledChunk, ...]
    reason: str = ""


def plan_chunk(actions: np.ndarray, obs_time: float, now: float, current: np.ndarray | None,
               history: tuple[ScheduledChunk, ...], settings: PlanSettings) -> Plan:
    """Robot-space ``actions`` ``Float[H, D]`` from an observation at ``obs_time``, ready at
    ``now`` → the chunk to publish: late actions dropped (`schedule_chunk` with the lead),
    blended with ``history`` in temporal_ensemble mode, capped from the measured joint
    positions ``current`` (``Float[J]`` in ``joint_cols`` order) and clamped. Every action late
    → no chunk (hold)."""
    chunk = schedule_chunk(actions, obs_time, now, settings.dt, lead=settings.lead)
    if not len(chunk.actions):
        return Plan(None, (), f"inference took {now - obs_time:.2f} s, longer than the whole chunk")
    if settings.mode == "temporal_ensemble":
        # ACT: blend with the raw predictions of earlier chunks still covering the future
        kept = tuple(c for c in history if c.end > now)[-settings.max_history:]
        raw, chunk = chunk, temporal_ensemble(list(kept), chunk, settings.decay)
        history = kept + (raw,)
    else:
        history = ()
    chunk = cap_chunk(chunk, current, list(settings.joint_cols), settings.max_velocity, settings.clamp)
    return Plan(chunk, history)
