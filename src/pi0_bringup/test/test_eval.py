"""`pi0 eval`: statistics, argument errors, and end to end over DDS with the policy node in its
own process (a random pi0_tiny checkpoint) and with the scripted expert."""
import csv
import json

import pytest
from PIL import Image

from pi0_bringup import cli
from pi0_bringup.checkpoints import random_checkpoint
from pi0_bringup.evaluation import stats
from pi0_hw_interfaces.embodiment import load_embodiment


def test_wilson_interval_matches_known_values():
    assert stats.wilson_interval(0, 2) == pytest.approx((0.0, 0.6576), abs=1e-4)
    assert stats.wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson_interval(50, 50) == pytest.approx((0.9287, 1.0), abs=1e-4)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)


def test_summary_rows_and_table():
    results = [{"model": "m", "task": "a", "success": s, "success_time": t}
               for s, t in [(True, 1.0), (False, None), (True, 2.0), (True, 3.0)]]
    results.append({"model": "m", "task": "b", "success": False, "success_time": None})
    rows = stats.summarize(results)
    assert [(r["task"], r["episodes"], r["successes"]) for r in rows] == [("a", 4, 3), ("b", 1, 0)]
    assert rows[0]["success_rate"] == 0.75 and rows[0]["mean_time_to_success"] == 2.0
    assert rows[1]["mean_time_to_success"] is None
    table = stats.format_table(rows)
    assert "| m | a | 4 | 75 % (3/4) | 30–95 % | 2.0 s |" in table
    assert "| m | b | 1 | 0 % (0/1) | 0–79 % | – |" in table


@pytest.fixture(scope="module")
def ur5e_checkpoint(tmp_path_factory):
    return str(random_checkpoint(load_embodiment("ur5e"), tmp_path_factory.mktemp("ckpt") / "ur5e"))


def test_bad_arguments_are_one_line_errors(capsys, tmp_path, ur5e_checkpoint):
    bimanual = str(random_checkpoint(load_embodiment("bimanual_trossen"), tmp_path / "bi"))
    cases = [
        (["eval"], "no checkpoint for the tasks on ur5e, bimanual_trossen: give CHECKPOINT, --untrained or --expert"),
        (["eval", "--expert", "--tasks", "nope"], "unknown task 'nope'; choose one of"),
        (["eval", ur5e_checkpoint, "--expert"], "--expert runs the scripted expert"),
        (["eval", bimanual, "--tasks", "ur5e_reach"], "has state/action dims 14/14; embodiment ur5e needs 7/7"),
        (["eval", f"franka={ur5e_checkpoint}", "--tasks", "ur5e_reach"], "names embodiment 'franka'"),
        (["eval", "--expert", "--episodes", "0"], "--episodes must be >= 1, got 0"),
        (["eval", ur5e_checkpoint, "--param", "num_step:=5"], "has no parameter 'num_step'"),
    ]
    for argv, message in cases:
        assert cli.main(argv + ["--out", str(tmp_path / "out")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (argv, err)


def read_outputs(out):
    summary = json.loads((out / "results.json").read_text())
    with (out / "episodes.csv").open() as f:
        episodes = list(csv.DictReader(f))
    return summary, episodes, (out / "table.md").read_text()


def test_eval_runs_a_random_checkpoint_closed_loop_and_writes_its_table(tmp_path, capsys, ur5e_checkpoint):
    out = tmp_path / "eval"
    argv = ["eval", ur5e_checkpoint, "--tasks", "ur5e_reach", "--episodes", "2", "--seed", "3",
            "--episode-s", "5", "--param", "num_steps:=2", "--gif-episodes", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    summary, episodes, table = read_outputs(out)
    # A random tiny π0 does not hold its effector on a target: 0 of 2 (Wilson 0–66 %).
    assert f"| {ur5e_checkpoint} | ur5e_reach | 2 | 0 % (0/2) | 0–66 % | – |" in table
    assert table.strip() in printed
    assert [(e["seed"], e["success"]) for e in episodes] == [("3", "False"), ("4", "False")]
    assert all(int(e["commands"]) > 0 for e in episodes), "the policy node sent no trajectories"
    assert all(e["instruction"] == e["goal_instruction"] for e in episodes)
    row = summary["summary"][0]
    assert (row["episodes"], row["successes"], row["success_rate"]) == (2, 0, 0.0)
    assert summary["config"]["seed"] == 3 and summary["config"]["checkpoints"] == [ur5e_checkpoint]
    timing = summary["policy_timing"]["ur5e"]
    assert timing["chunks"] > 0 and timing["mean_latency_s"] > 0 and timing["replan_period_s"] == pytest.approx(0.8)
    assert "ur5e: " in printed and "chunks, mean inference" in printed
    gif = Image.open(out / "ur5e_reach.gif")
    assert gif.n_frames >= 5 and gif.size[0] == 3 * 96
    assert (out / "logs" / "ur5e" / "pi0_policy.log").read_text().count("configured: ur5e") == 1


def test_eval_expert_succeeds_and_wrong_instruction_is_recorded(tmp_path):
    out = tmp_path / "expert"
    assert cli.main(["eval", "--expert", "--tasks", "bimanual_gripper", "ur5e_reach", "--episodes", "2",
                     "--gif-episodes", "0", "--out", str(out)]) == 0
    summary, episodes, table = read_outputs(out)
    assert "| expert | bimanual_gripper | 2 | 100 % (2/2) | 34–100 % |" in table
    assert "| expert | ur5e_reach | 2 | 100 % (2/2) | 34–100 % |" in table
    assert not list(out.glob("*.gif"))
    wrong = tmp_path / "wrong"
    # the expert follows the goal, not the text: the wrong instruction is only recorded here
    assert cli.main(["eval", "--expert", "--tasks", "bimanual_gripper", "--episodes", "1", "--wrong-instruction",
                     "--gif-episodes", "0", "--out", str(wrong)]) == 0
    _, episodes, table = read_outputs(wrong)
    assert "expert (wrong instruction)" in table
    named, goal = ([c for c in ("red", "blue") if c in episodes[0][key]]
                   for key in ("instruction", "goal_instruction"))
    assert len(named) == len(goal) == 1 and named != goal


def test_eval_on_a_scaled_simulated_clock(tmp_path):
    """--time-scale: the sim robot, the driver and the expert run on /clock (use_sim_time)."""
    from pi0_bringup.evaluation.clock import ScaledClock

    with pytest.raises(ValueError, match="time scale must be > 0, got 0"):
        ScaledClock(0)
    out = tmp_path / "scaled"
    assert cli.main(["eval", "--expert", "--tasks", "bimanual_gripper", "--episodes", "2", "--time-scale", "0.5",
                     "--gif-episodes", "0", "--out", str(out)]) == 0
    summary, episodes, table = read_outputs(out)
    assert "| expert | bimanual_gripper | 2 | 100 % (2/2) |" in table
    assert summary["config"]["time_scale"] == 0.5
    for e in episodes:  # durations in simulated seconds: success within the task's limit
        assert 0 < float(e["success_time"]) <= float(e["duration"]) < 8.0
