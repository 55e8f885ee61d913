"""Sampling behaviour of the π0 model: cache, masking, reproducibility, dtypes, input errors."""
import pytest
import torch
from model_testdata import WEIGHTS, load, observation

from pi0_policy.model import build_model, get_config

CACHE_ATOL = 1e-5  # cached sampling vs recomputing the whole sequence (float32)
MASK_ATOL = 1e-6  # content of masked inputs must not matter
BF16_ATOL = 0.06  # bf16 vs fp32 on the tiny model (measured 0.024 max, 0.006 mean; actions std ≈ 1.4)


@pytest.fixture(scope="module")
def model():
    return build_model(get_config("pi0_tiny"), weights=WEIGHTS)


@pytest.fixture(scope="module")
def obs():
    return observation()


@pytest.fixture(scope="module")
def noise():
    return load("inputs/noise")


def test_cached_sampling_equals_full_recomputation(model, obs, noise):
    cached = model.sample_actions(**obs, noise=noise, num_steps=4)
    full = model.sample_actions(**obs, noise=noise, num_steps=4, use_cache=False)
    torch.testing.assert_close(cached, full, atol=CACHE_ATOL, rtol=0)


def test_cached_equals_full_with_masked_camera_and_batch(model, obs, noise):
    batch = {k: torch.cat([v, v]) for k, v in obs.items()}
    batch["image_masks"] = torch.tensor([[True, False, True], [True, True, False]])
    two_noises = torch.cat([noise, -noise])
    cached = model.sample_actions(**batch, noise=two_noises, num_steps=3)
    full = model.sample_actions(**batch, noise=two_noises, num_steps=3, use_cache=False)
    torch.testing.assert_close(cached, full, atol=CACHE_ATOL, rtol=0)


def test_masked_camera_content_does_not_matter(model, obs, noise):
    masked = dict(obs, image_masks=torch.tensor([[True, True, False]]))
    other = dict(masked, images=masked["images"].clone())
    other["images"][:, 2] = torch.rand_like(other["images"][:, 2]) * 2 - 1
    a = model.sample_actions(**masked, noise=noise, num_steps=3)
    b = model.sample_actions(**other, noise=noise, num_steps=3)
    torch.testing.assert_close(a, b, atol=MASK_ATOL, rtol=0)
    # ...while the same change on a camera that is present changes the actions.
    present = dict(other, image_masks=obs["image_masks"])
    assert (model.sample_actions(**present, noise=noise, num_steps=3) - a).abs().max() > 1e-3


def test_padded_token_ids_do_not_matter(model, obs, noise):
    pad = ~obs["token_masks"]
    assert pad.sum() > 0
    other = dict(obs, tokens=obs["tokens"].clone())
    other["tokens"][pad] = torch.randint(1, 512, (int(pad.sum()),))
    a = model.sample_actions(**obs, noise=noise, num_steps=3)
    b = model.sample_actions(**other, noise=noise, num_steps=3)
    torch.testing.assert_close(a, b, atol=MASK_ATOL, rtol=0)


def test_fixed_noise_gives_identical_actions_and_fresh_noise_differs(model, obs, noise):
    a = model.sample_actions(**obs, noise=noise)
    b = model.sample_actions(**obs, noise=noise.clone())
    assert torch.equal(a, b)
    torch.manual_seed(0)
    c = model.sample_actions(**obs)
    assert c.shape == (1, 50, 32) and (c - a).abs().max() > 1e-2


def test_bf16_sampling_close_to_fp32(obs, noise):
    fp32 = build_model(get_config("pi0_tiny"), weights=WEIGHTS).sample_actions(**obs, noise=noise)
    model = build_model(get_config("pi0_tiny"), dtype="bfloat16", weights=WEIGHTS)
    tower = model.paligemma_with_expert.paligemma.model.vision_tower.vision_model
    assert model.dtype == torch.bfloat16
    assert tower.embeddings.patch_embedding.weight.dtype == torch.float32  # openpi's mixed precision
    assert model.paligemma_with_expert.gemma_expert.model.norm.weight.dtype == torch.float32
    bf16 = model.sample_actions(**obs, noise=noise)
    assert bf16.dtype == torch.float32 and torch.isfinite(bf16).all()
    error = (bf16 - fp32).abs()
    assert error.max() < BF16_ATOL, f"bf16 max error {error.max():.3f}"
    assert error.mean() < BF16_ATOL / 5


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("images", torch.zeros(1, 2, 3, 224, 224),
         r"images has shape \(1, 2, 3, 224, 224\), expected \(1, 3, 3"),
        ("state", torch.zeros(1, 14), r"state has shape \(1, 14\), expected \(1, 32\)"),
        ("tokens", torch.full((1, 48), 600), r"token ids must lie in \[0, 512\), got min 600, max 600"),
        ("noise", torch.zeros(1, 10, 32), r"noise has shape \(1, 10, 32\), expected \(1, 50, 32\)"),
        ("state", torch.full((1, 32), float("nan")), "state contains NaN or infinite values"),
    ],
)
def test_bad_inputs_raise_naming_the_value(model, obs, noise, field, value, message):
    kwargs = dict(obs, noise=noise)
    kwargs[field] = value
    with pytest.raises(ValueError, match=message):
        model.sample_actions(**kwargs)


def test_zero_steps_rejected(model, obs):
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        model.sample_actions(**obs, num_steps=0)
