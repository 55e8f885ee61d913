"""End to end: Pi0Policy over the converted LeRobot fixture turns RAW inputs into LeRobot's actions."""

import numpy as np
import pytest
from policy_fixtures import (ACTIONS_ATOL, CAMERAS, FIXTURE, SAME_WEIGHTS_ATOL, load, make_lerobot_dir,
                             raw_observation)

from pi0_policy.policy.external import convert_checkpoint
from pi0_policy.policy.local import STAGES, Pi0Policy


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy")
    lerobot = make_lerobot_dir(root / "lerobot")
    path = convert_checkpoint(
        lerobot, root / "ours", tokenizer=FIXTURE / "tokenizer" / "tokenizer.model", progress=False
    )
    return Pi0Policy.from_checkpoint(path, device="cpu", dtype="float32", num_steps=10)


def test_raw_inputs_give_lerobot_actions(policy):
    out = policy.infer(raw_observation())
    expected = load("outputs/actions_unnormalized.npy")[0]
    assert out["actions"].shape == (50, 14) and out["actions"].dtype == np.float32
    np.testing.assert_allclose(out["actions"], expected, atol=ACTIONS_ATOL, rtol=0)


def test_lerobot_directory_loads_in_place(policy):
    lerobot = policy.info.path.parent / "lerobot"
    direct = Pi0Policy.from_checkpoint(lerobot, tokenizer=FIXTURE / "tokenizer" / "tokenizer.model")
    assert direct.info.source["kind"] == "lerobot" and direct.info.config == policy.info.config
    obs = raw_observation()
    # Two objects, two load paths (and two torch thread counts: threads auto): equal within the
    # documented float tolerance, not bit for bit.
    np.testing.assert_allclose(direct.infer(obs)["actions"], policy.infer(obs)["actions"],
                               atol=SAME_WEIGHTS_ATOL, rtol=0)


def test_same_observation_and_noise_give_identical_actions(policy):
    obs = raw_observation()
    np.testing.assert_array_equal(policy.infer(obs)["actions"], policy.infer(obs)["actions"])


def test_timing_reports_every_stage(policy):
    timing = policy.infer(raw_observation())["timing"]
    assert tuple(timing) == STAGES
    assert all(isinstance(v, float) and v >= 0.0 for v in timing.values())


def test_metadata(policy):
    meta = policy.metadata
    assert (meta["state_dim"], meta["action_dim"], meta["horizon"]) == (14, 14, 50)
    assert meta["image_keys"] == list(CAMERAS) and meta["config"] == "pi0_tiny"


def test_warmup_runs_every_stage_and_changes_nothing(policy):
    before = policy.infer(raw_observation())["actions"]
    assert tuple(policy.warmup()) == STAGES
    np.testing.assert_array_equal(policy.infer(raw_observation())["actions"], before)


def test_without_noise_samples_fresh_chunks(policy):
    a = policy.infer(raw_observation(with_noise=False))["actions"]
    b = policy.infer(raw_observation(with_noise=False))["actions"]
    assert a.shape == (50, 14) and np.isfinite(a).all() and not np.array_equal(a, b)


def test_missing_camera_is_masked_not_blank_content(policy):
    obs = raw_observation()
    full = policy.infer(obs)["actions"]
    del obs["images"]["right_wrist_0_rgb"]
    without = policy.infer(obs)["actions"]
    # A black image would still be attended to; a masked camera is not: the two must differ.
    obs["images"]["right_wrist_0_rgb"] = np.zeros((240, 320, 3), np.uint8)
    black = policy.infer(obs)["actions"]
    assert not np.allclose(without, full) and not np.allclose(without, black)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"state": np.zeros(13, np.float32)}, r"state has shape \(13,\), expected \(14,\)"),
        ({"state": np.full(14, np.nan, np.float32)}, "state contains NaN"),
        ({"noise": np.zeros((50, 14), np.float32)}, r"noise has shape \(50, 14\), expected \(50, 32\)"),
        ({"images": {"top": np.zeros((8, 8, 3), np.uint8)}}, r"unknown camera key\(s\) \['top'\]"),
        ({"prompt": 3}, "prompt must be a str"),
        ({"instruction": "x"}, r"unknown \['instruction'\]"),
    ],
)
def test_bad_observations_are_named(policy, change, message):
    obs = dict(raw_observation(), **change)
    with pytest.raises(ValueError, match=message):
        policy.infer(obs)


def test_missing_observation_key_is_named(policy):
    obs = raw_observation()
    del obs["state"]
    with pytest.raises(ValueError, match=r"missing \['state'\]"):
        policy.infer(obs)
