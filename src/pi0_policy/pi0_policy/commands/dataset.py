"""`pi0 dataset`: robot recordings → LeRobot v3 datasets.

    pi0 dataset convert BAGS... OUT --embodiment E [--actions commands|next-state] [--image-size PX]
        rosbag2 bags (MCAP or sqlite3; from `pi0 record` or `ros2 bag record`) → a LeRobot v3
        dataset in the model space of E's adapter, plus norm_stats.json (openpi's format).
    pi0 dataset info DIR
        episodes, frames, tasks, features of a LeRobot v3 dataset.

Exit status 0 on success; 1 with a one-line error naming the bag, topic and time on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("dataset", help="convert robot recordings into LeRobot v3 datasets",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    convert = sub.add_parser("convert", help="rosbag2 bags → LeRobot v3 dataset + norm_stats.json")
    convert.add_argument("paths", nargs="+", type=Path, help="bag directories, then the output directory")
    convert.add_argument("--embodiment", required=True, help="robot class of the recordings")
    convert.add_argument("--actions", default="commands", choices=("commands", "next-state"),
                         help="action targets: recorded commands (default) or the next measured state")
    convert.add_argument("--namespace", default="", help="robot namespace of the recorded topics")
    convert.add_argument("--image-size", type=int, metavar="PX",
                         help="scale frames so that their longer side is PX (aspect ratio kept)")
    convert.add_argument("--horizon", type=int, default=50, help="action chunk length for norm stats (50)")
    convert.add_argument("--only-success", action="store_true", help="keep only episodes marked successful")
    convert.add_argument("--no-progress", action="store_true", help="no progress bar")
    convert.set_defaults(func=run_convert)
    info = sub.add_parser("info", help="describe a LeRobot v3 dataset")
    info.add_argument("path", type=Path, help="dataset directory")
    info.set_defaults(func=run_info)


def _fail(message) -> int:
    print(f"pi0 dataset: {message}", file=sys.stderr)
    return 1


def run_convert(args) -> int:
    from pi0_policy.data.convert import convert_bags

    if len(args.paths) < 2:
        return _fail("give at least one bag and the output directory")
    try:
        summary = convert_bags(args.paths[:-1], args.paths[-1], args.embodiment, args.actions, args.namespace,
                               args.image_size, args.horizon, args.only_success, not args.no_progress)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError) as error:
        return _fail(str(error).strip('"'))
    print(f"pi0 dataset: {summary['episodes']} episodes, {summary['frames']} frames, "
          f"{len(summary['tasks'])} tasks → {summary['path']}")
    return 0


def run_info(args) -> int:
    from pi0_policy.data.lerobot import read_dataset

    try:
        data = read_dataset(args.path)
    except (ValueError, FileNotFoundError) as error:
        return _fail(error)
    features = {k: v.get("shape") for k, v in data.info["features"].items()}
    print(json.dumps({"episodes": len(data.bounds), "frames": len(data), "fps": data.fps,
                      "tasks": sorted(set(data.task)), "features": features}, indent=2))
    return 0
