"""torch.compile of the Euler step (the optional fast path) gives the eager model's actions."""
import dataclasses

import torch
from test_model_fused_attention import observation, small_config

from pi0_policy.model import build_model, get_config

COMPILE_ATOL = 1e-4  # fused kernels reorder float32 sums


def test_compiled_denoise_step_matches_eager():
    tiny = get_config("pi0_tiny")
    cfg = dataclasses.replace(tiny, num_cameras=1, action_horizon=8,
                              vision=dataclasses.replace(tiny.vision, image_size=56))
    model = build_model(cfg, seed=3).eval()
    g = torch.Generator().manual_seed(0)
    token_masks = torch.arange(cfg.max_token_len)[None] < 5
    obs = {
        "images": torch.rand(1, 1, 3, 56, 56, generator=g) * 2 - 1,
        "image_masks": torch.ones(1, 1, dtype=torch.bool),
        "tokens": torch.randint(0, cfg.vocab_size, (1, cfg.max_token_len), generator=g) * token_masks,
        "token_masks": token_masks,
        "state": torch.randn(1, cfg.max_state_dim, generator=g),
    }
    noise = torch.randn(1, cfg.action_horizon, cfg.max_action_dim, generator=g)
    eager = model.sample_actions(**obs, noise=noise, num_steps=3)
    model.compile_denoise_step(dynamic=False)
    compiled = model.sample_actions(**obs, noise=noise, num_steps=3)
    assert compiled.shape == eager.shape
    torch.testing.assert_close(compiled, eager, atol=COMPILE_ATOL, rtol=0)
    assert not torch.equal(eager, model.sample_actions(**obs, noise=noise + 1, num_steps=3))


def test_compiled_denoise_loop_matches_eager():
    """All the Euler steps as one graph (the CUDA-graph path on a GPU; inductor on this CPU), fused
    attention, a masked camera and a padded prompt: the eager model's actions."""
    cfg = small_config()
    model = build_model(cfg, seed=4).eval()
    obs, noise = observation(cfg, seed=1)
    eager = model.sample_actions(**obs, noise=noise, num_steps=3)
    model.compile_denoise()
    assert model._compiled_loop.mode is None  # CPU: inductor's default mode (CUDA: reduce-overhead)
    compiled = model.sample_actions(**obs, noise=noise, num_steps=3)
    again = model.sample_actions(**obs, noise=noise + 1, num_steps=3)  # reuses the graph
    model.uncompile_denoise()
    torch.testing.assert_close(compiled, eager, atol=COMPILE_ATOL, rtol=0)
    torch.testing.assert_close(again, model.sample_actions(**obs, noise=noise + 1, num_steps=3),
                               atol=COMPILE_ATOL, rtol=0)
    assert (again - compiled).abs().max() > 1e-2


def test_compiled_observation_matches_eager():
    """The prefix embedding and the cache forward compiled too (the whole chunk captured on a GPU):
    a room-less cache, the same prefix, cache and actions as eager, and a fresh cache per call."""
    cfg = small_config()
    model = build_model(cfg, seed=5).eval()
    obs, noise = observation(cfg, seed=2)
    prefix_inputs = [obs[k] for k in ("images", "image_masks", "tokens", "token_masks")]
    prefix, valid = model.embed_prefix(*prefix_inputs)
    eager_cache = model.cache_observation(prefix, valid, obs["state"])
    eager = model.sample_actions(**obs, noise=noise, num_steps=3)
    model.compile_denoise(observation=True)
    assert model.compiled == "all"
    c_prefix, c_valid = model.embed_prefix(*prefix_inputs)
    cache = model.cache_observation(c_prefix, c_valid, obs["state"])
    torch.testing.assert_close(c_prefix, prefix, atol=COMPILE_ATOL, rtol=0)
    assert torch.equal(c_valid, valid)
    assert cache.room == 0 and eager_cache.room == cfg.action_horizon
    for (k, v), (ek, ev) in zip(cache.kv, eager_cache.kv, strict=True):
        torch.testing.assert_close(k, ek[:, :, :cache.length], atol=COMPILE_ATOL, rtol=0)
        torch.testing.assert_close(v, ev[:, :, :cache.length], atol=COMPILE_ATOL, rtol=0)
    compiled = model.sample_actions(**obs, noise=noise, num_steps=3)
    torch.testing.assert_close(compiled, eager, atol=COMPILE_ATOL, rtol=0)
    other = dict(obs, state=obs["state"] + 1)
    changed = model.sample_actions(**other, noise=noise, num_steps=3)
    assert (changed - compiled).abs().max() > 1e-3  # a new observation, not a stale cache
    model.uncompile_denoise()
    assert model.compiled == "none" and model._compiled_observation is None
    torch.testing.assert_close(model.sample_actions(**other, noise=noise, num_steps=3), changed,
                               atol=COMPILE_ATOL, rtol=0)
