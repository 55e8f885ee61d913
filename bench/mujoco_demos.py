"""Scripted-expert demonstrations on the MuJoCo ALOHA tasks as a LeRobot v3 dataset (for `pi0 train`).

    python bench/mujoco_demos.py --out data/aloha_sim_expert --episodes 25 [--tasks transfer_cube insertion]
        [--first-seed 1000] [--image-size 112]

Each episode: reset with seed s, the expert's plan (`mujoco_sim.expert.plan`) replayed through the
followers in simulated time (as bench/mujoco_expert.py), one frame per control step (50 Hz): the
top camera (`base`, the only camera of gym-aloha's and LeRobot's aloha_sim data) rendered at
--image-size square before the step, the measured joint positions, and as the action the
expert's commanded position for the end of the step (its target at t_k + dt, as `pi0 dataset
convert` reads commands from a bag). State and actions are stored absolute in the adapter's model
space (sign flips, grippers in [0, 1]) exactly as `pi0_policy.data.convert` stores converted bags,
with `norm_stats.json` beside them; the prompt is the task's (`aloha.yaml`). Seeds default to
1000 and up so that evaluation seeds 0-49 are never trained on. Only successful episodes are kept
(the expert succeeds on all seeds tested). Check the result with `pi0 dataset info OUT`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import pi0_hw_interfaces.mujoco_sim  # noqa: F401  (sets MUJOCO_GL before mujoco loads)
from pi0_hw_interfaces.mujoco_sim import expert
from pi0_hw_interfaces.mujoco_sim.robot import EPOCH, PhysicsRobot
from pi0_hw_interfaces.mujoco_sim.scene import Cameras, task_names

EMBODIMENT = "bimanual_trossen"
ROLE = "base"


def demonstration(robot: PhysicsRobot, cameras: Cameras, adapter, seed: int, index: int, steps: int | None = None):
    """One expert episode as a `pi0_policy.data.episodes.Episode` (model space, top camera)."""
    from pi0_policy.data.episodes import Episode, _absolute_model_actions

    spec, scene = robot.spec, robot.scene
    robot.reset(seed)
    plan = expert.plan(scene, steps)
    names = list(spec.joint_names)
    for controller, slots in robot.slots.items():
        robot.accept(controller, [names[i] for i in slots], plan.times, plan.positions[:, slots], EPOCH, EPOCH)
    steps = len(plan.times)
    images = np.zeros((steps, cameras.renderer.height, cameras.renderer.width, 3), np.uint8)
    state = np.zeros((steps, len(adapter.state_names)), np.float32)
    actions = np.zeros((steps, len(adapter.action_names)), np.float32)
    action_cols = [names.index(n) for n in adapter.action_names]
    for k in range(steps):
        images[k] = cameras.render(scene.data, ROLE)
        positions = dict(zip(names, scene.positions().tolist()))
        state[k] = adapter.encode_state(adapter.state_vector(positions))
        actions[k] = _absolute_model_actions(adapter, plan.positions[k, action_cols], positions)
        robot.control(EPOCH + k * spec.dt)
        robot.advance(scene.substeps)
    prompt = scene.task_config["prompt"]
    return Episode(bag="mujoco_expert", index=index, instruction=prompt, times=np.arange(steps) * spec.dt,
                   state=state, actions=actions, images={ROLE: images}, task=scene.task, seed=seed,
                   success=scene.success)


def write_dataset(out: str | Path, tasks, seeds, image_size: int = 112, horizon: int = 50,
                  steps: int | None = None, only_success: bool = True) -> dict:
    """The demonstrations of every (task, seed) as a dataset at `out`; a summary."""
    from pi0_policy.data.convert import open_writer, save_episode_norm_stats

    out = Path(out)
    spec, adapter, writer = open_writer(out, EMBODIMENT)
    kept, failed, start = [], [], time.perf_counter()
    try:
        for task in tasks:
            robot = PhysicsRobot(spec, task)
            cameras = Cameras(robot.scene.model, image_size, image_size)
            try:
                for seed in tqdm(seeds, desc=f"demos {task}", file=sys.stderr):
                    episode = demonstration(robot, cameras, adapter, seed, len(kept), steps)
                    if only_success and not episode.success:
                        failed.append((task, seed))
                        continue
                    writer.add(episode)
                    episode.images = {}
                    kept.append(episode)
            finally:
                cameras.close()
        if not kept:
            raise ValueError("no successful demonstration")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    frames = save_episode_norm_stats(out, kept, horizon, adapter)
    return {"episodes": len(kept), "frames": frames, "failed": failed, "path": str(out),
            "seconds": time.perf_counter() - start}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--episodes", type=int, default=25, help="per task")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--tasks", nargs="+", default=task_names(), choices=task_names())
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--horizon", type=int, default=50, help="chunk length of the norm stats")
    parser.add_argument("--steps", type=int, default=0, help="control steps per episode; 0 = the task's (400)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.image_size % 2:
        parser.error(f"--episodes must be >= 1 and --image-size even, got {args.episodes} and {args.image_size}")
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    summary = write_dataset(args.out, args.tasks, seeds, args.image_size, args.horizon, args.steps or None)
    print(f"wrote {summary['episodes']} episodes ({summary['frames']} frames at 50 Hz, top camera "
          f"{args.image_size}x{args.image_size}) of {args.tasks}, seeds {seeds[0]}..{seeds[-1]}, to {summary['path']} "
          f"in {summary['seconds']:.0f} s; failed (dropped): {summary['failed'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
