"""`pi0 checkpoint random | convert | inspect`, run in-process through the `pi0` command line."""

import json
import re

import numpy as np
import pytest
from policy_fixtures import ACTIONS_ATOL, FIXTURE, load, make_lerobot_dir, raw_observation

from pi0_bringup import cli
from pi0_policy.policy.checkpoint import read_checkpoint
from pi0_policy.policy.local import Pi0Policy
from pi0_policy.policy.normalize import NormStats, save_norm_stats


def inspect_json(path, capsys) -> dict:
    capsys.readouterr()
    assert cli.main(["checkpoint", "inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_random_then_inspect(tmp_path, capsys):
    dst = tmp_path / "demo"
    argv = [
        "checkpoint",
        "random",
        str(dst),
        "--preset",
        "pi0_tiny",
        "--state-dim",
        "6",
        "--action-dim",
        "7",
        "--horizon",
        "20",
    ]
    assert cli.main(argv) == 0
    info = read_checkpoint(dst)
    assert (info.state_dim, info.action_dim, info.config.action_horizon) == (6, 7, 20)
    desc = inspect_json(dst, capsys)
    assert desc["format"] == "pi0_ros" and desc["preset"] == "pi0_tiny"
    assert desc["config_changes"] == {"action_horizon": 20}
    assert desc["norm_stats"] == {
        "state": {"dim": 6, "has_quantiles": True},
        "actions": {"dim": 7, "has_quantiles": True},
    }
    assert desc["weights"]["layout"] == "openpi" and desc["weights"]["tensors"] == 88
    assert desc["weights"]["parameters"] == 779936 - 512 * 128 - 512 * 64  # the fixture less both LM heads
    assert desc["tokenizer"]["pieces"] == 512
    # Not into a non-empty directory without --force.
    assert cli.main(argv) == 1
    assert "not empty (use --force" in capsys.readouterr().err
    assert cli.main([*argv, "--force", "--seed", "3"]) == 0


def test_convert_lerobot_then_inspect_and_run(tmp_path, capsys):
    src = make_lerobot_dir(tmp_path / "lerobot")
    desc = inspect_json(src, capsys)
    assert desc["format"] == "lerobot" and desc["preset_match"] == "pi0_tiny"
    assert (desc["state_dim"], desc["action_dim"]) == (14, 14) and desc["weights"]["layout"] == "lerobot"
    assert desc["tokenizer"] is None  # LeRobot ships none: convert needs --tokenizer

    dst = tmp_path / "ours"
    argv = [
        "checkpoint",
        "convert",
        str(src),
        str(dst),
        "--tokenizer",
        str(FIXTURE / "tokenizer" / "tokenizer.model"),
        "--profile",
        "pi0ros",
    ]
    assert cli.main(argv) == 0
    assert "converting" in capsys.readouterr().err  # the tqdm progress bar
    assert inspect_json(dst, capsys)["source"]["kind"] == "lerobot"
    actions = Pi0Policy.from_checkpoint(dst).infer(raw_observation())["actions"]
    expected = load("outputs/actions_unnormalized.npy")[0]
    np.testing.assert_allclose(actions, expected, atol=ACTIONS_ATOL, rtol=0)


def test_convert_with_explicit_norm_stats(tmp_path):
    src = make_lerobot_dir(tmp_path / "lerobot")
    stats = {"state": NormStats.identity(14), "actions": NormStats(mean=np.full(20, 2.0), std=np.ones(20))}
    stats_file = save_norm_stats(tmp_path / "mine.json", stats)
    dst = tmp_path / "ours"
    argv = [
        "checkpoint",
        "convert",
        str(src),
        str(dst),
        "--norm-stats",
        str(stats_file),
        "--no-progress",
        "--tokenizer",
        str(FIXTURE / "tokenizer" / "tokenizer.model"),
        "--profile",
        "pi0ros",
    ]
    assert cli.main(argv) == 0
    info = read_checkpoint(dst)
    assert info.norm_stats["actions"].dim == 20 and (info.norm_stats["actions"].mean == 2.0).all()
    assert info.action_dim == 14  # from LeRobot's config, not from the longer statistics


@pytest.mark.parametrize(
    "argv,message",
    [
        (["inspect", "{tmp}/nowhere"], "checkpoint directory not found: .*nowhere"),
        (["convert", "{tmp}/nowhere", "{tmp}/out"], "checkpoint directory not found"),
        (
            ["random", "{tmp}/r", "--state-dim", "40", "--action-dim", "2"],
            "state_dim 40 > the model's max_state_dim",
        ),
        (
            ["random", "{tmp}/r", "--preset", "pi0_huge", "--state-dim", "2", "--action-dim", "2"],
            "unknown π0 config",
        ),
    ],
)
def test_errors_exit_1_with_a_message(tmp_path, capsys, argv, message):
    argv = ["checkpoint", *[a.format(tmp=tmp_path) for a in argv]]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("pi0 checkpoint: ")
    assert re.search(message, err), err


def test_convert_records_the_profile_detected_or_given(tmp_path, capsys):
    src = make_lerobot_dir(tmp_path / "lerobot")  # camera keys base_0_rgb...: nothing says the robot
    tokenizer = str(FIXTURE / "tokenizer" / "tokenizer.model")
    argv = ["checkpoint", "convert", str(src), str(tmp_path / "x"), "--tokenizer", tokenizer, "--no-progress"]
    assert cli.main(argv) == 1
    assert "give --profile, one of ['lerobot_aloha'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before writing anything
    # openpi's pi0_aloha_sim: its asset id is its dataset; no --profile needed
    sim = tmp_path / "openpi_sim"
    (sim / "assets" / "lerobot" / "aloha_sim_transfer_cube_human").mkdir(parents=True)
    (sim / "model.safetensors").symlink_to(src / "model.safetensors")
    # openpi saves statistics under assets/<asset id>: pi0_aloha_sim's id is its dataset (nested)
    save_norm_stats(sim / "assets" / "lerobot" / "aloha_sim_transfer_cube_human" / "norm_stats.json",
                    {"state": NormStats.identity(14), "actions": NormStats.identity(14)})
    assert inspect_json(sim, capsys)["profile"].startswith("openpi_aloha_sim (embodiments ['bimanual_trossen']")
    dst = tmp_path / "sim_ours"
    argv = ["checkpoint", "convert", str(sim), str(dst), "--tokenizer", tokenizer, "--no-progress"]
    assert cli.main(argv) == 0
    assert "convention profile openpi_aloha_sim, detected" in capsys.readouterr().out
    assert json.loads((dst / "config.json").read_text())["profile"] == "openpi_aloha_sim"
    assert inspect_json(dst, capsys)["profile"].startswith("openpi_aloha_sim")
    policy = Pi0Policy.from_checkpoint(dst)
    assert policy.metadata["profile"] == "openpi_aloha_sim" and policy.profile.image_resize == "antialias"
    # its default prompt fills an empty one
    obs = raw_observation()
    empty = policy.infer({**obs, "prompt": ""})["actions"]
    np.testing.assert_array_equal(empty, policy.infer({**obs, "prompt": "Transfer cube"})["actions"])
    assert np.abs(empty - policy.infer({**obs, "prompt": "fold the towel"})["actions"]).max() > 1e-4
    # given explicitly
    mine = tmp_path / "given"
    argv = ["checkpoint", "convert", str(src), str(mine), "--tokenizer", tokenizer, "--profile", "lerobot_aloha",
            "--no-progress"]
    assert cli.main(argv) == 0
    meta = json.loads((mine / "config.json").read_text())
    assert meta["profile"] == "lerobot_aloha" and meta["source"]["profile_chosen"] == "given"
    assert cli.main([*argv[:-3], "--profile", "openpi_kuka", "--force"]) == 1
    assert "unknown convention profile 'openpi_kuka'" in capsys.readouterr().err
