"""A torch Dataset of model-ready π0 training samples from a LeRobot v3 dataset on disk.

One sample per frame ``i`` of episode ``e`` (tensors, no batch axis)::

    images       float32[n_cam, 3, S, S] in [-1, 1]   (`pi0_policy.policy.images`; absent camera: -1)
    image_masks  bool[n_cam]
    tokens       int64[L], token_masks bool[L]         (the episode's instruction)
    state        float32[max_state_dim]                normalised, zero-padded
    actions      float32[H, max_action_dim]            frames i … i+H-1, normalised, zero-padded
    action_pad_mask bool[H]                            False past the episode's end (last action repeated)

Space: datasets written by `pi0 dataset convert` hold model-space absolute values
(``info.json: "pi0_space": "model"``). Other LeRobot datasets hold robot-space values; with an
embodiment adapter they are encoded (sign flips, grippers) on load. Delta dimensions of the
adapter are made relative to the sample's state for the whole chunk (openpi's DeltaActions).

Cameras: ``observation.images.<role>`` maps to the model slot the adapter gives that role;
``camera_map`` (video key or its suffix → model key) overrides it, e.g. ``{"cam_high": "base_0_rgb"}``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pi0_policy.data.episodes import state_index
from pi0_policy.data.lerobot import IMAGE_PREFIX, LeRobotEpisodes, read_dataset
from pi0_policy.data.stats import norm_stats as compute_norm_stats
from pi0_policy.policy.images import prepare_image
from pi0_policy.policy.normalize import normalize


def _to_model_space(data: LeRobotEpisodes, adapter) -> tuple[np.ndarray, np.ndarray]:
    if data.info.get("pi0_space") == "model" or adapter is None:
        return data.state, data.action
    from pi0_policy.data.episodes import _absolute_model_actions

    state, action = np.empty_like(data.state), np.empty_like(data.action)
    for i, (s, a) in enumerate(zip(data.state, data.action)):
        positions = dict(zip(adapter.state_names, s.astype(np.float64)))
        state[i] = adapter.encode_state(s)
        action[i] = _absolute_model_actions(adapter, a.astype(np.float64), positions)
    return state, action


def chunk_index(bounds, n: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each frame's action chunk int[n, H] (the episode's last row repeated past its end)
    and their validity bool[n, H], from episode row ranges ``{episode: (from, to)}``."""
    ends = np.empty(n, int)
    for lo, hi in bounds.values():
        ends[lo:hi] = hi
    steps = np.arange(n)[:, None] + np.arange(horizon)[None]
    return np.minimum(steps, ends[:, None] - 1), steps < ends[:, None]


def action_chunks(state, action, chunk_rows, rows, delta_mask, delta_state) -> np.ndarray:
    """Model-space action chunks float32[len(rows), H, a], delta dims relative to the row's state."""
    chunks = action[chunk_rows[rows]].astype(np.float32)
    if delta_mask.any():
        chunks[:, :, delta_mask] -= state[rows][:, delta_state[delta_mask]][:, None, :]
    return chunks


def delta_dims(adapter, action_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool[a] delta mask, int[a] state index per action dim) of an adapter (none without one)."""
    if adapter is None or not adapter.delta_mask.any():
        return np.zeros(action_dim, bool), np.zeros(action_dim, int)
    return adapter.delta_mask, state_index(adapter)


def dataset_norm_stats(state, action, bounds, horizon: int, adapter=None):
    """openpi norm stats of states and of the (delta-transformed) action chunks of every frame."""
    chunk_rows, valid = chunk_index(bounds, len(state), horizon)
    mask, index = delta_dims(adapter, action.shape[1])
    chunks = action_chunks(state, action, chunk_rows, np.arange(len(state)), mask, index)
    return compute_norm_stats(state, chunks, valid)


class Pi0Dataset(torch.utils.data.Dataset):
    """See the module doc. ``stats``: openpi `NormStats` by "state"/"actions"; computed from this
    dataset when None (`self.norm_stats`)."""

    def __init__(self, root: str | Path | LeRobotEpisodes, config, tokenizer, image_keys, adapter=None,
                 stats=None, camera_map: dict[str, str] | None = None, norm_eps: float = 1e-6):
        self.data = root if isinstance(root, LeRobotEpisodes) else read_dataset(root)
        self.config, self.tokenizer, self.image_keys = config, tokenizer, tuple(image_keys)
        self.horizon = config.action_horizon
        self.norm_eps = norm_eps
        self.state, self.action = _to_model_space(self.data, adapter)
        if self.state.shape[1] > config.max_state_dim or self.action.shape[1] > config.max_action_dim:
            raise ValueError(f"{self.data.root}: state/action dims {self.state.shape[1]}/{self.action.shape[1]} "
                             f"exceed the model's {config.max_state_dim}/{config.max_action_dim}")
        self.delta_mask, self.delta_state = delta_dims(adapter, self.action.shape[1])
        self.cameras = self._camera_slots(adapter, camera_map or {})
        self.chunk_rows, self.valid = chunk_index(self.data.bounds, len(self.data), self.horizon)
        rows = np.arange(len(self.data))
        self.norm_stats = stats or compute_norm_stats(self.state, self._chunks(rows), self.valid)
        self._tokens = {}

    def _camera_slots(self, adapter, camera_map) -> dict[str, str]:
        """Model key → video key."""
        slots = {}
        for key in self.data.video_keys:
            suffix = key[len(IMAGE_PREFIX):] if key.startswith(IMAGE_PREFIX) else key
            model_key = camera_map.get(key) or camera_map.get(suffix)
            if model_key is None and adapter is not None:
                model_key = adapter.camera_keys.get(suffix)
            if model_key is None and suffix in self.image_keys:
                model_key = suffix
            if model_key is None:
                continue
            if model_key not in self.image_keys:
                raise ValueError(f"camera {key!r} maps to {model_key!r}, not one of the model's image keys "
                                 f"{list(self.image_keys)}")
            slots[model_key] = key
        if not slots:
            raise ValueError(f"{self.data.root}: no camera of {self.data.video_keys} maps to the model's "
                             f"image keys {list(self.image_keys)}; give a camera map")
        return slots

    def _chunks(self, rows) -> np.ndarray:
        return action_chunks(self.state, self.action, self.chunk_rows, rows, self.delta_mask, self.delta_state)

    def __len__(self) -> int:
        return len(self.data)

    def tokens(self, text: str):
        if text not in self._tokens:
            self._tokens[text] = self.tokenizer.encode(text)
        return self._tokens[text]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        cfg, size = self.config, self.config.vision.image_size
        images = np.full((len(self.image_keys), 3, size, size), -1.0, np.float32)
        masks = np.zeros(len(self.image_keys), bool)
        for slot, key in enumerate(self.image_keys):
            if key in self.cameras:
                images[slot] = prepare_image(self.data.frames[self.cameras[key]][i], size, key)
                masks[slot] = True
        tokens, token_masks = self.tokens(self.data.task[i])
        state = np.zeros(cfg.max_state_dim, np.float32)
        state[: self.state.shape[1]] = normalize(self.state[i], self.norm_stats["state"], self.norm_eps)
        actions = np.zeros((self.horizon, cfg.max_action_dim), np.float32)
        actions[:, : self.action.shape[1]] = normalize(self._chunks(np.array([i]))[0],
                                                      self.norm_stats["actions"], self.norm_eps)
        return {"images": torch.from_numpy(images), "image_masks": torch.from_numpy(masks),
                "tokens": torch.from_numpy(tokens), "token_masks": torch.from_numpy(token_masks),
                "state": torch.from_numpy(state), "actions": torch.from_numpy(actions),
                "action_pad_mask": torch.from_numpy(self.valid[i].copy())}
