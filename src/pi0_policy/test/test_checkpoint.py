"""Checkpoint directories: LeRobot/openpi conversion, save → load round trips, errors naming files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from policy_fixtures import FIXTURE, SAME_WEIGHTS_ATOL, load, make_lerobot_dir, raw_observation
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from pi0_policy.model.config import get_config
from pi0_policy.policy.checkpoint import read_checkpoint, save_checkpoint
from pi0_policy.policy.demo_checkpoint import make_random_checkpoint
from pi0_policy.policy.external import convert_checkpoint
from pi0_policy.policy.loading import detect_format, load_checkpoint
from pi0_policy.policy.local import Pi0Policy
from pi0_policy.policy.normalize import NormStats, save_norm_stats
from pi0_policy.policy.tokenizer import demo_tokenizer_path

TOKENIZER = FIXTURE / "tokenizer" / "tokenizer.model"
FILES = ("config.json", "model.safetensors", "tokenizer.model", "norm_stats.json")


@pytest.fixture(scope="module")
def lerobot_dir(tmp_path_factory):
    return make_lerobot_dir(tmp_path_factory.mktemp("lerobot") / "pi0_tiny")


@pytest.fixture(scope="module")
def converted(lerobot_dir, tmp_path_factory):
    return convert_checkpoint(
        lerobot_dir, tmp_path_factory.mktemp("ours") / "ckpt", tokenizer=TOKENIZER, progress=False
    )


@pytest.fixture
def copy_of(converted, tmp_path):
    def make():
        return shutil.copytree(converted, tmp_path / "copy")

    return make


def test_formats_are_detected(lerobot_dir, converted):
    assert detect_format(lerobot_dir) == "lerobot"
    assert detect_format(converted) == "pi0_ros"


def test_lerobot_conversion_keeps_everything(converted):
    info = read_checkpoint(converted)
    assert info.config == get_config("pi0_tiny")  # matched from the weight shapes
    assert (info.state_dim, info.action_dim) == (14, 14)
    assert info.image_keys == ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")
    assert info.norm_eps == 1e-8  # LeRobot's, from policy_preprocessor.json
    np.testing.assert_array_equal(
        info.norm_stats["state"].mean, load("inputs/stats_observation_state_mean.npy")
    )
    np.testing.assert_array_equal(info.norm_stats["actions"].std, load("inputs/stats_action_std.npy"))
    assert (converted / "tokenizer.model").read_bytes() == TOKENIZER.read_bytes()
    assert info.source["kind"] == "lerobot"
    with safe_open(str(converted / "model.safetensors"), framework="np") as ours:
        keys = set(ours.keys())
    original = load_file(str(FIXTURE / "model.safetensors"))
    assert not any(k.startswith("model.") for k in keys)
    assert "paligemma_with_expert.paligemma.lm_head.weight" not in keys  # tied to the text embedding
    assert len(keys) == len(original) - 2  # both LM heads dropped: 90 → 88
    name = "action_out_proj.weight"
    with safe_open(str(converted / "model.safetensors"), framework="np") as ours:
        np.testing.assert_array_equal(ours.get_tensor(name), original["model." + name])


def test_save_load_round_trip_gives_identical_actions(converted, tmp_path):
    obs = raw_observation()
    first = Pi0Policy.from_checkpoint(converted)
    actions = first.infer(obs)["actions"]
    info = first.info
    saved = save_checkpoint(
        tmp_path / "resaved",
        first.model,
        info.config,
        info.state_dim,
        info.action_dim,
        info.tokenizer_path,
        info.norm_stats,
        image_keys=info.image_keys,
        norm_eps=info.norm_eps,
    )
    again = Pi0Policy.from_checkpoint(saved)
    np.testing.assert_allclose(again.infer(obs)["actions"], actions, atol=SAME_WEIGHTS_ATOL, rtol=0)
    assert read_checkpoint(saved).config == info.config


def test_make_random_checkpoint_has_the_asked_dims(tmp_path):
    path = make_random_checkpoint(
        tmp_path / "rand", preset="pi0_tiny", state_dim=7, action_dim=9, action_horizon=12
    )
    assert sorted(p.name for p in path.iterdir()) == sorted(FILES)
    policy = Pi0Policy.from_checkpoint(path, num_steps=2)
    assert policy.metadata["state_dim"] == 7 and policy.metadata["action_dim"] == 9
    assert policy.metadata["horizon"] == 12 and policy.metadata["config"] == "pi0_tiny"
    assert policy.info.norm_stats["state"].dim == 7 and policy.info.norm_stats["actions"].dim == 9
    image = np.zeros((48, 64, 3), np.uint8)
    out = policy.infer({"images": {"base_0_rgb": image}, "state": np.zeros(7, np.float32), "prompt": "wave"})
    assert out["actions"].shape == (12, 9) and np.isfinite(out["actions"]).all()
    # Same seed → same weights; another seed → other weights.
    same = make_random_checkpoint(tmp_path / "same", state_dim=7, action_dim=9, action_horizon=12)
    other = make_random_checkpoint(tmp_path / "other", seed=1, state_dim=7, action_dim=9, action_horizon=12)
    weights = [load_file(str(p / "model.safetensors"))["state_proj.weight"] for p in (path, same, other)]
    assert np.array_equal(weights[0], weights[1]) and not np.array_equal(weights[0], weights[2])


@pytest.mark.parametrize("name", FILES)
def test_missing_file_is_named(copy_of, name):
    path = copy_of()
    (path / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["config.json", "norm_stats.json"])
def test_bad_json_is_named(copy_of, name):
    path = copy_of()
    (path / name).write_text('{"truncated": ')
    with pytest.raises(ValueError, match=f"{name}: not valid JSON"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"model": None, "preset": "pi0_tiyn"}, r"unknown π0 config 'pi0_tiyn'.*'pi0_tiny'"),
        ({"model": None, "preset": None}, "needs a 'model' object"),
        ({"state_dim": 40}, "state_dim 40 > the model's max_state_dim 32"),
        ({"action_dim": "14"}, "'action_dim' must be a positive integer"),
        ({"image_keys": ["base_0_rgb"]}, "must be 3 distinct names"),
        ({"image_keys": "base_0_rgb"}, "'image_keys' must be a list of camera names"),
        ({"format": "lerobot"}, "format 'lerobot' is not 'pi0_ros'"),
    ],
)
def test_bad_config_content_is_named(copy_of, change, message):
    path = copy_of()
    data = json.loads((path / "config.json").read_text())
    data.update(change)
    (path / "config.json").write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    with pytest.raises(ValueError, match=message):
        read_checkpoint(path)


def test_weights_that_do_not_fit_are_named(copy_of):
    path = copy_of()
    tensors = load_file(str(path / "model.safetensors"))
    tensors["state_proj.weight"] = np.zeros((64, 16), np.float32)
    tensors["extra_head.weight"] = np.zeros(3, np.float32)
    del tensors["action_out_proj.bias"]
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(ValueError) as error:
        load_checkpoint(path)
    text = str(error.value)
    assert "missing keys: ['action_out_proj.bias']" in text
    assert "unexpected keys: ['extra_head.weight']" in text
    assert "state_proj.weight: file (64, 16) vs model (64, 32)" in text


def test_too_small_norm_stats_and_tokenizer_too_big_are_named(copy_of, tmp_path):
    path = copy_of()
    save_norm_stats(
        path / "norm_stats.json", {"state": NormStats.identity(3), "actions": NormStats.identity(14)}
    )
    with pytest.raises(ValueError, match="norm stats 'state' have 3 dims, need 14"):
        read_checkpoint(path)
    random = make_random_checkpoint(tmp_path / "r", state_dim=2, action_dim=2, vocab_size=64)
    with pytest.raises(ValueError, match="512 pieces, more than the model's vocab_size 64"):
        load_checkpoint(random)


def test_explicit_tokenizer_and_norm_stats_replace_missing_files(copy_of, tmp_path):
    path = copy_of()
    stats_file = shutil.move(path / "norm_stats.json", tmp_path / "stats.json")
    (path / "tokenizer.model").unlink()
    policy = Pi0Policy.from_checkpoint(path, tokenizer=TOKENIZER, norm_stats=stats_file)
    expected = load("outputs/actions_unnormalized.npy")[0]
    np.testing.assert_allclose(policy.infer(raw_observation())["actions"], expected, atol=1e-4, rtol=0)


def test_openpi_layout_converts_to_the_same_actions(converted, tmp_path):
    openpi = tmp_path / "openpi"
    (openpi / "assets" / "trossen").mkdir(parents=True)
    shutil.copyfile(converted / "model.safetensors", openpi / "model.safetensors")
    shutil.copyfile(converted / "norm_stats.json", openpi / "assets" / "trossen" / "norm_stats.json")
    assert detect_format(openpi) == "openpi"
    with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
        convert_checkpoint(openpi, tmp_path / "out", progress=False)
    # What openpi's JAX → PyTorch converter writes next to the weights.
    openpi_config = {
        "action_dim": 32,
        "action_horizon": 50,
        "paligemma_variant": "gemma_2b",
        "action_expert_variant": "gemma_300m",
        "precision": "float32",
    }
    (openpi / "config.json").write_text(json.dumps(openpi_config))
    assert detect_format(openpi) == "openpi"
    out = convert_checkpoint(openpi, tmp_path / "out", tokenizer=TOKENIZER, progress=False)
    info = read_checkpoint(out)
    assert (info.state_dim, info.action_dim, info.norm_eps) == (14, 14, 1e-6)  # openpi's eps
    obs = raw_observation()
    a = Pi0Policy.from_checkpoint(out).infer(obs)["actions"]
    b = Pi0Policy.from_checkpoint(converted).infer(obs)["actions"]
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)  # eps 1e-6 vs 1e-8 only
    # Several robots' statistics: the choice is the user's.
    shutil.copytree(openpi / "assets" / "trossen", openpi / "assets" / "aloha")
    with pytest.raises(ValueError, match=r"several norm stats files \['assets/aloha/norm_stats.json'"):
        convert_checkpoint(openpi, tmp_path / "out2", tokenizer=TOKENIZER, progress=False)
    stats = openpi / "assets" / "aloha" / "norm_stats.json"
    convert_checkpoint(openpi, tmp_path / "out2", tokenizer=TOKENIZER, norm_stats=stats, progress=False)
    (openpi / "config.json").write_text(json.dumps(dict(openpi_config, pi05=True)))
    with pytest.raises(ValueError, match="π0.5 checkpoint"):
        convert_checkpoint(openpi, tmp_path / "out3", tokenizer=TOKENIZER, progress=False)


def test_conversion_errors_name_the_problem(lerobot_dir, tmp_path):
    with pytest.raises(ValueError, match=r"fits no π0 config:\n  pi0_small: .*shape mismatches"):
        convert_checkpoint(
            lerobot_dir, tmp_path / "a", tokenizer=TOKENIZER, preset="pi0_small", progress=False
        )
    bare = shutil.copytree(lerobot_dir, tmp_path / "bare")
    for stats in bare.glob("policy_*processor*.safetensors"):
        stats.unlink()
    with pytest.raises(FileNotFoundError, match="no normalisation statistics"):
        convert_checkpoint(bare, tmp_path / "b", tokenizer=TOKENIZER, progress=False)
    config = json.loads((bare / "config.json").read_text())
    (bare / "config.json").write_text(json.dumps(dict(config, use_relative_actions=True)))
    with pytest.raises(ValueError, match="use_relative_actions=true is not supported"):
        convert_checkpoint(bare, tmp_path / "c", tokenizer=TOKENIZER, progress=False)
    (bare / "config.json").write_text(json.dumps(dict(config, type="pi05")))
    with pytest.raises(ValueError, match="type 'pi05' is not 'pi0'"):
        detect_format(bare)


def test_demo_tokenizer_is_used_by_random_checkpoints(tmp_path):
    path = make_random_checkpoint(tmp_path / "r", state_dim=2, action_dim=2)
    assert (path / "tokenizer.model").read_bytes() == demo_tokenizer_path().read_bytes()


def test_loading_sits_above_the_formats():
    """checkpoint.py knows only its own format; external.py does not load; loading imports both."""
    import ast

    import pi0_policy.policy as package

    def imported(module):
        tree = ast.parse((Path(package.__file__).parent / f"{module}.py").read_text())
        return {n.module for n in tree.body if isinstance(n, ast.ImportFrom)} | {
            f"{n.module}.{a.name}" for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}

    assert not any("external" in m or "loading" in m or "demo_checkpoint" in m for m in imported("checkpoint"))
    assert not any("loading" in m for m in imported("external"))
    assert {"pi0_policy.policy.checkpoint", "pi0_policy.policy.external"} <= imported("loading")


def test_external_readers_return_typed_results(lerobot_dir):
    from pi0_policy.policy.external import ExternalInfo, read_lerobot

    info = read_lerobot(lerobot_dir)
    assert isinstance(info, ExternalInfo) and info.kind == "lerobot"
    assert (info.state_dim, info.action_dim, info.norm_eps) == (14, 14, 1e-8)
    assert info.overrides["num_cameras"] == 3 and set(info.norm_stats) == {"state", "actions"}
