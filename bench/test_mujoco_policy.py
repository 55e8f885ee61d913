"""bench/mujoco_policy.py: a random π0 closed loop on the MuJoCo ALOHA scene in simulated time
(a real pi0_tiny forward per chunk, real physics, the node's adapter and planning step)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import load_bench

IMAGE_SIZE = 56  # a small square render keeps the test fast; the bench renders at the checkpoint's size


@pytest.fixture(scope="module")
def bench():
    return load_bench("mujoco_policy")


def make_checkpoint(path: Path, image_keys=("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")) -> Path:
    from pi0_policy.model.config import get_config
    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint

    vision = dataclasses.replace(get_config("pi0_tiny").vision, image_size=IMAGE_SIZE)
    return make_random_checkpoint(path, "pi0_tiny", 14, 14, seed=3, image_keys=tuple(image_keys), vision=vision,
                                  num_cameras=len(image_keys), num_steps=2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "random_tiny")


def test_closed_loop_runs_the_policy_within_joint_limits(bench, checkpoint):
    from pi0_hw_interfaces.embodiment import load_embodiment

    steps, replan = 60, 25
    results, runner = bench.evaluate(checkpoint, ["transfer_cube"], [0, 1], "random", steps=steps, replan=replan)
    assert runner.roles == ["base", "left_wrist", "right_wrist"] and runner.image_size == IMAGE_SIZE
    assert [r["seed"] for r in results] == [0, 1]
    spec = load_embodiment("bimanual_trossen")
    lower, upper, _ = spec.limits([d.name for d in spec.action_dims])
    for r in results:
        assert r["commands"] == 3                      # steps 0, 25, 50: one inference each
        assert r["inference_s"] > 0 and r["wall_s"] >= r["inference_s"]
        assert r["duration"] == pytest.approx(steps * spec.dt)
        assert r["task"] == "transfer_cube" and r["reward"] in range(5) and r["success"] == (r["reward"] == 4)
        assert r["rejected"] == [] and r["actions_outside_limits"] == 0
        assert np.all(np.array(r["action_min"]) >= lower - 1e-9) and np.all(np.array(r["action_max"]) <= upper + 1e-9)
        # the random policy's chunks moved the commands: not the held start pose
        assert np.max(np.array(r["action_max"]) - np.array(r["action_min"])) > 0.05
    # seeded noise and object poses: the same seed gives the same episode
    again, _ = bench.evaluate(checkpoint, ["transfer_cube"], [1], "random", steps=steps, replan=replan)
    np.testing.assert_allclose(again[0]["action_min"], results[1]["action_min"], atol=1e-5)
    np.testing.assert_allclose(again[0]["action_max"], results[1]["action_max"], atol=1e-5)


def test_episode_moves_the_physics_as_the_chunk_commands(bench, checkpoint):
    from pi0_hw_interfaces.embodiment import load_embodiment
    from pi0_hw_interfaces.mujoco_sim.robot import PhysicsRobot
    from pi0_hw_interfaces.mujoco_sim.scene import Cameras

    spec = load_embodiment("bimanual_trossen")
    runner = bench.PolicyRunner(checkpoint, spec)
    robot = PhysicsRobot(spec, "insertion")
    cameras = Cameras(robot.scene.model, IMAGE_SIZE, IMAGE_SIZE)
    try:
        start = robot.scene.start_positions()
        record = bench.run_episode(robot, cameras, runner, seed=2, steps=50, replan=50)
    finally:
        cameras.close()
    assert record["commands"] == 1 and record["task"] == "insertion"
    commanded = robot.commanded()
    lower, upper, _ = spec.limits(spec.joint_names)
    assert np.all(commanded >= lower) and np.all(commanded <= upper)
    assert np.max(np.abs(robot.scene.positions() - start)) > 0.02  # the arms followed the policy's chunk


def test_one_camera_checkpoint_gets_only_the_top_camera_and_main_prints_the_table(bench, tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "top_only", image_keys=("base_0_rgb",))
    out_file = tmp_path / "episodes.json"
    assert bench.main(["--checkpoint", str(ckpt), "--episodes", "2", "--steps", "30", "--tasks", "insertion",
                       "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "cameras ['base']" in out and f"at {IMAGE_SIZE}x{IMAGE_SIZE}" in out
    assert "| top_only | insertion | 2 |" in out and "95 % CI" in out
    assert out_file.is_file()
    with pytest.raises(SystemExit):
        bench.main(["--checkpoint", str(ckpt), "--episodes", "0"])
