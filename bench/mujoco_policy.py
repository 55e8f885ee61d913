"""Success rate of a π0 checkpoint closed loop on the MuJoCo ALOHA tasks, in simulated time.

    python bench/mujoco_policy.py --untrained --episodes 50 [--tasks transfer_cube insertion]
    python bench/mujoco_policy.py --checkpoint DIR --episodes 50 [--first-seed 0] [--threads 1]
        [--out results.json]

Each episode: reset with seed s (object poses as gym-aloha samples them), then 400 control steps
at 50 Hz. Every `replan` steps (the spec's replan_interval: 25 for bimanual_trossen) the cameras
the checkpoint uses are rendered at its image size (square, no shadows), the joint positions are
read from the physics, and the policy runs as the node runs it: the embodiment adapter
(`policy/adapters.py`, the checkpoint's convention profile) encodes the observation, `Pi0Policy`
infers a chunk, the adapter decodes it (clamped to the joint limits), and `plan_chunk`
(policy/chunking.py, the node's planning step: velocity cap from the measured position, clamp)
schedules it; the chunk goes to the same joint_trajectory_controller followers as the expert's
(`mujoco_sim.robot.PhysicsRobot`). Simulated time stands still while the model runs (the
ideal of zero latency; the ROS node adds the real one), so no action is late and none is dropped.
The flow-matching noise of each chunk comes from a generator seeded with the episode seed, so a
run is reproducible. Success = the task's reward reached 4 (gym-aloha's is_success) at any step.

`--untrained` makes (once, in the pi0-ros cache folder) a randomly initialised pi0_tiny
checkpoint for bimanual_trossen (`pi0_bringup.checkpoints.random_checkpoint`, weight seed
`--weights-seed`): the floor a trained policy must beat.

A checkpoint with fewer cameras than the adapter's three (e.g. trained on the top camera only,
as gym-aloha's data) gets only its own cameras here; the ROS node's adapter refuses such a
checkpoint unless the adapter's camera list says so (`check_image_keys`).
Prints the success table (Wilson 95 % intervals, `pi0_bringup.evaluation.stats`), per-episode wall
time and inference time; --out writes every episode's record as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

import pi0_hw_interfaces.mujoco_sim  # noqa: F401  (sets MUJOCO_GL before mujoco loads)
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.mujoco_sim.robot import EPOCH, PhysicsRobot
from pi0_hw_interfaces.mujoco_sim.scene import Cameras, task_names
from pi0_hw_interfaces.trajectory import TrajectoryError

EMBODIMENT = "bimanual_trossen"


class PolicyRunner:
    """A checkpoint with the node's adapter and planning settings for one embodiment spec."""

    def __init__(self, checkpoint: str | Path, spec, threads: int = 1, num_steps: int | None = None):
        from pi0_policy.policy.adapters import EmbodimentAdapter, load_adapter_config
        from pi0_policy.policy.chunking import PlanSettings
        from pi0_policy.policy.local import Pi0Policy

        self.spec = spec
        self.policy = Pi0Policy.from_checkpoint(checkpoint, num_threads=threads, num_steps=num_steps)
        meta = self.policy.metadata
        if (meta["state_dim"], meta["action_dim"]) != (spec.state_dim, spec.action_dim):
            raise ValueError(f"checkpoint {checkpoint} has state_dim {meta['state_dim']} and action_dim "
                             f"{meta['action_dim']}; {spec.name} needs {spec.state_dim} and {spec.action_dim}")
        config = load_adapter_config(spec.name)
        # Only the checkpoint's cameras (a 1-camera checkpoint gets the top camera alone).
        config = replace(config, cameras={r: k for r, k in config.cameras.items() if k in meta["image_keys"]})
        self.adapter = EmbodimentAdapter(spec, config, profile=meta.get("profile"))
        self.adapter.check_image_keys(meta["image_keys"])
        self.roles = list(self.adapter.camera_keys)
        self.image_size = self.policy.info.config.vision.image_size
        self.noise_shape = (self.policy.info.config.action_horizon, self.policy.info.config.max_action_dim)
        self.joint_cols = tuple(i for i, d in enumerate(spec.action_dims) if d.kind != "base")
        names = list(self.adapter.action_names)
        self.joint_names = [names[i] for i in self.joint_cols]
        # As the node: open loop, velocity cap and clamp; no lead (simulated time waits for the model).
        self.settings = PlanSettings(dt=spec.dt, joint_cols=self.joint_cols,
                                     max_velocity=spec.limits(self.joint_names)[2], clamp=self.adapter.clamp)
        lower, upper, _ = spec.limits(names)
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)

    def chunk(self, images: dict, positions: np.ndarray, prompt: str, now: float, rng: np.random.Generator):
        """The node's chunk (`ScheduledChunk`, robot space) for an observation taken at `now`, and
        the seconds of inference."""
        from pi0_policy.policy.chunking import plan_chunk

        by_name = dict(zip(self.spec.joint_names, positions.tolist()))
        obs = self.adapter.encode({"images": images, "positions": by_name, "prompt": prompt})
        obs["noise"] = rng.standard_normal(self.noise_shape).astype(np.float32)
        start = time.perf_counter()
        out = self.policy.infer(obs)
        seconds = time.perf_counter() - start
        actions = self.adapter.decode(out["actions"], by_name)
        current = np.array([by_name[j] for j in self.joint_names])
        plan = plan_chunk(actions, now, now, current, (), self.settings)
        if plan.chunk is None:
            raise RuntimeError(f"no chunk: {plan.reason}")
        return plan.chunk, seconds


def run_episode(robot: PhysicsRobot, cameras: Cameras, runner: PolicyRunner, seed: int,
                steps: int | None = None, replan: int | None = None) -> dict:
    """One seeded closed-loop episode in simulated time; its record (see the module doc)."""
    spec, scene = robot.spec, robot.scene
    robot.reset(seed)
    steps = int(steps or scene.task_config["episode_steps"])
    replan = int(replan or spec.replan_interval)
    prompt = scene.task_config["prompt"]
    rng = np.random.default_rng(seed)
    names = list(spec.joint_names)
    action_names = list(runner.adapter.action_names)
    start = time.perf_counter()
    inference, chunks, rejected, outside, success_step = 0.0, 0, [], 0, None
    low = np.full(len(action_names), np.inf)
    high = np.full(len(action_names), -np.inf)
    for k in range(steps):
        now = EPOCH + k * spec.dt
        if k % replan == 0:
            images = {role: cameras.render(scene.data, role) for role in runner.roles}
            chunk, seconds = runner.chunk(images, scene.positions(), prompt, now, rng)
            inference += seconds
            chunks += 1
            low, high = np.minimum(low, chunk.actions.min(0)), np.maximum(high, chunk.actions.max(0))
            outside += int(((chunk.actions < runner.lower - 1e-9) | (chunk.actions > runner.upper + 1e-9)).sum())
            for controller, slots in robot.slots.items():
                joints = [names[i] for i in slots]
                cols = [action_names.index(j) for j in joints]
                try:
                    robot.accept(controller, joints, chunk.times_from_start, chunk.actions[:, cols], chunk.start, now)
                except TrajectoryError as err:  # counted: the follower keeps its old trajectory
                    rejected.append(f"{controller}: {err}")
        robot.control(now)
        robot.advance(scene.substeps)
        if success_step is None and scene.success:
            success_step = k + 1
    return {"model": "", "task": scene.task, "seed": seed, "episode": seed, "instruction": prompt,
            "success": scene.success, "reward": scene.best_reward,
            "success_time": None if success_step is None else success_step * spec.dt,
            "duration": steps * spec.dt, "commands": chunks, "wall_s": time.perf_counter() - start,
            "inference_s": inference, "rejected": rejected, "actions_outside_limits": outside,
            "action_min": low.tolist(), "action_max": high.tolist()}


def evaluate(checkpoint, tasks, seeds, model: str, threads: int = 1, steps: int | None = None,
             replan: int | None = None, num_steps: int | None = None) -> tuple[list[dict], PolicyRunner]:
    """Every (task, seed) episode's record, task by task."""
    spec = load_embodiment(EMBODIMENT)
    runner = PolicyRunner(checkpoint, spec, threads=threads, num_steps=num_steps)
    results = []
    for task in tasks:
        robot = PhysicsRobot(spec, task)
        cameras = Cameras(robot.scene.model, runner.image_size, runner.image_size)
        try:
            for seed in tqdm(seeds, desc=f"{model} {task}", file=sys.stderr):
                results.append({**run_episode(robot, cameras, runner, seed, steps, replan), "model": model})
        finally:
            cameras.close()
    return results, runner


def untrained_checkpoint(weights_seed: int = 0) -> Path:
    from pi0_bringup.checkpoints import random_checkpoint

    return random_checkpoint(load_embodiment(EMBODIMENT), seed=weights_seed)


def main(argv=None) -> int:
    from pi0_bringup.evaluation.stats import format_table, summarize

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a π0 checkpoint directory for bimanual_trossen")
    source.add_argument("--untrained", action="store_true", help="a random pi0_tiny checkpoint")
    parser.add_argument("--weights-seed", type=int, default=0, help="--untrained: the random weights' seed")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=task_names(), choices=task_names())
    parser.add_argument("--steps", type=int, default=0, help="control steps per episode; 0 = the task's (400)")
    parser.add_argument("--replan", type=int, default=0, help="actions per chunk executed; 0 = the spec's (25)")
    parser.add_argument("--num-steps", type=int, default=0, help="flow-matching steps; 0 = the checkpoint's")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--model", default="", help="the model's name in the table")
    parser.add_argument("--out", default="", help="write the episode records to this JSON file")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    checkpoint = untrained_checkpoint(args.weights_seed) if args.untrained else Path(args.checkpoint)
    model = args.model or (f"untrained pi0_tiny (weights seed {args.weights_seed})" if args.untrained
                           else checkpoint.name)
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    results, runner = evaluate(checkpoint, args.tasks, seeds, model, args.threads, args.steps or None,
                               args.replan or None, args.num_steps or None)
    print(f"checkpoint {checkpoint}: cameras {runner.roles} at {runner.image_size}x{runner.image_size}, "
          f"{runner.policy.num_steps} flow steps, {args.threads} torch thread(s); seeds {seeds[0]}..{seeds[-1]}")
    print(format_table(summarize(results)))
    print()
    print("| task | mean best reward | rewards (best per episode: count) | wall s/episode | inference s/episode "
          "| chunks/episode | rejected | actions outside limits |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for task in args.tasks:
        group = [r for r in results if r["task"] == task]
        rewards = [r["reward"] for r in group]
        counts = {v: rewards.count(v) for v in sorted(set(rewards))}
        print(f"| {task} | {np.mean(rewards):.2f} | {counts} | {np.mean([r['wall_s'] for r in group]):.2f} "
              f"| {np.mean([r['inference_s'] for r in group]):.2f} | {np.mean([r['commands'] for r in group]):.0f} "
              f"| {sum(len(r['rejected']) for r in group)} | {sum(r['actions_outside_limits'] for r in group)} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"checkpoint": str(checkpoint), "seeds": seeds, "episodes": results},
                                             indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
