"""`pi0 demo`: π0 in a simulated robot, end to end, with no hardware.

By default it shows a **skill**: the π0 that this project's own pipeline trained on CPU
(`pi0_bringup/demo_checkpoints/`, made by `scripts/train_demo_checkpoints.sh`: scripted expert
through ROS → `pi0 record` → `pi0 dataset convert` → `pi0 train`) runs a few episodes of a simulated
task (`--task`, default ur5e_reach: reach the red or the blue target, placed at random) exactly as
`pi0 eval` runs them: the policy node in its own process, over DDS. It prints each episode, the
success count, inference p50 and the share of replan points that got a chunk, and saves
`OUT/<task>.gif`.

`--random` (or `--robot R` / `--checkpoint DIR`) runs the pipeline demo instead: what
`pi0 bringup mobile_trossen --hardware sim` starts (the lifecycle policy node, autostarted, and the
simulated robot with its three cameras), an instruction, and for `--duration` seconds the chunks
received, inference latency and joint motion; then a summary and `OUT/camera_views.png`,
`OUT/joint_positions.png`. Its default model is a randomly initialised tiny π0 (preset pi0_tiny)
in `OUT/checkpoint`: the pipeline, not a skill. Give a converted checkpoint with `--checkpoint DIR`.

Exit status: 0 if every episode ran (skill demo) or if chunks arrived and the robot moved (pipeline
demo); 1 otherwise (the reason is printed; a policy node whose configure failed ends the demo at
once); 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from pi0_bringup import robots, skill_demo
from pi0_bringup.commands.bringup import add_robot_arguments, describe_from_args, publish_instruction

DEFAULT_ROBOT = "mobile_trossen"
DEFAULT_INSTRUCTION = "pick up the towel and fold it"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run π0 (trained by this project) on a simulated task and report what happened",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_robot_arguments(
        parser, default_robot=DEFAULT_ROBOT, instruction=DEFAULT_INSTRUCTION, duration=20.0, hardware=False
    )
    parser.set_defaults(robot=None)  # given or not decides the mode; None → DEFAULT_ROBOT with --random
    parser.add_argument("--random", action="store_true",
                        help="the pipeline demo with a random-weight tiny π0 (mobile Trossen unless --robot)")
    parser.add_argument("--task", default=None, metavar="TASK",
                        help=f"skill demo: the simulated task (default {skill_demo.DEFAULT_TASK}; one a demo "
                             "checkpoint was trained on)")
    parser.add_argument("--episodes", type=int, default=skill_demo.DEFAULT_EPISODES, metavar="N",
                        help=f"skill demo: episodes (default {skill_demo.DEFAULT_EPISODES})")
    parser.add_argument("--episode-seed", type=int, default=skill_demo.DEFAULT_EPISODE_SEED, metavar="S",
                        help=f"skill demo: first episode seed (default {skill_demo.DEFAULT_EPISODE_SEED})")
    parser.add_argument("--out", default="demo_out", help="folder for pictures, logs and the random checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random demo checkpoint")
    parser.add_argument("--startup-timeout", type=float, default=180.0, metavar="S",
                        help="seconds to wait for the policy node to load the model and become active")
    parser.set_defaults(func=run)


def progress_line(elapsed: float, summary: dict) -> str:
    """One progress line: time, lifecycle state, chunks, latency, joint motion."""
    latency = summary["mean_latency"]
    latency_text = "  -  " if math.isnan(latency) else f"{latency * 1000:5.0f} ms"
    return (
        f"[{elapsed:5.1f} s] policy {summary['lifecycle_state']:<12} chunks {summary['chunks_received']:3d}  "
        f"mean latency {latency_text}  joints moved {summary['joint_path_length']:6.2f} rad"
    )


def save_pictures(out: Path, snapshot: dict, spec, robot: str, instruction: str) -> list[Path]:
    from pi0_bringup.figures import save_camera_views, save_joint_plot

    title = f"{robot} (simulated), instruction {instruction!r}"
    return [
        save_camera_views(out / "camera_views.png", snapshot["first_images"], snapshot["last_images"],
                          [c.role for c in spec.cameras], title=title),
        save_joint_plot(out / "joint_positions.png", snapshot["joint_times"], snapshot["joint_positions"],
                        spec.joint_names, chunk_times=[c[0] for c in snapshot["chunks"]], title=title),
    ]


def wait_until_active(runner, monitor, timeout: float, name: str = robots.POLICY_NODE[2],
                      checkpoint: str = "") -> bool:
    """Wait for the policy node to become active (model loaded, warmed up), printing progress;
    False at once if its configure failed (the reason is printed), or after `timeout` s."""
    from pi0_bringup.startup import configure_failure, policy_summary, state_text

    start = time.monotonic()
    next_line = start + 2.0
    while runner.alive() and time.monotonic() - start < timeout:
        summary = policy_summary(runner, monitor, name)
        if summary["lifecycle_state"] == "active":
            print(f"pi0 demo: policy active after {time.monotonic() - start:.1f} s")
            return True
        failure = configure_failure(summary)
        if failure:
            print(f"pi0 demo: FAILED: the policy node could not configure: {failure}")
            return False
        if time.monotonic() >= next_line:
            faults = f"; faults: {'; '.join(summary['faults'])}" if summary["faults"] else ""
            elapsed = time.monotonic() - start
            print(f"[{elapsed:5.1f} s] policy {state_text(summary, checkpoint)}{faults}", flush=True)
            next_line += 2.0
        time.sleep(0.1)
    faults = policy_summary(runner, monitor, name)["faults"]
    print(f"pi0 demo: FAILED: the policy node did not become active within {timeout:.0f} s (--startup-timeout)"
          + (f"; faults: {'; '.join(faults)}" if faults else ""))
    return False


def watch(runner, monitor, duration: float) -> None:
    """Print a progress line every 2 s for `duration` seconds."""
    start = time.monotonic()
    next_line = start
    while runner.alive() and time.monotonic() - start < duration:
        if time.monotonic() >= next_line:
            print(progress_line(time.monotonic() - start, monitor.snapshot()), flush=True)
            next_line += 2.0
        time.sleep(0.1)
    print(progress_line(time.monotonic() - start, monitor.snapshot()), flush=True)


def pipeline_mode(args) -> bool:
    """The pipeline demo when asked for (--random, --robot, --checkpoint); else the skill demo."""
    return bool(args.random or args.robot or args.checkpoint)


def run(args) -> int:
    if not pipeline_mode(args):
        return run_skill(args)
    args.robot = args.robot or DEFAULT_ROBOT
    return run_pipeline(args)


def run_skill(args) -> int:
    """The trained checkpoint on a simulated task (see the module doc)."""
    from pi0_hw_interfaces.tasks import load_task

    from pi0_bringup.node_parameters import parse_overrides
    from pi0_bringup.startup import check_device

    task = args.task or skill_demo.DEFAULT_TASK
    try:
        embodiment = load_task(task).embodiment
        trained = skill_demo.trained_tasks(embodiment)
        if task not in trained:
            raise ValueError(f"the demo checkpoint for {embodiment} was trained on {', '.join(trained)}, "
                             f"not {task!r}")
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        params = parse_overrides(args.param, robots.POLICY_NODE, "--param")
        if args.device:
            params["device"] = args.device
        check_device(params.get("device", ""))
    except (KeyError, ValueError, FileNotFoundError) as error:
        print(f"pi0 demo: {error.args[0] if isinstance(error, KeyError) else error}")
        return 2
    return skill_demo.run_skill_demo(task, args.episodes, args.episode_seed, Path(args.out), params,
                                     args.startup_timeout)


def run_pipeline(args) -> int:
    """A random (or given) checkpoint on a simulated robot for --duration seconds."""
    out = Path(args.out)
    args.hardware, args.bridge = "sim", False
    try:
        spec = robots.embodiment_spec(args.robot, args.embodiment)
    except (KeyError, ValueError) as error:
        print(f"pi0 demo: {error.args[0] if isinstance(error, KeyError) else error}")
        return 2
    try:  # arguments first: a typo must not wait for a model to be created
        from pi0_bringup.node_parameters import parse_overrides
        from pi0_bringup.startup import check_device

        parse_overrides(args.sim_param, robots.SIM_NODE, "--sim-param")
        check_device(parse_overrides(args.param, robots.POLICY_NODE, "--param").get("device", args.device))
    except ValueError as error:
        print(f"pi0 demo: {error}")
        return 2
    print(f"pi0 demo: π0 on a simulated {args.robot} robot; no hardware needed.")
    if not args.checkpoint:
        from pi0_bringup.checkpoints import DEFAULT_PRESET, random_checkpoint

        print(f"pi0 demo: model = a randomly initialised tiny π0 ({DEFAULT_PRESET}) created locally in "
              f"{out / 'checkpoint'}: no weights can be downloaded here, so it shows the pipeline, "
              "not a skill.")
        args.checkpoint = str(random_checkpoint(spec, out / "checkpoint", seed=args.seed))
    try:
        descriptions = describe_from_args(args)
    except (KeyError, ValueError, FileNotFoundError) as error:
        print(f"pi0 demo: {error.args[0] if isinstance(error, KeyError) else error}")
        return 2

    from pi0_bringup.monitor import Monitor
    from pi0_bringup.runner import Runner, remap_args

    cli_args = remap_args(descriptions[0].remappings)
    runner = Runner(descriptions)
    monitor = None
    ok = False
    try:
        try:
            runner.start()
        except ValueError as error:
            print(f"pi0 demo: {error}")
            return 2
        namespace = descriptions[0].namespace
        monitor = Monitor(spec, namespace=namespace, context=runner.context, cli_args=cli_args)
        runner.add_node(monitor)
        publish_instruction(monitor, args.instruction)
        print(f"pi0 demo: instruction {args.instruction!r} on {robots.INSTRUCTION_TOPIC}")
        print(f"pi0 demo: the policy node loads the model (torch, weights, warm-up; "
              f"up to --startup-timeout {args.startup_timeout:.0f} s)", flush=True)
        if wait_until_active(runner, monitor, args.startup_timeout, descriptions[0].name,
                             descriptions[0].parameters.get("checkpoint", "")):
            print(f"pi0 demo: running {args.duration:.0f} s (Ctrl-C stops early)")
            watch(runner, monitor, args.duration)
            ok = True
    except KeyboardInterrupt:
        print("pi0 demo: interrupted")
        ok = monitor is not None
    finally:
        runner.stop()
    if not ok:
        return 1
    return report(out, monitor.snapshot(), spec, args)


def report(out: Path, snapshot: dict, spec, args) -> int:
    """Print the summary, save the pictures; 0 if chunks arrived and the joints moved."""
    paths = save_pictures(out, snapshot, spec, args.robot, args.instruction)
    latency = snapshot["mean_latency"]
    print("\npi0 demo: summary")
    print(f"  chunks received       {snapshot['chunks_received']}")
    print(f"  mean inference latency {'n/a' if math.isnan(latency) else f'{latency * 1000:.0f} ms'}")
    from pi0_bringup.monitor import keeping_up

    print(keeping_up([c[2] for c in snapshot["chunks"]], spec, args.duration))
    print(f"  joint motion           {snapshot['joint_path_length']:.2f} rad path length, "
          f"largest displacement {snapshot['joint_max_displacement']:.3f}")
    status = snapshot["status"]
    if status is not None and status.chunks_published:
        parts = ("preprocess", "observation_forward", "action_steps", "postprocess")
        breakdown = ", ".join(
            f"{part.replace('_', ' ')} {getattr(status.latency, part) * 1000:.0f} ms" for part in parts
        )
        print(f"  latest inference       {breakdown}")
    print(f"  policy state           {snapshot['lifecycle_state']}")
    for path in paths:
        print(f"  saved                  {path}")
    ok = snapshot["chunks_received"] > 0 and snapshot["joint_path_length"] > 0
    if not ok:
        faults = snapshot["faults"] or ["none reported"]
        print("pi0 demo: FAILED: no chunks or no motion. Policy faults: " + "; ".join(faults))
    return 0 if ok else 1
