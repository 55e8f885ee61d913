"""`pi0 demo`'s default: a π0 trained by this project's own pipeline doing a simulated task.

The checkpoints in `pi0_bringup/demo_checkpoints/<embodiment>/` were made by
`scripts/train_demo_checkpoints.sh` (scripted expert through ROS → `pi0 record` → `pi0 dataset
convert` → `pi0 train`, on CPU). The demo runs a few episodes of one of their tasks exactly as
`pi0 eval` does (the policy node in its own process, the simulated robot and the episode driver
here, over DDS), prints each episode and a summary, and saves a GIF of the episodes.
"""
from __future__ import annotations

import json
from pathlib import Path

DEMO_CHECKPOINTS = Path(__file__).resolve().parent / "demo_checkpoints"
DEFAULT_TASK = "ur5e_reach"
DEFAULT_EPISODES = 6
DEFAULT_EPISODE_SEED = 20000  # apart from demonstration seeds (0 on) and the README table's (10000 on)


def demo_checkpoint(embodiment: str) -> Path:
    """The committed checkpoint trained for `embodiment`'s tasks; FileNotFoundError naming the
    embodiments that have one."""
    folder = DEMO_CHECKPOINTS / embodiment
    if not (folder / "config.json").is_file():
        have = sorted(p.name for p in DEMO_CHECKPOINTS.iterdir() if (p / "config.json").is_file()) \
            if DEMO_CHECKPOINTS.is_dir() else []
        raise FileNotFoundError(f"no trained demo checkpoint for {embodiment!r}; there are: {', '.join(have) or 'none'}")
    return folder


def trained_tasks(embodiment: str) -> list[str]:
    """Task names listed in the demo checkpoint's `demo.json` (written by the training script)."""
    path = demo_checkpoint(embodiment) / "demo.json"
    return list(json.loads(path.read_text())["tasks"]) if path.is_file() else []


def describe_checkpoint(folder: Path) -> str:
    """One line: preset, image size, training steps, and what it was trained on."""
    config = json.loads((folder / "config.json").read_text())
    source = config.get("source") or {}
    model = config.get("model") or {}
    preset = config.get("preset") or model.get("name") or "?"
    image = (model.get("vision") or {}).get("image_size")
    info = json.loads((folder / "demo.json").read_text()) if (folder / "demo.json").is_file() else {}
    parts = [f"{preset}", f"{image}×{image} px" if image else None,
             f"{source['step']} steps" if source.get("step") else None,
             f"{info['episodes_per_task']} expert episodes per task" if info.get("episodes_per_task") else None,
             f"{info['train_minutes']:.0f} min on {info['cpu']}" if info.get("train_minutes") else None]
    return ", ".join(p for p in parts if p)


def run_skill_demo(task_name: str, episodes: int, seed: int, out: Path, params: dict,
                   startup_timeout: float, log=None) -> int:
    """Run the demo; 0 when every episode ran (whatever the success), 1 if the policy failed."""
    from pi0_hw_interfaces.tasks import load_task

    from pi0_bringup import robots
    from pi0_bringup.evaluation.gif import save_gif
    from pi0_bringup.evaluation.session import EvalPlan, run_plan
    from pi0_bringup.monitor import keeping_up

    log = log or (lambda *a: print(*a, flush=True))
    task = load_task(task_name)
    checkpoint = demo_checkpoint(task.embodiment)
    spec = robots.embodiment_spec(task.embodiment)
    log(f"pi0 demo: π0 trained by this project's pipeline ({describe_checkpoint(checkpoint)}) on the "
        f"simulated {task.embodiment} task {task_name!r}: {task.description}")
    log(f"pi0 demo: checkpoint {checkpoint}")
    log(f"pi0 demo: {episodes} episodes from seed {seed}; the policy node starts in its own process "
        f"(log in {out / 'logs'})")
    plan = EvalPlan(task.embodiment, [task_name], episodes, seed, "trained demo checkpoint", str(checkpoint),
                    gif_episodes=episodes, policy_params=params, startup_timeout=startup_timeout)

    def progress(record):
        result = f"success after {record['success_time']:.1f} s" if record["success"] else \
            f"no success in {record['duration']:.1f} s"
        result += f", final reward {record['reward']:.2f}"
        log(f"  episode {record['seed'] - seed + 1}/{episodes} (seed {record['seed']}) "
            f"{record['instruction']!r}: {result}")

    try:
        records, timing = run_plan(plan, out, progress)
    except RuntimeError as error:
        log(f"pi0 demo: FAILED: {error}")
        return 1
    successes = sum(bool(r["success"]) for r in records)
    acted = sum(r["duration"] for r in records)
    latencies = timing["latencies_s"] if timing else []
    log("\npi0 demo: summary")
    log(f"  success                {successes}/{len(records)} episodes")
    rewards = [r["reward"] for r in records if r["reward"] is not None]
    if rewards:
        log(f"  mean final reward      {sum(rewards) / len(rewards):.2f} (1 = at the goal; for a reach, 1 - the "
            "distance to the named target as a fraction of the image)")
    times = [r["success_time"] for r in records if r["success"]]
    if times:
        log(f"  mean time to success   {sum(times) / len(times):.1f} s")
    if latencies:
        log(f"{keeping_up(latencies, spec, acted)} over {acted:.1f} s of episodes")
    gif = save_gif(out / f"{task_name}.gif", [(r["frames"], f"{r['instruction']} (seed {r['seed']})", r["success"])
                                              for r in records if r["frames"]])
    if gif is not None:
        log(f"  saved                  {gif}")
    log("  (the whole table, trained against untrained and wrong instructions: README, Post-training)")
    return 0
