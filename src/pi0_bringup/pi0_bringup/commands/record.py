"""`pi0 record OUT --embodiment E`: record demonstrations into a rosbag2 bag (MCAP storage).

Records the embodiment's cameras, joint states, controller commands, /pi0/instruction and the
/pi0/episode markers (see `pi0_bringup.recording.recorder`) until --duration seconds have
passed, --episodes episodes have ended, or Ctrl-C. Convert the bag with
`pi0 dataset convert OUT DATASET --embodiment E`. Extra topics: --topics /tf /odom:nav_msgs/msg/Odometry
(a topic without a type is looked up on the graph). --use-sim-time stamps the bag with `/clock`
(as `ros2 bag record --use-sim-time`): needed when the robot runs on a simulated clock, e.g.
alongside `pi0 eval --sim mujoco` or `pi0 eval --time-scale`, because the converter reads the
commands' header stamps and the bag's times as one clock.

Exit status 0 when the bag is written; 1 with a one-line error (unknown embodiment, existing OUT).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("record", help="record robot episodes into a rosbag2 (MCAP) bag",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="bag directory to create")
    parser.add_argument("--embodiment", required=True, help="robot class (pi0_hw_interfaces spec name)")
    parser.add_argument("--namespace", default="", help="robot namespace of the relative topics")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--episodes", type=int, help="stop after this many episode end markers")
    parser.add_argument("--topics", nargs="*", default=[], help="extra topics, TOPIC or TOPIC:pkg/msg/Type")
    parser.add_argument("--use-sim-time", action="store_true",
                        help="stamp the bag with /clock (a simulator's or pi0 eval's simulated time)")
    parser.add_argument("--clock-timeout", type=float, default=10.0, metavar="S",
                        help="with --use-sim-time: seconds to wait for /clock (default 10)")
    parser.set_defaults(func=run)


def _extra_topics(node, extras, wait: float = 2.0) -> list[tuple[str, str, str]]:
    out, unknown = [], []
    for item in extras:
        topic, _, msgtype = item.partition(":")
        topic = topic if topic.startswith("/") else "/" + topic
        if not msgtype:
            deadline = time.monotonic() + wait
            while not msgtype and time.monotonic() < deadline:
                types = dict(node.get_topic_names_and_types())
                msgtype = (types.get(topic) or [""])[0]
                time.sleep(0.1)
        if not msgtype:
            unknown.append(topic)
        out.append((topic, msgtype, "command"))
    if unknown:
        raise ValueError(f"no publisher tells the type of {unknown}; give it as TOPIC:pkg/msg/Type")
    return out


def _wait_for_clock(node, executor, timeout: float) -> None:
    """Spin until the node's clock (use_sim_time) has a /clock time; ValueError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while node.get_clock().now().nanoseconds == 0:
        if time.monotonic() > deadline:
            raise ValueError(f"--use-sim-time: no /clock published within {timeout:g} s; start the simulator "
                             "(e.g. pi0 eval --sim mujoco) or record without --use-sim-time")
        executor.spin_once(timeout_sec=0.05)


def record(out: Path, embodiment: str, namespace: str = "", duration: float | None = None,
           episodes: int | None = None, extras=(), context=None, log=print, use_sim_time: bool = False,
           clock_timeout: float = 10.0) -> dict:
    """Record until ``duration`` s or ``episodes`` ends (or KeyboardInterrupt); returns a summary.
    `use_sim_time`: bag times from `/clock` (waits up to `clock_timeout` s for it)."""
    from pi0_bringup.cli_node import cli_node
    from pi0_bringup.recording.recorder import BagRecorder, embodiment_topics
    from pi0_hw_interfaces.embodiment import load_embodiment

    spec = load_embodiment(embodiment)
    if Path(out).exists():
        raise FileExistsError(f"{out} exists; pi0 record writes a new bag directory")
    recorder = None
    with cli_node("pi0_record", context, use_sim_time=use_sim_time) as (node, executor):
        try:
            if use_sim_time:
                _wait_for_clock(node, executor, clock_timeout)
            topics = embodiment_topics(spec, namespace) + _extra_topics(node, extras)
            recorder = BagRecorder(node, out, topics, embodiment=spec.name)
            log(f"pi0 record: recording {len(topics)} topics into {out} (Ctrl-C to stop)")
            start = time.monotonic()
            try:
                while node.context.ok():
                    executor.spin_once(timeout_sec=0.05)
                    if duration is not None and time.monotonic() - start >= duration:
                        break
                    if episodes is not None and recorder.episodes_done >= episodes:
                        break
            except KeyboardInterrupt:
                pass
        finally:
            if recorder is not None:
                recorder.close()
    return {"path": str(out), "messages": dict(recorder.counts), "episodes": recorder.episodes}


def run(args) -> int:
    try:
        summary = record(args.out, args.embodiment, args.namespace, args.duration, args.episodes, args.topics,
                         use_sim_time=args.use_sim_time, clock_timeout=args.clock_timeout)
    except (KeyError, ValueError, FileExistsError) as error:
        print(f"pi0 record: {str(error).strip(chr(34))}", file=sys.stderr)
        return 1
    total = sum(summary["messages"].values())
    ok = sum(1 for e in summary["episodes"] if e.get("success"))
    print(f"pi0 record: {total} messages, {len(summary['episodes'])} episodes ({ok} successful) in {args.out}")
    for topic, count in sorted(summary["messages"].items()):
        print(f"  {count:7d}  {topic}")
    return 0
