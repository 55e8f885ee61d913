"""`Pi0Policy`: a `BasePolicy` that runs a π0 checkpoint in this process.

One ``infer`` call, stage by stage (each timed in ``out["timing"]``, seconds):

- ``preprocess``: images resized with padding and scaled to [-1, 1] (missing cameras masked),
  the prompt tokenised, the state z-scored with the checkpoint's statistics and zero-padded to
  the model's ``max_state_dim``;
- ``observation_forward``: one forward over image + prompt + state tokens (the key/value cache);
- ``action_steps``: the Euler steps of flow matching over the action tokens;
- ``postprocess``: the padding dropped, the actions un-normalised.

Observation (model space): ``{"images": {key: image}, "state": float[state_dim], "prompt": str,
"noise": float[horizon, max_action_dim] (optional), "rtc": real-time chunking guidance (optional,
`pi0_policy.policy.rtc.RtcGuide.as_obs`)}``; images as in `pi0_policy.policy.images`.
Any other key, a missing key, a state of the wrong size or with NaN/inf, a noise of the wrong
shape: ``ValueError`` naming it. Output: ``{"actions": float32[horizon, action_dim], "timing"}``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from pi0_policy.policy.base import BasePolicy
from pi0_policy.policy.checkpoint import CheckpointInfo
from pi0_policy.policy.loading import load_checkpoint
from pi0_policy.policy.images import prepare_images
from pi0_policy.policy.profiles import checkpoint_profile
from pi0_policy.policy.normalize import normalize, unnormalize
from pi0_policy.policy.runtime import COMPILE_MODES, RuntimeChoice, apply_threads, count_parameters, decide
from pi0_policy.policy.tokenizer import PromptTokenizer

OBSERVATION_KEYS = ("images", "state", "prompt", "noise", "rtc")
REQUIRED_KEYS = ("images", "state", "prompt")
STAGES = ("preprocess", "observation_forward", "action_steps", "postprocess")


class Pi0Policy(BasePolicy):
    """π0 over a loaded model, its checkpoint info and tokenizer (see the module doc)."""

    def __init__(self, model, info: CheckpointInfo, tokenizer: PromptTokenizer, num_steps: int | None = None,
                 runtime: RuntimeChoice | None = None):
        self.model = model.eval()
        self.runtime = runtime  # the dtype/thread choice made at load (None: the caller's model)
        self.info = info
        self.tokenizer = tokenizer
        self.num_steps = int(num_steps) if num_steps is not None else info.config.num_steps
        self.profile = checkpoint_profile(info.path)  # convention profile: image resize, default prompt
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps!r}")

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "cpu",
        dtype: str = "auto",
        num_steps: int | None = None,
        tokenizer: str | Path | None = None,
        norm_stats: str | Path | Mapping | None = None,
        num_threads: int = 0,
        compile: str = "none",
        pack: bool | None = None,
    ) -> "Pi0Policy":
        """Load a checkpoint directory onto ``device`` (see `pi0_policy.policy.loading.load_checkpoint`:
        the project's format, or a LeRobot/openpi directory with ``tokenizer``/``norm_stats`` as needed).
        ``num_steps`` None: the checkpoint's own (its config's; LeRobot's ``num_inference_steps``).

        ``dtype`` "auto" and ``num_threads`` 0 are chosen for this machine and the checkpoint's size by
        `pi0_policy.policy.runtime` (the choice is kept in ``policy.runtime``); torch's thread count
        is set for the process. ``compile`` "steps" or "all": `Pi0Model.compile_denoise` (the Euler
        steps, or the whole chunk, as compiled graphs; CUDA graphs on a GPU); compiled at the first
        inference. ``pack``: the linear weights packed for oneDNN (`Pi0Model.pack_weights`, the fast
        CPU path); None (auto): as `pi0_policy.policy.runtime.choose_packing` decides."""
        if compile not in COMPILE_MODES:
            raise ValueError(f"compile={compile!r}: choose none, steps or all")
        runtime = decide(dtype, num_threads, device, count_parameters(path), compile=compile)
        if pack is not None and pack != runtime.pack:
            runtime = dataclasses.replace(runtime, pack=bool(pack), reason=f"{runtime.reason} (packing set: {pack})")
        apply_threads(runtime.num_threads)
        model, info, tok = load_checkpoint(
            path, device=device, dtype=runtime.dtype, tokenizer=tokenizer, norm_stats=norm_stats
        )
        if compile != "none":
            model.compile_denoise(observation=compile == "all")
        if runtime.pack:
            model.pack_weights()
        return cls(model, info, tok, num_steps=num_steps, runtime=runtime)

    @property
    def metadata(self) -> dict[str, Any]:
        cfg = self.info.config
        return {
            "state_dim": self.info.state_dim,
            "action_dim": self.info.action_dim,
            "horizon": cfg.action_horizon,
            "image_keys": list(self.info.image_keys),
            "config": cfg.name,
            "max_action_dim": cfg.max_action_dim,
            "num_steps": self.num_steps,
            "checkpoint": str(self.info.path),
            "profile": self.profile.name,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "num_threads": torch.get_num_threads(),
            "compile": self.model.compiled,
            "packed_weights": self.model.packed,
        }

    # ------------------------------------------------------------------ stages
    def _check_keys(self, obs: Mapping) -> None:
        if not isinstance(obs, Mapping):
            raise ValueError(f"observation must be a dict, got {type(obs).__name__}")
        unknown = sorted(set(obs) - set(OBSERVATION_KEYS))
        missing = [key for key in REQUIRED_KEYS if key not in obs]
        if unknown or missing:
            raise ValueError(
                f"observation keys: missing {missing}, unknown {unknown}; expected {list(OBSERVATION_KEYS)} "
                "('noise' and 'rtc' optional)"
            )

    def _state(self, value) -> np.ndarray:
        state = np.asarray(value, dtype=np.float32)
        if state.shape != (self.info.state_dim,):
            raise ValueError(f"state has shape {state.shape}, expected ({self.info.state_dim},)")
        if not np.isfinite(state).all():
            raise ValueError(f"state contains NaN or inf: {state.tolist()}")
        normed = normalize(state, self.info.norm_stats["state"], self.info.norm_eps)
        padded = np.zeros(self.info.config.max_state_dim, dtype=np.float32)
        padded[: self.info.state_dim] = normed
        return padded

    def _noise(self, value) -> np.ndarray | None:
        if value is None:
            return None
        cfg = self.info.config
        noise = np.array(value, dtype=np.float32)  # a copy: torch needs a writable array
        shape = (cfg.action_horizon, cfg.max_action_dim)
        if noise.shape != shape:
            raise ValueError(f"noise has shape {noise.shape}, expected {shape} (horizon, max_action_dim)")
        if not np.isfinite(noise).all():
            raise ValueError("noise contains NaN or inf")
        return noise

    def preprocess(self, obs: Mapping) -> dict[str, torch.Tensor | None]:
        """The observation as batched model tensors (batch of 1) on the model's device."""
        self._check_keys(obs)
        if not isinstance(obs["images"], Mapping):
            raise ValueError(
                f"observation 'images' must be a dict of key → image, got {type(obs['images']).__name__}"
            )
        images, image_masks = prepare_images(
            obs["images"], self.info.image_keys, self.info.config.vision.image_size, self.profile.image_resize
        )
        tokens, token_masks = self.tokenizer.encode(obs["prompt"] or self.profile.default_prompt or "")
        state = self._state(obs["state"])
        noise = self._noise(obs.get("noise"))
        device, dtype = self.model.device, self.model.dtype
        return {
            "images": torch.from_numpy(images)[None].to(device, dtype),
            "image_masks": torch.from_numpy(image_masks)[None].to(device),
            "tokens": torch.from_numpy(tokens)[None].to(device),
            "token_masks": torch.from_numpy(token_masks)[None].to(device),
            "state": torch.from_numpy(state)[None].to(device, dtype),
            "noise": None if noise is None else torch.from_numpy(noise)[None].to(device),
        }

    def postprocess(self, actions: torch.Tensor) -> np.ndarray:
        """Float[1, H, max_action_dim] normalised → float32[H, action_dim] un-normalised."""
        normed = actions[0, :, : self.info.action_dim].float().cpu().numpy()
        return unnormalize(normed, self.info.norm_stats["actions"], self.info.norm_eps)

    def _sync(self) -> None:
        if self.model.device.type == "cuda":
            torch.cuda.synchronize(self.model.device)

    def infer(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """See the module doc. Same observation and noise → identical actions."""
        timing = {}
        start = time.perf_counter()
        inputs = self.preprocess(obs)
        noise = inputs.pop("noise")
        guide = self._guidance(obs["rtc"]) if obs.get("rtc") is not None else None
        self._sync()
        timing["preprocess"] = time.perf_counter() - start
        # guided sampling (real-time chunking) takes gradients through the cache: no_grad there
        with torch.inference_mode() if guide is None else torch.no_grad():
            start = time.perf_counter()
            cache = self.model.encode_observation(**inputs)
            self._sync()
            timing["observation_forward"] = time.perf_counter() - start
            start = time.perf_counter()
            if guide is None:
                actions = self.model.denoise(cache, noise, self.num_steps)
            else:
                from pi0_policy.model.guided import guided_denoise

                actions = guided_denoise(self.model, cache, *guide, noise, self.num_steps)
            self._sync()
            timing["action_steps"] = time.perf_counter() - start
        start = time.perf_counter()
        out = self.postprocess(actions)
        timing["postprocess"] = time.perf_counter() - start
        return {"actions": out, "timing": timing}

    supports_rtc = True  # infer accepts obs["rtc"] (the node's execution_mode rtc needs it)

    def _guidance(self, rtc: Mapping) -> tuple[torch.Tensor, torch.Tensor, float]:
        """obs["rtc"] → normalised, padded target and weights Float[1, H, max_action_dim], and β."""
        cfg, dim = self.info.config, self.info.action_dim
        actions = np.asarray(rtc["actions"], dtype=np.float32)
        weights = np.asarray(rtc["weights"], dtype=np.float32)
        if weights.shape == (cfg.action_horizon,):
            weights = np.repeat(weights[:, None], dim, axis=1)
        if actions.shape != (cfg.action_horizon, dim) or weights.shape != actions.shape:
            raise ValueError(f"rtc actions {actions.shape} and weights {weights.shape} must have shapes "
                             f"{(cfg.action_horizon, dim)} and ({cfg.action_horizon},) or the same")
        if not (np.isfinite(actions).all() and np.isfinite(weights).all()):
            raise ValueError("rtc actions or weights contain NaN or inf")
        target = np.zeros((cfg.action_horizon, cfg.max_action_dim), np.float32)
        target[:, :dim] = normalize(actions, self.info.norm_stats["actions"], self.info.norm_eps)
        mask = np.zeros_like(target)
        mask[:, :dim] = weights
        device = self.model.device
        return (torch.from_numpy(target)[None].to(device), torch.from_numpy(mask)[None].to(device),
                float(rtc.get("max_guidance", 5.0)))

    def warmup(self) -> dict[str, float]:
        """One inference on blank images and the mean state (first calls are slow); returns its timing."""
        size = 16
        obs = {
            "images": {key: np.zeros((size, size, 3), np.uint8) for key in self.info.image_keys},
            "state": self.info.norm_stats["state"].mean[: self.info.state_dim],
            "prompt": "",
        }
        return self.infer(obs)["timing"]
