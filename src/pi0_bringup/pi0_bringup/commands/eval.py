"""`pi0 eval [CHECKPOINT ...] --tasks T ... --episodes N --seed S`: success rates on simulated tasks.

Runs a checkpoint closed loop on the simulated robot's tasks (pi0_hw_interfaces/tasks): the
policy node in its own process (as on a robot), the simulated robot and an episode driver in
this one, all over DDS. Each task runs N episodes from seeds S, S+1, ...; each episode resets the
task with its seed, gives the policy the task's instruction and ends at success or after the
task's time limit. Prints and saves a success table (rate, Wilson 95 % interval), per-episode
results and a GIF of the first episodes of each task:

    OUT/table.md  OUT/summary.csv  OUT/episodes.csv  OUT/results.json  OUT/<task>.gif

`--sim mujoco`: the MuJoCo ALOHA simulator's tasks (gym-aloha's transfer_cube and insertion;
reward and success from its `~/task`) on `mujoco_sim`, which then owns the time (`/clock`, its
physics never drops time on a slow CPU; `--time-scale` is its time_scale): record next to it
with `pi0 record --use-sim-time`.

CHECKPOINT is a directory (for every task) or EMBODIMENT=DIR (tasks on that embodiment), as a
checkpoint fits one embodiment's state/action dimensions. `--untrained`: random weights of
the checkpoint's preset (or --preset). `--expert`: the scripted expert instead of a model
(its success rate; with `pi0 record` running, this makes demonstrations). `--wrong-instruction`
/ `--instruction-override TEXT`: evaluate with another instruction than the goal's.

Exit status: 0 when every episode ran; 1 if the policy node failed; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_TASKS = ("ur5e_reach", "bimanual_reach", "bimanual_gripper")  # --sim kinematic; mujoco: all of its tasks
SIMULATORS = ("kinematic", "mujoco")
DEFAULT_SEED = 10000  # evaluation seeds apart from demonstration seeds (which start at 0)


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="success rates of a checkpoint (or the expert) on simulated tasks",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", metavar="CHECKPOINT",
                        help="checkpoint directory, or EMBODIMENT=DIR for that embodiment's tasks")
    parser.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                        help=f"tasks (default: {' '.join(DEFAULT_TASKS)}; with --sim mujoco: transfer_cube insertion)")
    parser.add_argument("--sim", choices=SIMULATORS, default="kinematic",
                        help="simulator: kinematic (sim_robot's tasks, default) or mujoco (MuJoCo ALOHA physics)")
    parser.add_argument("--episodes", type=int, default=10, metavar="N", help="episodes per task (default 10)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help=f"first episode seed (default {DEFAULT_SEED})")
    parser.add_argument("--expert", action="store_true", help="run the scripted expert instead of a model")
    parser.add_argument("--untrained", action="store_true",
                        help="random weights of the checkpoint's preset (or --preset) instead of its weights")
    parser.add_argument("--preset", default="pi0_tiny", help="preset of --untrained without a checkpoint")
    parser.add_argument("--wrong-instruction", action="store_true",
                        help="name another colour than the goal's in the instruction")
    parser.add_argument("--instruction-override", default=None, metavar="TEXT",
                        help="give this instruction in every episode instead of the task's")
    parser.add_argument("--episode-s", type=float, default=None, metavar="S",
                        help="episode time limit (default: each task's)")
    parser.add_argument("--after-success", type=float, default=0.0, metavar="S",
                        help="keep the agent acting S seconds after success (demonstrations that show "
                             "holding at the goal; default 0)")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                        help="simulated seconds per wall-clock second (default 1); e.g. 0.25 evaluates a model "
                             "4x too slow for the robot's control rate as if it were fast enough "
                             "(/clock, use_sim_time)")
    parser.add_argument("--gif-episodes", type=int, default=2, metavar="K",
                        help="episodes per task shown in OUT/<task>.gif (default 2; 0 = no GIF)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="policy node parameter, e.g. num_steps:=5")
    parser.add_argument("--device", default="", help="torch device of the policy, e.g. cpu, cuda")
    parser.add_argument("--startup-timeout", type=float, default=300.0, metavar="S",
                        help="seconds for the policy node to load the model and become active")
    parser.add_argument("--out", default="eval_out", help="output folder (default eval_out)")
    parser.set_defaults(func=run)


class UsageError(ValueError):
    pass


def _checkpoint_map(items: list[str], embodiments: list[str]) -> dict:
    """{embodiment: checkpoint dir} from DIR / EMBODIMENT=DIR arguments; UsageError when unclear."""
    mapping, default = {}, None
    for item in items:
        name, sep, folder = item.partition("=")
        if sep:
            if name not in embodiments:
                raise UsageError(f"checkpoint {item!r} names embodiment {name!r}; the tasks' embodiments are "
                                 f"{', '.join(embodiments)}")
            mapping[name] = folder
        elif default is None:
            default = item
        else:
            raise UsageError(f"two checkpoints without an embodiment ({default!r}, {item!r}); write EMBODIMENT=DIR")
    for embodiment in embodiments:
        if embodiment not in mapping and default is not None:
            mapping[embodiment] = default
    return mapping


def _task_groups(names: list[str], sim: str) -> dict[str, list[str]]:
    """{embodiment: [task names as the simulator's catalog spells them]}; UsageError for an
    unknown name (naming the choices, and the other simulator where it has that task)."""
    from pi0_hw_interfaces.tasks.catalog import task_catalog

    catalog, groups = task_catalog(sim), {}
    for name in dict.fromkeys(names):
        try:
            task = catalog.task(name)
        except KeyError as error:
            other = [s for s in SIMULATORS if s != sim and name in task_catalog(s).names()]
            hint = f" ({name} is a --sim {other[0]} task)" if other else ""
            raise UsageError(f"{error.args[0]}{hint}") from None
        groups.setdefault(task.embodiment, [])
        if task.name not in groups[task.embodiment]:
            groups[task.embodiment].append(task.name)
    return groups


def _plans(args) -> list:
    from pi0_hw_interfaces.tasks import Task

    from pi0_bringup import robots
    from pi0_bringup.node_parameters import parse_overrides
    from pi0_bringup.evaluation.policy_process import check_checkpoint, checkpoint_preset
    from pi0_bringup.evaluation.session import EvalPlan

    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {args.episodes}")
    if not args.time_scale > 0:
        raise UsageError(f"--time-scale must be > 0, got {args.time_scale}")
    if args.after_success < 0:
        raise UsageError(f"--after-success must be >= 0, got {args.after_success}")
    if args.expert and (args.checkpoints or args.untrained):
        raise UsageError("--expert runs the scripted expert: give no checkpoint and no --untrained")
    if args.wrong_instruction and args.instruction_override is not None:
        raise UsageError("give --wrong-instruction or --instruction-override, not both")
    if args.wrong_instruction and args.sim != "kinematic":
        raise UsageError(f"--wrong-instruction names another colour: only the kinematic tasks have colours, "
                         f"not --sim {args.sim}; use --instruction-override TEXT")
    if args.tasks is None:
        from pi0_hw_interfaces.tasks.catalog import task_catalog

        args.tasks = list(DEFAULT_TASKS) if args.sim == "kinematic" else task_catalog(args.sim).names()
    groups = _task_groups(args.tasks, args.sim)
    checkpoints = _checkpoint_map(args.checkpoints, list(groups))
    missing = [e for e in groups if e not in checkpoints]
    if missing and not (args.expert or args.untrained):
        raise UsageError(f"no checkpoint for the tasks on {', '.join(missing)}: give CHECKPOINT, "
                         "--untrained or --expert")
    params = parse_overrides(args.param, robots.POLICY_NODE)
    if args.device:
        params["device"] = args.device
    instruction = args.instruction_override
    if args.wrong_instruction:
        instruction = Task.wrong_instruction  # (task, goal) -> text
    plans = []
    for embodiment, tasks in groups.items():
        spec = robots.embodiment_spec(embodiment)
        checkpoint, label = checkpoints.get(embodiment, ""), "expert"
        if checkpoint:
            config = check_checkpoint(checkpoint, spec)
            label = checkpoint
        if args.untrained:
            from pi0_bringup.checkpoints import random_checkpoint

            preset = checkpoint_preset(config, args.preset) if checkpoint else args.preset
            checkpoint = str(random_checkpoint(spec, Path(args.out) / "untrained" / f"{embodiment}_{preset}",
                                               preset=preset))
            label = f"untrained {preset}"
        if args.wrong_instruction:
            label += " (wrong instruction)"
        elif args.instruction_override is not None:
            label += f" (instruction {args.instruction_override!r})"
        plans.append(EvalPlan(embodiment, tasks, args.episodes, args.seed, label, checkpoint, instruction,
                              args.gif_episodes, params, args.startup_timeout, args.episode_s,
                              args.after_success, args.time_scale, args.sim))
    return plans


def run(args) -> int:
    try:
        plans = _plans(args)
    except (UsageError, KeyError, ValueError, FileNotFoundError) as error:
        print(f"pi0 eval: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from pi0_bringup.evaluation import stats
    from pi0_bringup.evaluation.gif import save_gif
    from pi0_bringup.evaluation.session import run_plan

    out = Path(args.out)
    results, timings = [], {}
    total = sum(len(p.tasks) * p.episodes for p in plans)
    with tqdm(total=total, desc="pi0 eval", unit="episode") as bar:
        def progress(record):
            bar.set_postfix_str(f"{record['task']} seed {record['seed']}: "
                                f"{'success' if record['success'] else 'failure'}")
            bar.update(1)

        for plan in plans:
            try:
                records, timing = run_plan(plan, out, progress)
            except RuntimeError as error:
                print(f"pi0 eval: {plan.embodiment}: {error}", file=sys.stderr)
                return 1
            results += records
            if timing is not None:
                timings[plan.embodiment] = timing
    rows = stats.summarize(results)
    config = {k: v for k, v in vars(args).items() if k != "func"}
    paths = stats.write_results(out, results, rows, config, policy_timing=timings)
    for task in dict.fromkeys(r["task"] for r in results):
        shown = [(r["frames"], f"{r['instruction']} (seed {r['seed']})", r["success"])
                 for r in results if r["task"] == task and r["frames"]]
        gif = save_gif(out / f"{task}.gif", shown)
        if gif is not None:
            paths.append(gif)
    print(stats.format_table(rows))
    for embodiment, t in timings.items():
        if t["mean_latency_s"] is None:
            print(f"pi0 eval: {embodiment}: the policy published no chunk")
            continue
        print(f"pi0 eval: {embodiment}: {t['chunks']} chunks, mean inference {t['mean_latency_s']:.2f} s (wall), "
              f"replan period {t['replan_period_s']:.2f} s")
        if t["too_slow"]:
            scale = 0.8 * t["replan_period_s"] / t["mean_latency_s"]
            print(f"pi0 eval: {embodiment}: inference is slower than the replan period, so the robot waited for "
                  f"chunks; for the model's own skill try --time-scale {scale:.2g} (or a GPU)")
    for path in paths:
        print(f"pi0 eval: saved {path}")
    return 0
