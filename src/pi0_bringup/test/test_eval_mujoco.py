"""`pi0 eval --sim mujoco`: the MuJoCo ALOHA simulator's tasks through the same evaluation as the
kinematic tasks, end to end over DDS: the scripted ACT expert succeeds (reward 4 from the
simulator's ~/task), a random pi0_tiny checkpoint runs closed loop in its own process, and bad
arguments get one-line errors."""
import csv
import json

import pytest
from PIL import Image

from pi0_bringup import cli


def read_outputs(out):
    summary = json.loads((out / "results.json").read_text())
    with (out / "episodes.csv").open() as f:
        episodes = list(csv.DictReader(f))
    return summary, episodes, (out / "table.md").read_text()


def test_bad_mujoco_arguments_are_one_line_errors(capsys, tmp_path):
    cases = [
        (["--sim", "mujoco", "--expert", "--tasks", "ur5e_reach"],
         "unknown task 'ur5e_reach'; choose one of transfer_cube, insertion (ur5e_reach is a --sim kinematic task)"),
        (["--expert", "--tasks", "transfer_cube"], "unknown task 'transfer_cube'; choose one of"),
        (["--expert", "--tasks", "transfer_cube"], "(transfer_cube is a --sim mujoco task)"),
        (["--sim", "mujoco", "--expert", "--wrong-instruction"],
         "--wrong-instruction names another colour: only the kinematic tasks have colours, not --sim mujoco"),
        (["--sim", "mujoco", "--expert", "--time-scale", "0"], "--time-scale must be > 0, got 0.0"),
    ]
    for argv, message in cases:
        assert cli.main(["eval", *argv, "--out", str(tmp_path / "out")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (argv, err)


def test_eval_mujoco_expert_succeeds_with_the_simulators_reward(tmp_path, capsys):
    out = tmp_path / "expert"
    assert cli.main(["eval", "--sim", "mujoco", "--expert", "--tasks", "AlohaTransferCube-v0", "--episodes", "2",
                     "--seed", "3", "--gif-episodes", "1", "--out", str(out)]) == 0
    summary, episodes, table = read_outputs(out)
    assert "| expert | transfer_cube | 2 | 100 % (2/2) | 34–100 % |" in table
    assert table.strip() in capsys.readouterr().out
    row = summary["summary"][0]
    assert (row["task"], row["episodes"], row["successes"], row["success_rate"]) == ("transfer_cube", 2, 2, 1.0)
    assert row["ci95_low"] == pytest.approx(0.3424, abs=1e-4) and row["ci95_high"] == 1.0
    assert summary["config"]["sim"] == "mujoco" and summary["config"]["tasks"] == ["AlohaTransferCube-v0"]
    for e, seed in zip(summary["episodes"], (3, 4)):
        assert (e["task"], e["seed"], e["success"], e["max_reward"], e["instruction"]) == \
            ("transfer_cube", seed, True, 4, "Transfer cube")
        # ACT's transfer happens after ~4 s of the 8 s episode; the episode ends at success
        assert 2.0 < e["success_time"] <= e["duration"] < 8.0 and e["commands"] > 0
    assert [(e["seed"], e["success"], e["max_reward"]) for e in episodes] == [("3", "True", "4"), ("4", "True", "4")]
    gif = Image.open(out / "transfer_cube.gif")
    assert gif.n_frames >= 5 and gif.size[0] == 3 * 96
    assert summary["policy_timing"] == {}


def test_eval_mujoco_runs_a_random_checkpoint_closed_loop(tmp_path, capsys):
    out = tmp_path / "untrained"
    assert cli.main(["eval", "--sim", "mujoco", "--untrained", "--tasks", "insertion", "--episodes", "1",
                     "--episode-s", "2", "--param", "num_steps:=2", "--gif-episodes", "0", "--out", str(out)]) == 0
    summary, episodes, table = read_outputs(out)
    assert "| untrained pi0_tiny | insertion | 1 | 0 % (0/1) | 0–79 % | – |" in table
    episode = summary["episodes"][0]
    assert (episode["success"], episode["max_reward"], episode["instruction"]) == \
        (False, 0, "Insert the peg into the socket")
    assert episode["commands"] > 0, "the policy node sent no trajectories"
    assert 2.0 <= episode["duration"] < 3.0  # simulated seconds (the simulator's /clock)
    timing = summary["policy_timing"]["bimanual_trossen"]
    assert timing["chunks"] > 0 and timing["replan_period_s"] == pytest.approx(0.5)
    log = (out / "logs" / "bimanual_trossen" / "pi0_policy.log").read_text()
    assert log.count("configured: bimanual_trossen") == 1
    assert not list(out.glob("*.gif"))
