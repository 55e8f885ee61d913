"""The interface every policy backend offers to the ROS node: ``infer(obs) -> dict`` and ``reset()``.

The shape follows openpi-client's ``BasePolicy``, so that a remote backend (a websocket client)
is just another implementation. Observations and actions are in model space (see
`pi0_policy.policy.adapters` for the robot ↔ model mapping):

    obs = {
        "images": {"base_0_rgb": uint8[H, W, 3], ...},   # model image keys; missing ones are masked
        "state": float32[state_dim],                       # un-normalised, unpadded
        "prompt": "fold the towel",
        "noise": float32[horizon, max_action_dim],         # optional, for reproducible sampling
    }
    out = policy.infer(obs)
    out["actions"]   # float32[horizon, action_dim], un-normalised
    out["timing"]    # seconds per stage, {"preprocess", "observation_forward", "action_steps", "postprocess"}
"""

from __future__ import annotations

import abc
from typing import Any, Mapping


class BasePolicy(abc.ABC):
    """A policy: model-space observation in, a chunk of model-space actions out."""

    @abc.abstractmethod
    def infer(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the policy on one observation; returns at least ``{"actions", "timing"}``.

        Bad input (a wrong state size, an unknown camera key, an image of the wrong type)
        raises ``ValueError`` naming the offending key and value; it never returns actions.
        """

    def reset(self) -> None:  # noqa: B027 (a no-op default, not abstract)
        """Forget any state kept between calls (none for π0, which is memoryless)."""

    @property
    @abc.abstractmethod
    def metadata(self) -> dict[str, Any]:
        """``{"state_dim", "action_dim", "horizon", "image_keys", "config"}``."""
