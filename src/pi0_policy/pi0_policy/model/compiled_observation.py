"""The observation half of `Pi0Model` (image encoders + prefix embedding, then the forward that fills
the KV cache) as compiled graphs: with `CompiledDenoise`, the whole chunk runs captured.

At batch 1 on a GPU the prefix is bound by kernel launches, not arithmetic (measured on an H200:
9–19 % of the bf16 matmul rate eagerly), so it gains from CUDA graphs as the Euler steps do.
`CompiledObservation(model)` compiles two pure functions of tensors, the same split as the paper's
Table I: ``embed_prefix`` and the cache forward. The cache is built without room for the action
tokens (``cache_room=0``): nothing is written into it afterwards, the Euler steps concatenate their
keys/values (as `CompiledDenoise` does anyway). On CUDA the mode defaults to "reduce-overhead" (CUDA
graphs; outputs are cloned, since a graph reuses its output buffers at the next replay); on a CPU
inductor's default mode (a test checks both parts equal eager there).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .compiled_denoise import compile_mode
from .pi0 import ObservationCache, Pi0Model


class CompiledObservation:
    """``embed_prefix(images, image_masks, tokens, token_masks)`` and
    ``cache_observation(prefix, prefix_valid, state)``, as `Pi0Model`'s, compiled."""

    def __init__(self, model: Pi0Model, mode: str | None = None, **compile_kwargs):
        self.model = model
        self.mode = mode = compile_mode(model, mode)
        options = dict(mode=mode, fullgraph=True, dynamic=False, **compile_kwargs)
        self._embed = torch.compile(model._embed_prefix, **options)
        self._forward = torch.compile(self._forward_flat, **options)

    def _forward_flat(self, prefix: Tensor, prefix_valid: Tensor, state: Tensor):
        cache = self.model._cache_observation(prefix, prefix_valid, state, cache_room=0)
        return cache.kv, cache.valid, cache.next_position, cache.step_mask, *cache.step_rope

    def _owned(self, tensors):
        """Copies of graph outputs on CUDA graphs (the next replay overwrites them)."""
        if self.mode != "reduce-overhead":
            return tensors
        return torch.utils._pytree.tree_map(lambda t: t.clone() if isinstance(t, Tensor) else t, tensors)

    def embed_prefix(self, images, image_masks, tokens, token_masks) -> tuple[Tensor, Tensor]:
        device = self.model.device  # graphs take device tensors: move them first
        return self._owned(self._embed(images.to(device, torch.float32), image_masks.to(device, torch.bool),
                                       tokens.to(device, torch.long), token_masks.to(device, torch.bool)))

    def cache_observation(self, prefix: Tensor, prefix_valid: Tensor, state: Tensor) -> ObservationCache:
        device = self.model.device
        kv, valid, next_position, step_mask, cos, sin = self._owned(
            self._forward(prefix, prefix_valid.to(device), state.to(device, torch.float32)))
        return ObservationCache(kv=list(kv), valid=valid, next_position=next_position, step_mask=step_mask,
                                step_rope=(cos, sin))
