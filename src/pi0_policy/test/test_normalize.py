"""Normalisation: LeRobot's normalised state and un-normalised actions; norm_stats.json round trip."""

import json

import numpy as np
import pytest
from policy_fixtures import load

from pi0_policy.policy.normalize import (
    NormStats,
    load_norm_stats,
    normalize,
    parse_norm_stats,
    save_norm_stats,
    unnormalize,
)

LEROBOT_EPS = 1e-8  # LeRobot's normaliser eps (openpi: 1e-6)
NORM_ATOL = 1e-6


@pytest.fixture(scope="module")
def fixture_stats():
    state = NormStats(
        mean=load("inputs/stats_observation_state_mean.npy"),
        std=load("inputs/stats_observation_state_std.npy"),
    )
    actions = NormStats(mean=load("inputs/stats_action_mean.npy"), std=load("inputs/stats_action_std.npy"))
    return {"state": state, "actions": actions}


def test_state_normalised_as_lerobot(fixture_stats):
    expected = load("inputs/state_normalized_padded.npy")[0]
    out = normalize(load("inputs/raw_state.npy"), fixture_stats["state"], eps=LEROBOT_EPS)
    np.testing.assert_allclose(out, expected[:14], atol=NORM_ATOL, rtol=0)
    assert np.all(expected[14:] == 0)  # padding is zeros, added after normalisation


def test_actions_unnormalised_as_lerobot(fixture_stats):
    out = unnormalize(load("outputs/actions_normalized.npy"), fixture_stats["actions"], eps=LEROBOT_EPS)
    np.testing.assert_allclose(out, load("outputs/actions_unnormalized.npy"), atol=NORM_ATOL, rtol=0)


def test_openpi_eps_is_default_and_inverse_holds():
    stats = NormStats(mean=np.array([1.0, -2.0], np.float32), std=np.array([0.0, 4.0], np.float32))
    x = np.array([[1.5, 2.0], [0.0, -2.0]], np.float32)
    y = normalize(x, stats)
    np.testing.assert_allclose(y, [[0.5 / 1e-6, 4.0 / (4.0 + 1e-6)], [-1.0 / 1e-6, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(unnormalize(y, stats), x, atol=1e-5)


def test_longer_stats_are_sliced_shorter_rejected():
    stats = NormStats(mean=np.arange(32, dtype=np.float32), std=np.ones(32, np.float32))
    np.testing.assert_allclose(normalize(np.arange(5, dtype=np.float32), stats), np.zeros(5), atol=1e-5)
    with pytest.raises(ValueError, match="statistics have 32 dims, fewer than the data's 40"):
        normalize(np.zeros(40, np.float32), stats)


def test_norm_stats_json_round_trip(tmp_path, fixture_stats):
    q = np.linspace(-1, 1, 14, dtype=np.float32)
    stats = dict(
        fixture_stats, state=NormStats(fixture_stats["state"].mean, fixture_stats["state"].std, q, q + 1)
    )
    path = save_norm_stats(tmp_path / "assets" / "norm_stats.json", stats)
    loaded = load_norm_stats(path)
    assert sorted(loaded) == ["actions", "state"]
    for key in stats:
        for field in ("mean", "std", "q01", "q99"):
            a, b = getattr(stats[key], field), getattr(loaded[key], field)
            assert (a is None and b is None) or np.array_equal(a, b), (key, field)
    body = json.loads(path.read_text())["norm_stats"]
    assert body["actions"]["q01"] is None and len(body["state"]["q99"]) == 14


def test_openpi_file_with_extra_keys_loads():
    data = {
        "norm_stats": {
            "state": {"mean": [0.0, 1.0], "std": [1.0, 2.0], "q01": [-1.0, -1.0], "q99": [1.0, 3.0]},
            "actions": {"mean": [0.0], "std": [1.0]},
            "extra": {"mean": [5.0], "std": [1.0]},
        }
    }
    stats = parse_norm_stats(data)
    assert stats["state"].dim == 2 and stats["actions"].dim == 1 and stats["state"].q99.tolist() == [1.0, 3.0]


def test_missing_file_and_bad_content_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.json"):
        load_norm_stats(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_norm_stats(bad)
    bad.write_text(json.dumps({"norm_stats": {"state": {"mean": [0.0], "std": [1.0]}}}))
    with pytest.raises(ValueError, match=r"bad.json: 'norm_stats' lacks \['actions'\]"):
        load_norm_stats(bad)
    bad.write_text(json.dumps({"state": {}}))
    with pytest.raises(ValueError, match="'norm_stats' object"):
        load_norm_stats(bad)
    bad.write_text(json.dumps({"norm_stats": {"state": {"mean": [0.0, 1.0], "std": [1.0]}, "actions": {}}}))
    with pytest.raises(ValueError, match=r"norm_stats.state: NormStats.std has 1 dims but mean has 2"):
        load_norm_stats(bad)
    with pytest.raises(ValueError, match="std must be >= 0"):
        NormStats(mean=[0.0], std=[-1.0])
