"""`pi0 eval --sim mujoco`: the MuJoCo ALOHA simulator's tasks through the same evaluation as the
kinematic tasks, end to end over DDS: the scripted ACT expert succeeds (reward 4 from the
simulator's ~/task), a random pi0_tiny checkpoint runs closed loop in its own process on the
simulator's /clock at half speed, `pi0 record --use-sim-time` next to it records the episode
with its success mark, and bad arguments get one-line errors."""
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
                     "--episode-s", "2", "--param", "num_steps:=2", "--time-scale", "0.5", "--gif-episodes", "0",
                     "--out", str(out)]) == 0
    summary, episodes, table = read_outputs(out)
    assert "| untrained pi0_tiny | insertion | 1 | 0 % (0/1) | 0–79 % | – |" in table
    episode = summary["episodes"][0]
    assert (episode["success"], episode["max_reward"], episode["instruction"]) == \
        (False, 0, "Insert the peg into the socket")
    assert episode["commands"] > 0, "the policy node sent no trajectories"
    assert 2.0 <= episode["duration"] < 3.0  # simulated seconds (the simulator's /clock at half wall speed)
    assert summary["config"]["time_scale"] == 0.5
    timing = summary["policy_timing"]["bimanual_trossen"]
    assert timing["chunks"] > 0 and timing["replan_period_s"] == pytest.approx(0.5)
    log = (out / "logs" / "bimanual_trossen" / "pi0_policy.log").read_text()
    assert log.count("configured: bimanual_trossen") == 1
    assert not list(out.glob("*.gif"))


def test_pi0_record_during_eval_records_the_mujoco_episode_with_its_success(tmp_path):
    """`pi0 record --use-sim-time` next to `pi0 eval --sim mujoco --expert` (the simulator's
    /clock): the episode's markers with its result, and a dataset whose actions line up with the
    physics' joint states (commands and frames on one clock)."""
    import threading

    import numpy as np

    from pi0_bringup.commands.record import record
    from pi0_policy.data.convert import convert_bags
    from pi0_policy.data.lerobot import read_dataset
    from pi0_policy.policy.adapters import EmbodimentAdapter
    from pi0_hw_interfaces.embodiment import load_embodiment

    bag, result = tmp_path / "bag", {}
    thread = threading.Thread(target=lambda: result.update(record(
        bag, "bimanual_trossen", duration=120.0, episodes=1, log=lambda *_: None, use_sim_time=True,
        clock_timeout=60.0)))
    thread.start()
    try:
        assert cli.main(["eval", "--sim", "mujoco", "--expert", "--tasks", "transfer_cube", "--episodes", "1",
                         "--seed", "5", "--after-success", "0.5", "--gif-episodes", "0",
                         "--out", str(tmp_path / "eval")]) == 0
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive(), "the recorder did not stop at the episode's end marker"
    (marked,) = result["episodes"]
    eval_episode = json.loads((tmp_path / "eval" / "results.json").read_text())["episodes"][0]
    # the end marker carries the episode's result as pi0 eval measured it (the expert's own
    # success is test_eval_mujoco_expert_succeeds_with_the_simulators_reward's to check)
    assert (marked["task"], marked["seed"], marked["success"]) == ("transfer_cube", 5, eval_episode["success"])
    summary = convert_bags([bag], tmp_path / "ds", "bimanual_trossen", progress=False)
    data = read_dataset(tmp_path / "ds")
    assert summary["episodes"] == 1 and summary["tasks"] == ["Transfer cube"]
    # frames at 50 Hz over the episode (to success + 0.5 s), from the first moment every camera had an image
    assert 0.6 * eval_episode["duration"] * 50 <= len(data) <= eval_episode["duration"] * 50 + 10
    adapter = EmbodimentAdapter(load_embodiment("bimanual_trossen"))
    arms = [i for i, n in enumerate(adapter.state_names) if "gripper" not in n]
    # the commanded arm joints lead the physics by a few control periods; on a wrong clock they
    # would be a trajectory's end (0.1-0.5 rad off while the arms move)
    assert np.median(np.abs(data.action[:, arms] - data.state[:, arms])) < 0.03
    assert np.abs(data.state[-1, arms] - data.state[0, arms]).max() > 0.3  # the arms did move
