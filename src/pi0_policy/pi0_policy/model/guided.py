"""Guided Euler sampling for real-time chunking (Black et al. 2025, arXiv 2506.07339; see
`pi0_policy.policy.rtc` for the mask and weight schedule).

At each Euler step the velocity ``v`` at ``x_t`` gives the predicted clean chunk
``Â = x_t − t·v`` (openpi's convention: t = 1 noise, t = 0 data). The error towards the target
``Y`` (the previous chunk's actions, normalised), weighted by the soft mask ``W``, is pulled back
through the denoiser with one vector-Jacobian product, ``g = (∂Â/∂x_t)ᵀ (W ⊙ (Y − Â))``, and the
step uses ``v − w(t)·g`` with the clipped guidance weight ``w(t)`` (`rtc.guidance_weight`), which
moves x towards Y where W > 0. With W = 0 everywhere this is ordinary sampling.

The observation's key/value cache is used without its room (each step's action keys/values are
concatenated rather than written in place), so that autograd sees no in-place writes.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .pi0 import ObservationCache


def _frozen_cache(cache: ObservationCache) -> ObservationCache:
    """The same cache, detached, without room after the filled slots (no in-place writes)."""
    n = cache.length
    kv = [(k[:, :, :n].detach(), v[:, :, :n].detach()) for k, v in cache.kv]
    return ObservationCache(kv=kv, valid=cache.valid, next_position=cache.next_position,
                            step_mask=cache.step_mask, step_rope=cache.step_rope)


def guided_denoise(model, cache: ObservationCache, target: Tensor, weights: Tensor, max_guidance: float,
                   noise: Tensor | None = None, num_steps: int | None = None) -> Tensor:
    """Float32[b, H, a]: `Pi0Model.denoise` with inpainting guidance towards ``target``
    Float[b, H, a] (normalised) under ``weights`` Float[b, H, a] (the soft mask, 0 on padded
    dimensions). Must run outside ``torch.inference_mode`` (the cache too: build it under
    ``torch.no_grad``), since each step takes a gradient through the action expert."""
    from pi0_policy.policy.rtc import guidance_weight

    b = cache.valid.shape[0]
    num_steps, x_t = model._steps_and_noise(b, noise, num_steps)
    shape = tuple(x_t.shape)
    if tuple(target.shape) != shape or tuple(weights.shape) != shape:
        raise ValueError(f"guidance target {tuple(target.shape)} and weights {tuple(weights.shape)} must "
                         f"both have shape {shape} (b, horizon, max_action_dim)")
    target = target.to(x_t.device, torch.float32)
    weights = weights.to(x_t.device, torch.float32)
    guided = bool((weights != 0).any())
    cache = _frozen_cache(cache)
    dt = -1.0 / num_steps
    for k in range(num_steps):
        t = 1.0 + k * dt
        time = torch.full((b,), t, dtype=torch.float32, device=x_t.device)
        if not guided:
            with torch.no_grad():
                x_t = x_t + dt * model.denoise_step(cache, x_t, time)
            continue
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            velocity = model.denoise_step(cache, x, time)
            predicted = x - t * velocity
            error = (target - predicted) * weights
            (correction,) = torch.autograd.grad(predicted, x, grad_outputs=error.detach())
        x_t = (x_t + dt * (velocity.detach() - guidance_weight(t, max_guidance) * correction)).detach()
    return x_t
