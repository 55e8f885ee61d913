"""`pi0 bringup ROBOT`: run a robot's nodes in this process, as its launch file would.

Starts what `ros2 launch pi0_bringup ROBOT.launch.py` starts (pi0_bringup.robots.describe:
the lifecycle policy node, plus the simulated robot with `--hardware sim`, or the trajectory
bridge with `--hardware real --bridge`), on one rclpy MultiThreadedExecutor. No launch_ros or
ros2cli is needed. `--instruction` publishes a first instruction on /pi0/instruction (latched).
Runs until Ctrl-C, or for `--duration` seconds.

Exit status: 0 after a clean stop; 1 if the policy node failed to configure (the reason is
printed: a checkpoint that does not fit the robot, a device torch cannot use, ...); 2 for bad
arguments (unknown robot, bad remapping, an unknown `--param` name or a value of the wrong type).
"""
from __future__ import annotations

import argparse
import time

from pi0_bringup import robots

STATUS_PERIOD = 5.0  # seconds between status lines


def add_robot_arguments(
    parser: argparse.ArgumentParser,
    default_robot: str | None = None,
    instruction: str = "",
    duration=None,
    hardware: bool = True,
) -> None:
    """The arguments `pi0 bringup` and `pi0 demo` share (those of the launch files, and more);
    `hardware=False` leaves out --hardware and --bridge (the demo is always simulated)."""
    if default_robot is None:
        parser.add_argument("robot", help=f"robot: {', '.join(robots.list_robots())}")
    else:
        parser.add_argument("--robot", default=default_robot, help=f"robot (default {default_robot})")
    if hardware:
        parser.add_argument("--hardware", choices=robots.HARDWARE, default="sim",
                            help="sim: start the simulated robot (default); real: use the running driver")
        parser.add_argument("--sim", choices=tuple(robots.SIMULATORS), default="kinematic",
                            help="with --hardware sim: kinematic (any robot, default) or mujoco "
                                 "(MuJoCo ALOHA physics, bimanual_trossen)")
        parser.add_argument("--bridge", action="store_true",
                            help="with --hardware real, start the robot's trajectory bridge")
    parser.add_argument("--checkpoint", default="", help="π0 checkpoint directory")
    parser.add_argument("--device", default="", help="torch device, e.g. cpu, cuda, cuda:1")
    parser.add_argument("--embodiment", default="", metavar="NAME_OR_YAML",
                        help="embodiment YAML of the robot's class (your camera sizes, joint names)")
    parser.add_argument("--namespace", default="", help="namespace of every node and relative topic")
    parser.add_argument("--autostart", action=argparse.BooleanOptionalAction, default=True,
                        help="configure and activate the policy node at start (default: yes); "
                             "--no-autostart configures it and leaves it inactive")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="remap a topic for every node, e.g. camera_high/camera/color/image_raw:=/cam0")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="override a policy node parameter (value parsed as YAML), e.g. num_steps:=5")
    parser.add_argument("--sim-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="override a simulated robot parameter, e.g. image_width:=320")
    parser.add_argument("--instruction", default=instruction, metavar="TEXT",
                        help=f"publish this instruction on /pi0/instruction (default {instruction!r})")
    parser.add_argument("--duration", type=float, default=duration, metavar="S",
                        help=f"stop after S seconds (default: {duration or 'run until Ctrl-C'})")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bringup",
        help="run a robot's policy node (and simulated robot) in this process",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_robot_arguments(parser)
    parser.set_defaults(func=run)


def describe_from_args(args) -> list:
    """The node descriptions for parsed `pi0 bringup`/`pi0 demo` arguments.

    Without `--checkpoint`, a simulated robot gets the random tiny π0 of
    pi0_bringup.checkpoints (a note says so); a real one is refused (ValueError).
    """
    from pi0_bringup.checkpoints import resolve_checkpoint
    from pi0_bringup.node_parameters import parse_overrides
    from pi0_bringup.startup import check_device

    parameters = parse_overrides(args.param, robots.POLICY_NODE, "--param")
    if args.sim_param and args.hardware != "sim":
        raise ValueError("--sim-param applies to the simulated robot only (--hardware sim)")
    simulator = robots.SIMULATORS[getattr(args, "sim", "kinematic")]
    sim_parameters = parse_overrides(args.sim_param, simulator, "--sim-param")
    check_device(parameters.get("device", args.device))
    spec = robots.embodiment_spec(args.robot, args.embodiment)
    checkpoint, note = resolve_checkpoint(spec, args.checkpoint, args.hardware)
    if note:
        print(f"pi0 bringup: {note}")
    return robots.describe(
        args.robot,
        hardware=args.hardware,
        checkpoint=checkpoint,
        device=args.device,
        namespace=args.namespace,
        autostart=args.autostart,
        bridge=args.bridge,
        remappings=args.remap,
        parameters=parameters,
        sim_parameters=sim_parameters if args.hardware == "sim" else None,
        embodiment=args.embodiment,
        sim=getattr(args, "sim", "kinematic"),
    )


def publish_instruction(node, text: str):
    """A latched publisher on /pi0/instruction (the policy node's QoS) that sent `text`; keep it alive."""
    from std_msgs.msg import String

    from pi0_bringup.commands.instruct import instruction_qos

    publisher = node.create_publisher(String, robots.INSTRUCTION_TOPIC, instruction_qos())
    publisher.publish(String(data=text))
    return publisher


def status_line(summary: dict, checkpoint: str = "") -> str:
    """One line of what the policy node reports: state, chunks, mean latency, faults."""
    from pi0_bringup.startup import state_text

    latency = summary["mean_latency"]
    text = f"policy {state_text(summary, checkpoint)}, {summary['chunks_received']} chunks"
    if latency == latency:  # not NaN
        text += f", mean latency {latency * 1000:.0f} ms"
    if summary["faults"]:
        text += f"; faults: {'; '.join(summary['faults'])}"
    return text


def run(args) -> int:
    try:
        descriptions = describe_from_args(args)
    except (KeyError, ValueError, FileNotFoundError) as error:
        print(f"pi0 bringup: {error.args[0] if isinstance(error, KeyError) else error}")
        return 2
    from pi0_bringup.monitor import Monitor
    from pi0_bringup.runner import Runner, remap_args
    from pi0_bringup.startup import ACTIVATE_HINT, configure_failure, policy_summary

    for d in descriptions:
        remaps = ", ".join(f"{a}:={b}" for a, b in d.remappings) or "none"
        where = f"{d.namespace}/{d.name}"
        print(f"pi0 bringup: starting {d.package}/{d.executable} as {where} (remaps: {remaps})")
    policy = descriptions[0]
    checkpoint = policy.parameters.get("checkpoint", "")
    if checkpoint:
        print(f"pi0 bringup: the policy node loads checkpoint {checkpoint} (torch, weights, warm-up) before "
              "it can act", flush=True)
    runner = Runner(descriptions)
    code = 0
    try:
        try:
            runner.start()
        except ValueError as error:
            print(f"pi0 bringup: {error}")
            return 2
        spec = robots.embodiment_spec(args.robot, args.embodiment)
        monitor = Monitor(spec, namespace=policy.namespace, context=runner.context,
                          cli_args=remap_args(policy.remappings), keep_images=False)
        runner.add_node(monitor)
        if args.instruction:
            publish_instruction(monitor, args.instruction)
            print(f"pi0 bringup: instruction {args.instruction!r} on {robots.INSTRUCTION_TOPIC}")
        start = time.monotonic()
        next_line = start + STATUS_PERIOD
        hinted = False
        while runner.alive() and (args.duration is None or time.monotonic() - start < args.duration):
            summary = policy_summary(runner, monitor, policy.name)
            failure = configure_failure(summary)
            if failure:
                print(f"pi0 bringup: FAILED: the policy node could not configure: {failure}", flush=True)
                code = 1
                break
            if not args.autostart and not hinted and summary["lifecycle_state"] == "inactive":
                node = f"{policy.namespace}/{policy.name}"
                print(f"pi0 bringup: policy configured and inactive (--no-autostart); "
                      f"{ACTIVATE_HINT.format(node=node)}", flush=True)
                hinted = True
            if time.monotonic() >= next_line:
                print(f"pi0 bringup: {status_line(summary, checkpoint)}", flush=True)
                next_line += STATUS_PERIOD
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    print("pi0 bringup: stopped")
    return code
