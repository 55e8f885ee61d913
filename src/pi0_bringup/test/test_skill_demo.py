"""`pi0 demo`'s default: the committed checkpoint, trained by this project's pipeline, does its
task closed loop (policy node in its own process, over DDS) and the demo reports it."""
import json

import pytest
from PIL import Image

from pi0_bringup import cli, skill_demo
from pi0_bringup.commands.demo import pipeline_mode
from pi0_bringup.monitor import replan_coverage
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.tasks import load_task


@pytest.mark.parametrize("embodiment", ["ur5e", "bimanual_trossen"])
def test_committed_demo_checkpoints_fit_their_tasks(embodiment):
    folder = skill_demo.demo_checkpoint(embodiment)
    config = json.loads((folder / "config.json").read_text())
    spec = load_embodiment(embodiment)
    assert (config["state_dim"], config["action_dim"]) == (spec.state_dim, spec.action_dim)
    assert config["source"]["kind"] == "trained" and config["source"]["step"] >= 1000
    tasks = skill_demo.trained_tasks(embodiment)
    assert tasks and all(load_task(t).embodiment == embodiment for t in tasks)
    assert (folder / "model.safetensors").stat().st_size < 5_000_000, "keep the committed checkpoint small"
    losses = [json.loads(line)["loss"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.5 * losses[0], "the committed checkpoint's training loss did not fall"


def test_missing_demo_checkpoint_names_the_ones_there():
    with pytest.raises(FileNotFoundError, match="no trained demo checkpoint for 'franka'; there are: "
                                                "bimanual_trossen, ur5e"):
        skill_demo.demo_checkpoint("franka")


def test_replan_coverage_counts_points_of_the_acting_time():
    spec = load_embodiment("ur5e")  # 20 Hz, replan every 16 actions: a point every 0.8 s
    assert replan_coverage(9, 8.0, spec) == (9, 10)
    assert replan_coverage(14, 8.0, spec) == (10, 10)
    assert replan_coverage(0, 0.1, spec) == (0, 1)


def test_mode_is_the_skill_demo_unless_random_robot_or_checkpoint():
    parse = cli.build_parser().parse_args
    assert not pipeline_mode(parse(["demo"]))
    for extra in (["--random"], ["--robot", "ur5e"], ["--checkpoint", "x"]):
        assert pipeline_mode(parse(["demo", *extra])), extra


def test_demo_refuses_a_task_without_a_trained_checkpoint(capsys, tmp_path):
    assert cli.main(["demo", "--task", "franka_reach", "--out", str(tmp_path)]) == 2
    assert "no trained demo checkpoint for 'franka'" in capsys.readouterr().out
    assert cli.main(["demo", "--task", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().out


def test_skill_demo_reaches_targets_with_the_trained_checkpoint(tmp_path, capsys):
    out = tmp_path / "demo_out"
    assert cli.main(["demo", "--episodes", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "trained by this project's pipeline" in text and "'ur5e_reach'" in text
    episodes = [line for line in text.splitlines() if line.startswith("  episode ")]
    assert len(episodes) == 3 and all("reach the " in line for line in episodes)
    successes = sum("success after" in line for line in episodes)
    assert f"success                {successes}/3 episodes" in text
    rewards = [float(line.rsplit("final reward ", 1)[1]) for line in episodes]
    # An untrained pi0_tiny ends every ur5e_reach episode with reward 0.00 (50 of 50, README): the
    # trained one ends near its target (0.58 mean final reward over 8 episodes at 4000 steps).
    assert sum(rewards) / 3 >= 0.35, text
    assert "mean final reward" in text
    assert "inference p50" in text and "replan points" in text
    gif = Image.open(out / "ur5e_reach.gif")
    assert gif.n_frames >= 5
