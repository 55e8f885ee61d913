"""The `pi0` command line: what users do outside ROS tooling.

Each subcommand is a module with `register(subparsers)`, which adds its parser and sets
`func(args) -> int` as the parser default. Modules are imported lazily, so `pi0 --help`
stays fast and a subcommand whose optional dependencies are missing fails alone.
"""
import argparse
import importlib
import sys

SUBCOMMANDS = [
    "pi0_bringup.commands.instruct",
    "pi0_bringup.commands.run",
    "pi0_bringup.commands.bringup",
    "pi0_bringup.commands.demo",
    "pi0_bringup.commands.lifecycle",
    "pi0_policy.commands.checkpoint",
    "pi0_policy.commands.serve",
    "pi0_bringup.commands.record",
    "pi0_policy.commands.dataset",
    "pi0_policy.commands.train",
    "pi0_bringup.commands.eval",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pi0", description="pi0-ros: run the π0 policy on ROS 2 robots.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
