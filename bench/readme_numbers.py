"""Regenerate every number the README quotes, on the machine at hand, in one run.

    python bench/readme_numbers.py                  # print the numbers section (markdown)
    python bench/readme_numbers.py --write README.md  # and replace it in the README
    python bench/readme_numbers.py --quick          # shorter runs (a smoke test, not for the README)

Runs, one after the other, each as its own process (so that none warms another's caches):
1. bench/cli_startup.py: CLI start-up of torch-free subcommands, as ratios to `python -c pass`;
2. bench/model_latency.py for pi0_small on the CPU (the README's per-chunk latency);
3. bench/node_overhead.py: the node's own cost with a zero policy (image conversion, planning);
4. bench/remote_overhead.py: what off-board inference (`pi0 serve`) adds, and server throughput;
5. `pi0 demo` (the first screen: the trained checkpoint's skill demo, its output is the README's
   sample) and `pi0 demo --random` (the pipeline demo: time to active, chunks, mean latency).
It first prints the machine (CPU model, cores, load average, torch build, GPU if any): the
numbers hold for that machine and its load at that time. Run it on a quiet machine.

With --write, the text between `<!-- numbers:begin -->` and `<!-- numbers:end -->` in the README
is replaced by the output, and the demo's sample output between `<!-- numbers:demo-begin -->` and
`<!-- numbers:demo-end -->` by this run's demo output.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def machine() -> str:
    """One line: CPU model, cores, load average, torch build, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib import metadata

    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = "not installed"
    gpu = "none"
    if shutil.which("nvidia-smi"):
        result = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                capture_output=True, text=True)
        gpu = result.stdout.strip().replace("\n", ", ") or "none"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores (load average {load} at the start), torch {torch}, GPU: {gpu}, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d', time.gmtime())}")


def pi0_command() -> list[str]:
    exe = shutil.which("pi0")
    return [exe] if exe else [sys.executable, "-m", "pi0_bringup.cli"]


def run(title: str, command: list[str], timeout: float) -> str:
    """stdout of `command` (stderr shown on failure); prints progress to stderr."""
    print(f"[readme numbers] {title}: {' '.join(command)}", file=sys.stderr, flush=True)
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    print(f"[readme numbers]   done in {time.monotonic() - start:.0f} s (exit {result.returncode})",
          file=sys.stderr, flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"{title} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def demo_output(text: str, out: str) -> str:
    """The demo's lines a reader sees in the README: start-up, first and last progress lines, summary."""
    lines = [line for line in text.splitlines() if line.strip()]
    progress = [line for line in lines if line.startswith("[") and "chunks" in line]
    keep = [line for line in lines if line.startswith(("pi0 demo: policy active", "pi0 demo: running"))]
    keep += progress[1:2] + (["..."] if len(progress) > 2 else []) + progress[-1:]
    summary = lines[next(i for i, line in enumerate(lines) if line.startswith("pi0 demo: summary")):]
    return "\n".join(keep + [""] + [line.replace(out, "demo_out") for line in summary])


def skill_demo_output(text: str, out: str) -> str:
    """The skill demo's lines as a reader sees them: paths relative to the repository."""
    lines = [line for line in text.splitlines() if line.strip() or line == ""]
    first = next(i for i, line in enumerate(lines) if line.startswith("pi0 demo: "))
    keep = [line.replace(out, "demo_out").replace(str(ROOT) + "/", "") for line in lines[first:]
            if not line.startswith("[INFO]")]  # the sim robot's start-up log line
    return "\n".join(keep).strip()


def generate(quick: bool, where: str, start_load: float) -> tuple[str, str]:
    """(the numbers section's markdown, the demo's sample output); `where`: the machine line and
    `start_load` the 1-minute load average, both taken before the runs."""
    py = sys.executable
    duration = "5" if quick else "20"
    commands = {
        "CLI start-up": [py, "bench/cli_startup.py", "--repeats", "2" if quick else "10"],
        "model latency": [py, "bench/model_latency.py", "--preset", "pi0_tiny" if quick else "pi0_small",
                          "--device", "cpu", "--dtype", "float32", "--steps", "10", "--repeats", "1" if quick else "3",
                          "--uncached-steps", "2"],
        "node overhead": [py, "bench/node_overhead.py", "--chunks", "5" if quick else "30",
                          "--repeats", "3" if quick else "10"],
        "remote overhead": [py, "bench/remote_overhead.py", "--repeats", "3" if quick else "20",
                            "--requests", "2" if quick else "8", "--rounds", "1" if quick else "3"],
    }
    outputs = {title: run(title, command, 1800) for title, command in commands.items()}
    with tempfile.TemporaryDirectory() as out:
        skill = run("pi0 demo", pi0_command() + ["demo", "--episodes", "3" if quick else "6", "--out", out], 900)
        sample = skill_demo_output(skill, out)
    with tempfile.TemporaryDirectory() as out:
        demo = run("pi0 demo --random", pi0_command() + ["demo", "--random", "--duration", duration, "--out", out],
                   900)
    active = re.search(r"policy active after ([\d.]+) s", demo)
    chunks = re.search(r"chunks received\s+(\d+)", demo)
    latency = re.search(r"mean inference latency\s+(.+)", demo)
    text = [f"Measured by `python bench/readme_numbers.py` on: {where}."]
    if max(os.getloadavg()[0], start_load) > (os.cpu_count() or 1):
        text.append(f"The load average exceeded the {os.cpu_count()} cores during this run: other jobs shared the "
                    "CPU and the times are inflated; rerun the script on a quiet machine.")
    successes = re.search(r"success\s+(\d+/\d+) episodes", skill)
    keeping = re.search(r"inference p50\s+(.+)", skill)
    text += [
        "",
        f"- `pi0 demo` (the trained demo checkpoint, ur5e_reach): {successes.group(1) if successes else '?'} "
        f"episodes succeeded; inference p50 {keeping.group(1).strip() if keeping else '?'}.",
        f"- `pi0 demo --random --duration {duration}` (random tiny π0, simulated mobile Trossen): policy active after "
        f"{active.group(1) if active else '?'} s; {chunks.group(1) if chunks else '?'} chunks; mean inference "
        f"latency {latency.group(1).strip() if latency else '?'}.",
    ]
    for title, command in commands.items():
        shown = " ".join(["python", *command[1:]])
        text += ["", "```", f"$ {shown}", outputs[title].strip(), "```"]
    return "\n".join(text), sample


def replace_between(text: str, begin: str, end: str, body: str) -> str:
    """`text` with what lies between the marker lines `begin` and `end` replaced by `body`."""
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {begin} … {end} markers")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text, count=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", metavar="README", help="replace the numbers in this README")
    parser.add_argument("--quick", action="store_true", help="short runs on pi0_tiny (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick and args.write:
        parser.error("--quick numbers are a smoke test: they do not go into a README")
    where, start_load = machine(), os.getloadavg()[0]
    print(f"[readme numbers] machine: {where}", file=sys.stderr)
    section, sample = generate(args.quick, where, start_load)
    print(section)
    if args.write:
        path = Path(args.write)
        text = replace_between(path.read_text(), "<!-- numbers:begin -->", "<!-- numbers:end -->", section)
        text = replace_between(text, "<!-- numbers:demo-begin -->", "<!-- numbers:demo-end -->",
                               f"```\n{sample}\n```")
        path.write_text(text)
        print(f"[readme numbers] wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
