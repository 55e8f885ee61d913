"""The fused attention ("sdpa", the default) against the eager reference, with masks, cached and not."""
import dataclasses

import pytest
import torch

from pi0_policy.model import build_model, get_config, masks
from pi0_policy.model.shared_attention import attend, attend_fused, kernel_mask

FLOAT32_ATOL = 1e-5  # the parity tests' tolerance for intermediates (fused kernels reorder float32 sums)
ACTIONS_ATOL = 1e-4  # ... and for sampled actions (ten Euler steps)
BFLOAT16_ATOL = 2e-2  # bf16 keeps ~3 significant digits (observed ~2e-3 on this config; actions move ~0.2)


def small_config():
    tiny = get_config("pi0_tiny")
    return dataclasses.replace(tiny, num_cameras=2, action_horizon=6, max_token_len=10,
                               vision=dataclasses.replace(tiny.vision, image_size=28))


def observation(cfg, seed=0):
    """Two cameras, the second masked out; a prompt with 4 of 10 tokens padded."""
    g = torch.Generator().manual_seed(seed)
    size = cfg.vision.image_size
    token_masks = torch.arange(cfg.max_token_len)[None] < 6
    obs = {
        "images": torch.rand(1, cfg.num_cameras, 3, size, size, generator=g) * 2 - 1,
        "image_masks": torch.tensor([[True, False]]),
        "tokens": torch.randint(0, cfg.vocab_size, (1, cfg.max_token_len), generator=g) * token_masks,
        "token_masks": token_masks,
        "state": torch.randn(1, cfg.max_state_dim, generator=g),
    }
    noise = torch.randn(1, cfg.action_horizon, cfg.max_action_dim, generator=g)
    return obs, noise


@pytest.mark.parametrize("heads,kv_heads", [(4, 1), (4, 2), (4, 4)])
def test_fused_attend_matches_eager_with_masked_rows(heads, kv_heads):
    b, q, k, d = 2, 5, 9, 16
    g = torch.Generator().manual_seed(heads * 10 + kv_heads)
    query = torch.randn(b, heads, q, d, generator=g)
    key, value = torch.randn(b, kv_heads, k, d, generator=g), torch.randn(b, kv_heads, k, d, generator=g)
    allowed = torch.rand(b, q, k, generator=g) > 0.4
    allowed[0, 2] = False  # a fully masked query row (a padded token): uniform over all keys in both
    mask = masks.additive_mask(allowed)
    expected = attend(query, key, value, mask)
    torch.testing.assert_close(attend_fused(query, key, value, mask), expected, atol=FLOAT32_ATOL, rtol=0)
    uniform = value.mean(dim=2).repeat_interleave(heads // kv_heads, dim=1)[0].reshape(-1)
    torch.testing.assert_close(expected[0, 2], uniform, atol=FLOAT32_ATOL, rtol=0)


def test_kernel_mask_stays_finite_in_half_precision():
    mask = masks.additive_mask(torch.tensor([[[True, False]]]))
    assert kernel_mask(mask, torch.float32) is mask
    for dtype in (torch.float16, torch.bfloat16):
        converted = kernel_mask(mask, dtype)
        assert converted.dtype == dtype and torch.isfinite(converted).all()
        assert converted[0, 0, 0, 0] == 0 and converted[0, 0, 0, 1] < -6e4


@pytest.fixture(scope="module")
def models():
    cfg = small_config()
    return build_model(cfg, seed=5, attention="eager"), build_model(cfg, seed=5, attention="sdpa")


def test_default_attention_is_fused_and_bad_names_are_refused(models):
    assert build_model(small_config(), seed=0).attention == "sdpa"
    with pytest.raises(ValueError, match=r"'flash'.*\['sdpa', 'eager'\]"):
        build_model(small_config(), attention="flash")
    with pytest.raises(ValueError, match="unknown attention"):
        models[0].attention = "math"


def test_cached_sampling_fused_equals_eager(models):
    eager, fused = models
    obs, noise = observation(eager.config)
    expected = eager.sample_actions(**obs, noise=noise)
    actions = fused.sample_actions(**obs, noise=noise)
    torch.testing.assert_close(actions, expected, atol=ACTIONS_ATOL, rtol=0)
    # The masked camera matters to neither: other pixels there give the same actions.
    obs["images"][:, 1] = -obs["images"][:, 1]
    torch.testing.assert_close(fused.sample_actions(**obs, noise=noise), actions, atol=FLOAT32_ATOL, rtol=0)


def test_uncached_velocity_and_loss_fused_equal_eager(models):
    eager, fused = models
    obs, noise = observation(eager.config, seed=1)
    time = torch.tensor([0.7])
    with torch.no_grad():
        expected = eager.predict_velocity(**obs, x_t=noise, time=time)
        velocity = fused.predict_velocity(**obs, x_t=noise, time=time)
        uncached = fused.sample_actions(**obs, noise=noise, num_steps=2, use_cache=False)
        cached = fused.sample_actions(**obs, noise=noise, num_steps=2)
    torch.testing.assert_close(velocity, expected, atol=FLOAT32_ATOL, rtol=0)
    torch.testing.assert_close(cached, uncached, atol=ACTIONS_ATOL, rtol=0)
    assert (velocity - fused.predict_velocity(**obs, x_t=noise * 2, time=time)).abs().max() > 1e-3


def test_cache_room_is_reused_by_every_step(models):
    """Steps write the action keys/values into the cache's room in place: repeating a step on the same
    cache gives the same velocity, and a cache without room (concatenation) gives it too."""
    _, fused = models
    obs, noise = observation(fused.config, seed=2)
    time = torch.tensor([1.0])
    with torch.no_grad():
        cache = fused.encode_observation(**obs)
        assert cache.room == fused.config.action_horizon
        first = fused.denoise_step(cache, noise, time)
        fused.denoise_step(cache, noise * 3, torch.tensor([0.5]))
        again = fused.denoise_step(cache, noise, time)
        no_room = dataclasses.replace(cache, kv=[(k[:, :, :cache.length], v[:, :, :cache.length])
                                                 for k, v in cache.kv])
        concatenated = fused.denoise_step(no_room, noise, time)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    torch.testing.assert_close(concatenated, first, atol=FLOAT32_ATOL, rtol=0)


def test_bfloat16_fused_equals_eager():
    cfg = small_config()
    eager = build_model(cfg, dtype="bfloat16", seed=5, attention="eager")
    fused = build_model(cfg, dtype="bfloat16", seed=5)
    reference = build_model(cfg, dtype="float32", seed=5)
    obs, noise = observation(cfg, seed=3)
    expected = eager.sample_actions(**obs, noise=noise)
    actions = fused.sample_actions(**obs, noise=noise)
    assert actions.dtype == torch.float32
    torch.testing.assert_close(actions, expected, atol=BFLOAT16_ATOL, rtol=0)
    # and both near the float32 model: bf16 is a rounding of it, not another network
    torch.testing.assert_close(actions, reference.sample_actions(**obs, noise=noise), atol=BFLOAT16_ATOL, rtol=0)
