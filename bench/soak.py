"""Soak test: the simulated robot and the policy node running together for a long time.

    python bench/soak.py --minutes 60            # the default: one hour
    python bench/soak.py --minutes 3 --embodiment mobile_trossen

Starts `sim_robot` (three 640x480 cameras at 30 Hz for mobile_trossen, joint states at the
control rate) and `pi0_policy_node` (a seeded random pi0_tiny checkpoint, autostarted) as two
processes, as a deployment runs them, sends an instruction, and watches from a third node:

- memory: the resident set size (RSS) of the policy node process, sampled every few seconds,
  and its least-squares slope over the run after a warm-up (MB per minute; a leak shows as a
  steady positive slope), with the first and last RSS;
- chunk rate: ActionChunks per second, and the ratio to the rate of replan points
  (control rate / replan interval) the node aims for;
- faults: the distinct PolicyStatus faults seen (with counts of status messages carrying them)
  and the trajectories the simulated robot rejected (`~/rejected`).

Numbers depend on the machine and its load: print them with the conditions.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WARMUP_S = 60.0  # after the first chunk: allocator and caches settle; not part of the memory slope
SAMPLE_S = 5.0


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (from /proc; NaN where unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def slope_mb_per_min(times: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` over ``times`` (s), in MB per minute."""
    if len(times) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(times) / 60.0, np.asarray(values), 1)[0])


def start(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def run(embodiment: str, minutes: float, workdir: Path) -> dict:
    import rclpy
    from pi0_hw_interfaces.embodiment import load_embodiment
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    from pi0_msgs.msg import ActionChunk, PolicyStatus
    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint
    from pi0_policy.ros import qos

    spec = load_embodiment(embodiment)
    checkpoint = make_random_checkpoint(workdir / "checkpoint", preset="pi0_tiny", state_dim=spec.state_dim,
                                        action_dim=spec.action_dim, seed=0)
    sim = start([sys.executable, "-m", "pi0_hw_interfaces.sim_robot", "--ros-args", "-p", f"embodiment:={spec.name}", "-p", "camera_rate_hz:=30.0"],
                workdir / "sim_robot.log")
    node = start([sys.executable, "-m", "pi0_policy.ros.policy_node", "--ros-args", "-p", f"embodiment:={spec.name}", "-p",
                  f"checkpoint:={checkpoint}", "-p", "autostart:=true"], workdir / "pi0_policy.log")
    rclpy.init()
    watcher = rclpy.create_node("soak_watcher")
    chunks, faults, rejected = [], collections.Counter(), []
    watcher.create_subscription(ActionChunk, "/pi0_policy/action_chunk", lambda m: chunks.append(time.monotonic()),
                                10)
    watcher.create_subscription(PolicyStatus, "/pi0_policy/status",
                                lambda m: faults.update(re.sub(r"[0-9.]+ s", "N s", f) for f in m.faults), 10)
    watcher.create_subscription(String, "/sim_robot/rejected", lambda m: rejected.append(m.data), qos.REPORT)
    instruction = watcher.create_publisher(String, qos.INSTRUCTION_TOPIC, qos.INSTRUCTION)
    instruction.publish(String(data="pick up the towel and fold it"))
    executor = SingleThreadedExecutor()
    executor.add_node(watcher)
    t0 = time.monotonic()
    samples_t, samples_rss = [], []
    next_sample, end = t0, t0 + minutes * 60.0
    try:
        from tqdm import tqdm

        with tqdm(total=int(minutes * 60), unit="s", desc="soak") as bar:
            while time.monotonic() < end and node.poll() is None and sim.poll() is None:
                executor.spin_once(timeout_sec=0.1)
                now = time.monotonic()
                if now >= next_sample:
                    samples_t.append(now - t0)
                    samples_rss.append(rss_mb(node.pid))
                    next_sample += SAMPLE_S
                    bar.n = int(now - t0)
                    bar.set_postfix(chunks=len(chunks), rss=f"{samples_rss[-1]:.0f} MB")
    finally:
        node_rc, sim_rc = stop(node), stop(sim)
        executor.shutdown()
        watcher.destroy_node()
        rclpy.try_shutdown()
    duration = time.monotonic() - t0
    warm = (chunks[0] - t0 if chunks else 0.0) + WARMUP_S  # steady state: a minute after the first chunk
    steady = [(t, r) for t, r in zip(samples_t, samples_rss) if t >= warm]
    (workdir / "rss.csv").write_text("t_s,rss_mb\n" + "".join(f"{t:.1f},{r:.1f}\n"
                                                             for t, r in zip(samples_t, samples_rss)))
    replan_rate = spec.control_rate_hz / spec.replan_interval
    counted = [c for c in chunks if c - t0 >= warm]
    chunk_rate = len(counted) / max(duration - warm, 1e-9)
    return {
        "embodiment": spec.name, "duration_s": duration, "chunks": len(chunks), "chunk_rate_hz": chunk_rate,
        "replan_rate_hz": replan_rate, "warm_s": warm, "rss_first_mb": steady[0][1] if steady else float("nan"),
        "rss_last_mb": steady[-1][1] if steady else float("nan"),
        "rss_slope_mb_per_min": slope_mb_per_min([t for t, _ in steady], [r for _, r in steady]),
        "faults": dict(faults), "rejected": len(rejected), "rejected_examples": rejected[:3],
        "node_exit": node_rc, "sim_exit": sim_rc, "logs": str(workdir),
    }


def report(r: dict) -> None:
    print(f"\nSoak: {r['embodiment']}, {r['duration_s'] / 60:.1f} min (first {r['warm_s']:.0f} s = start-up and "
          f"warm-up: until {WARMUP_S:.0f} s after the first chunk), "
          f"sim_robot + pi0_policy_node (random pi0_tiny) as separate processes, {os.cpu_count()} CPUs")
    print(f"  chunks                 {r['chunks']}  ({r['chunk_rate_hz']:.2f}/s after warm-up = "
          f"{r['chunk_rate_hz'] / r['replan_rate_hz']:.2f}x the {r['replan_rate_hz']:.2f}/s replan rate)")
    print(f"  policy node RSS        {r['rss_first_mb']:.0f} MB -> {r['rss_last_mb']:.0f} MB, slope "
          f"{r['rss_slope_mb_per_min']:+.2f} MB/min")
    print(f"  status faults          {r['faults'] or 'none'}")
    print(f"  rejected trajectories  {r['rejected']} {r['rejected_examples'] or ''}")
    print(f"  exit codes             pi0_policy_node {r['node_exit']}, sim_robot {r['sim_exit']} "
          f"(logs: {r['logs']})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embodiment", default="mobile_trossen")
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--out", type=Path, default=None, help="directory for the checkpoint and the logs")
    args = parser.parse_args(argv)
    workdir = args.out or Path(tempfile.mkdtemp(prefix="pi0_soak_"))
    workdir.mkdir(parents=True, exist_ok=True)
    result = run(args.embodiment, args.minutes, workdir)
    report(result)
    return 0 if result["node_exit"] == 0 and result["chunks"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
