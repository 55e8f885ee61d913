"""All the Euler steps of `Pi0Model.denoise` as one compiled graph: the GPU fast path.

`CompiledDenoise(model)` wraps a pure function of tensors (the cache's filled slots, the step mask
and RoPE, the noise; the number of steps a constant) in ``torch.compile(fullgraph=True,
dynamic=False)``. Inside: static shapes (the config's horizon; a new cache length recompiles
once), no host syncs, and no writes into its inputs: the action tokens' keys/values are
concatenated to the cache instead of written into its room, since CUDA graphs would have to copy
mutated inputs back. On CUDA the mode defaults to "reduce-overhead": the whole loop is captured as
CUDA graphs (inputs copied into the graphs' static buffers, one replay per chunk). On a CPU it
compiles with inductor's default mode (a test checks it equals eager there).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .pi0 import ObservationCache, Pi0Model
from .shared_attention import KVCache


def compile_mode(model: Pi0Model, mode: str | None) -> str | None:
    """torch.compile's mode: as given, else "reduce-overhead" (CUDA graphs) on CUDA, inductor's default
    elsewhere. Outputs of a "reduce-overhead" graph are overwritten at its next replay: copy them."""
    return "reduce-overhead" if mode is None and model.device.type == "cuda" else mode


class CompiledDenoise:
    """``compiled(cache, noise, num_steps) -> Float32[b, H, a]``, as `Pi0Model.denoise`."""

    def __init__(self, model: Pi0Model, mode: str | None = None, **compile_kwargs):
        self.model = model
        self.mode = mode = compile_mode(model, mode)
        self._loop = torch.compile(self._denoise_loop, mode=mode, fullgraph=True, dynamic=False,
                                   **compile_kwargs)

    def _denoise_loop(self, kv: KVCache, valid: Tensor, next_position: Tensor, step_mask: Tensor,
                      cos: Tensor, sin: Tensor, noise: Tensor, num_steps: int) -> Tensor:
        model = self.model
        cache = ObservationCache(kv=kv, valid=valid, next_position=next_position, step_mask=step_mask,
                                 step_rope=(cos, sin))
        return model._euler(lambda x_t, time: model.denoise_step(cache, x_t, time), noise.shape[0], noise,
                            num_steps)

    def __call__(self, cache: ObservationCache, noise: Tensor | None = None,
                 num_steps: int | None = None) -> Tensor:
        model = self.model
        num_steps, noise = model._steps_and_noise(cache.valid.shape[0], noise, num_steps)
        horizon = model.config.action_horizon
        if cache.step_mask is None or cache.step_mask.shape[2] != horizon:
            step_mask, rope = model._step_inputs(cache.valid, cache.next_position, horizon)
        else:
            step_mask, rope = cache.step_mask, cache.step_rope
        kv = [(k[:, :, :cache.length], v[:, :, :cache.length]) for k, v in cache.kv]  # the filled slots
        out = self._loop(kv, cache.valid, cache.next_position, step_mask, *rope, noise, num_steps)
        return out.clone() if self.mode == "reduce-overhead" else out  # CUDA graph outputs are reused
