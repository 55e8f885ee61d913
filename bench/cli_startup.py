"""Start-up time of `pi0` subcommands that need no torch, against `python -c pass`, as ratios.

    python bench/cli_startup.py --repeats 10

Each command runs as a fresh process (the `pi0` console script, or `python -m pi0_bringup.cli`
where it is not on PATH), `--repeats` times; medians are printed, and each as a ratio to the
median of `python -c pass` measured in the same run (the interpreter's own start-up), with
`python -c "import torch"` for scale (what a command that loads torch pays before any work).
The commands measured reject their arguments or print help, so the time is start-up only.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

#: (label, arguments of `pi0`): subcommands that must start without importing torch.
COMMANDS = (
    ("pi0 --help", ["--help"]),
    ("pi0 bringup (a --param typo)", ["bringup", "ur5e", "--param", "num_step:=5"]),
    ("pi0 checkpoint inspect (no such dir)", ["checkpoint", "inspect", "/nonexistent/checkpoint"]),
    ("pi0 lifecycle (a bad node name)", ["lifecycle", "/bad name", "get"]),
)


def pi0_command() -> list[str]:
    exe = shutil.which("pi0")
    return [exe] if exe else [sys.executable, "-m", "pi0_bringup.cli"]


def timed(command: list[str], repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` runs of `command` (output discarded)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
        times.append(time.perf_counter() - start)
    return times


def measure(repeats: int) -> dict:
    """{label: median seconds} for the baseline, torch's import and every command of COMMANDS."""
    rows = {"python -c pass (baseline)": statistics.median(timed([sys.executable, "-c", "pass"], repeats))}
    rows['python -c "import torch" (scale)'] = statistics.median(
        timed([sys.executable, "-c", "import torch"], max(1, repeats // 3)))
    for label, args in COMMANDS:
        rows[label] = statistics.median(timed(pi0_command() + args, repeats))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="runs per command (default 10)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    rows = measure(args.repeats)
    base = rows["python -c pass (baseline)"]
    print(f"CLI start-up, median of {args.repeats} runs each (ratio to `python -c pass` in this run):")
    for label, seconds in rows.items():
        print(f"  {label:40s} {seconds * 1000:7.0f} ms  {seconds / base:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
