"""The node's side of real-time chunking (execution_mode rtc): from the executing chunk (robot
space, as published) to the policy's guidance input, and the measured delay that sets the frozen
prefix. The math is in `pi0_policy.policy.rtc` and `pi0_policy.model.guided`."""
from __future__ import annotations

import numpy as np

from pi0_policy.policy.rtc import DelayEstimator, RtcGuide, leftover_actions, soft_mask


class RealtimeChunking:
    """One per configured node. ``guide(chunk, obs_time, positions)`` → ``obs["rtc"]`` (None
    when no chunk executes or it has ended); ``measured(ready_after)`` after every chunk with
    the seconds from observation to the chunk being ready (plus the command lead)."""

    def __init__(self, adapter, dt: float, horizon: int, model_action_dim: int, max_guidance: float):
        self.adapter, self.horizon, self.max_guidance = adapter, int(horizon), float(max_guidance)
        self.model_action_dim = int(model_action_dim)
        self.delay = DelayEstimator(dt)

    def measured(self, ready_after: float) -> None:
        self.delay.update(ready_after)

    def guide(self, chunk, obs_time: float, positions: dict) -> dict | None:
        if chunk is None:
            return None
        robot, overlap = leftover_actions(chunk, obs_time, self.horizon)
        if overlap == 0:
            return None
        model = self.adapter.encode_actions(robot, positions)
        actions = np.zeros((self.horizon, self.model_action_dim), np.float32)
        actions[:, :model.shape[1]] = model
        weights = np.zeros_like(actions)
        weights[:, :model.shape[1]] = soft_mask(self.horizon, self.delay.steps, overlap)[:, None]
        return RtcGuide(actions, weights, self.max_guidance).as_obs()
