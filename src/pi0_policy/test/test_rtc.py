"""Real-time chunking: the soft mask, the guidance weight, the delay estimate, the leftover of the
executing chunk (pure functions), and guided sampling on the tiny π0 (real forward passes)."""
import math

import numpy as np
import pytest
import torch
from model_testdata import WEIGHTS, load, observation

from pi0_policy.model import build_model, get_config
from pi0_policy.model.guided import guided_denoise
from pi0_policy.policy.chunking import schedule_chunk
from pi0_policy.policy.rtc import DelayEstimator, guidance_weight, leftover_actions, soft_mask

SAME_ATOL = 1e-5  # guided with zero weights vs ordinary sampling: same math, cache concatenated vs in place
STEPS = 10


def test_soft_mask_is_one_on_the_prefix_decays_over_the_overlap_and_zero_beyond():
    w = soft_mask(50, frozen=4, overlap=30)
    np.testing.assert_array_equal(w[:4], 1.0)
    assert np.all(np.diff(w[4:30]) < 0) and 0 < w[29] < w[4] < 1
    np.testing.assert_array_equal(w[30:], 0.0)
    # the paper's formula at one point: c = (30 - 10) / (30 - 4 + 1)
    c = 20 / 27
    assert w[10] == pytest.approx(c * (math.exp(c) - 1) / (math.e - 1))
    assert soft_mask(10, frozen=20, overlap=5).tolist() == [1.0] * 5 + [0.0] * 5  # frozen clipped to overlap


def test_guidance_weight_is_clipped_at_beta_and_vanishes_at_the_data_end():
    assert guidance_weight(1.0, 5.0) == 5.0         # pure noise: the clip
    assert guidance_weight(0.0, 5.0) == 0.0         # data: nothing to guide
    tau = 0.8                                        # (1-τ)/τ · ((1-τ)²+τ²)/(1-τ)² = 0.25 · 0.68/0.04
    assert guidance_weight(1 - tau, 100.0) == pytest.approx(0.25 * 0.68 / 0.04)
    assert guidance_weight(1 - tau, 2.0) == 2.0
    with pytest.raises(ValueError, match="max_guidance"):
        guidance_weight(0.5, -1.0)


def test_delay_estimate_follows_the_largest_recent_latency():
    est = DelayEstimator(dt=0.02, window=3, initial=0.05)
    assert est.steps == 3
    for latency in (0.10, 0.03, 0.03):
        est.update(latency)
    assert est.steps == 5
    est.update(0.03)                                # 0.10 leaves the window
    assert est.steps == 2
    est.update(float("nan"))
    assert est.steps == 2


def test_leftover_is_the_executing_chunk_at_the_new_targets():
    dt, actions = 0.1, np.arange(20, dtype=float)[:, None] * np.ones((1, 2))
    chunk = schedule_chunk(actions, obs_time=0.0, now=0.25, dt=dt)   # first kept: action 2, at 0.3
    left, overlap = leftover_actions(chunk, obs_time=0.5, horizon=20)  # targets 0.6, 0.7, ... = actions 5, 6, ...
    assert overlap == 15
    np.testing.assert_allclose(left[:15, 0], np.arange(5, 20))
    np.testing.assert_allclose(left[15:, 0], 19)
    assert leftover_actions(chunk, obs_time=5.0, horizon=20)[1] == 0   # ended: nothing to continue


@pytest.fixture(scope="module")
def model():
    return build_model(get_config("pi0_tiny"), weights=WEIGHTS)


@pytest.fixture(scope="module")
def cache(model):
    with torch.no_grad():
        return model.encode_observation(**observation())


def test_no_guidance_equals_ordinary_sampling(model, cache):
    noise = load("inputs/noise")
    plain = model.denoise(cache, noise, STEPS)
    zero = torch.zeros_like(plain)
    guided = guided_denoise(model, cache, zero, zero, 5.0, noise, STEPS)
    torch.testing.assert_close(guided, plain, atol=SAME_ATOL, rtol=0)


def test_guidance_reproduces_the_frozen_prefix_and_lowers_the_discontinuity(model, cache):
    """The previous chunk = a sample from other noise; the new one (its own noise) is guided
    towards it: the frozen prefix is reproduced closely, and the join is far smoother than
    unguided sampling's."""
    h, a = model.config.action_horizon, model.config.max_action_dim
    previous = model.denoise(cache, torch.randn(1, h, a, generator=torch.Generator().manual_seed(1)), STEPS)
    noise = torch.randn(1, h, a, generator=torch.Generator().manual_seed(2))
    frozen, overlap = 3, h - 2
    weights = torch.from_numpy(soft_mask(h, frozen, overlap)).float()[None, :, None].expand(1, h, a)
    free = model.denoise(cache, noise, STEPS)
    guided = guided_denoise(model, cache, previous, weights.contiguous(), 5.0, noise, STEPS)
    free_gap = (free[:, :frozen] - previous[:, :frozen]).abs().max().item()
    guided_gap = (guided[:, :frozen] - previous[:, :frozen]).abs().max().item()
    print(f"frozen-prefix gap: free {free_gap:.4f}, guided {guided_gap:.4f}")
    assert free_gap > 0.1                            # unguided samples from other noise differ
    assert guided_gap < 0.25 * free_gap              # the prefix is reproduced closely
    # the discontinuity at the join (first action vs the previous chunk's action there)
    assert (guided[:, 0] - previous[:, 0]).abs().max() < (free[:, 0] - previous[:, 0]).abs().max()
    # beyond the overlap nothing is asked of the sample: it stays finite and in range
    assert torch.isfinite(guided).all() and guided.abs().max() < 10 * previous.abs().max() + 10


def test_bad_guidance_shapes_are_rejected(model, cache):
    with pytest.raises(ValueError, match="guidance target"):
        guided_denoise(model, cache, torch.zeros(1, 3, 3), torch.zeros(1, 3, 3), 5.0)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint
    from pi0_policy.policy.local import Pi0Policy

    ckpt = make_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", preset="pi0_tiny", state_dim=7,
                                  action_dim=7, seed=0)
    return Pi0Policy.from_checkpoint(ckpt, num_steps=STEPS, dtype="float32", num_threads=1)


def test_policy_rtc_input_guides_towards_the_given_actions(policy):
    h, a = policy.info.config.action_horizon, policy.info.config.max_action_dim
    rng = np.random.default_rng(0)
    obs = {"images": {k: np.zeros((16, 16, 3), np.uint8) for k in policy.info.image_keys},
           "state": np.zeros(7, np.float32), "prompt": "reach", "noise": rng.standard_normal((h, a))}
    plain = policy.infer(obs)["actions"]
    zero = {"actions": np.zeros((h, 7), np.float32), "weights": np.zeros(h, np.float32), "max_guidance": 5.0}
    # zero weights = ordinary sampling (cache concatenated, not written in place; un-normalised, std <= 1.5)
    np.testing.assert_allclose(policy.infer({**obs, "rtc": zero})["actions"], plain, atol=1e-4)
    target = plain + 1.0                                   # previous chunk: the plain one, shifted by 1
    guide = {"actions": target, "weights": soft_mask(h, 3, h), "max_guidance": 5.0}
    guided = policy.infer({**obs, "rtc": guide})["actions"]
    assert np.abs(guided[:3] - target[:3]).max() < 0.5 * np.abs(plain[:3] - target[:3]).max()
    with pytest.raises(ValueError, match="rtc actions"):
        policy.infer({**obs, "rtc": {**guide, "weights": np.ones(3)}})
