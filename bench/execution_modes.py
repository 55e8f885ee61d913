"""Execution modes compared at chunk joins: open loop, temporal ensemble, real-time chunking.

    nice -n 5 python bench/execution_modes.py                 # delays 0, 100, 300 ms
    python bench/execution_modes.py --delays 0 0.3 --chunks 6 --plot out.png

For each mode and injected inference delay (a sleep added to every inference), the simulated
UR5e and the policy node (a seeded random pi0_tiny checkpoint whose actions have a 0.02 rad
spread, so chunks stay below the velocity cap) run in this process over DDS, and the published
ActionChunks are collected. The commanded sequence is rebuilt on the control grid (each chunk
replaces the previous from its start), and at every join:

- jump: max over joints of |new chunk's first action − executing chunk's action at that time| (rad);
- jerk: max over joints of |third difference| / dt³ of the commanded sequence in the two control
  periods around the join (rad/s³).

The table gives max and mean over the joins of each run. Timing depends on the machine and its
load (inference time adds to the injected delay): say the conditions with the numbers.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

MODES = ("open_loop", "temporal_ensemble", "rtc")
ACTION_STD = 0.02


def stamp(t) -> float:
    return t.sec + t.nanosec * 1e-9


def chunk_arrays(msg, cols):
    """(start, dt, Float[H, J]) of an ActionChunk's columns ``cols``."""
    actions = np.asarray(msg.actions, dtype=np.float64).reshape(msg.horizon, msg.action_dim)[:, cols]
    return stamp(msg.start), stamp(msg.dt), actions


def join_jumps(chunks) -> list[float]:
    """Per join: max |first action of the new chunk − previous chunk's action at its target time|."""
    jumps = []
    for (s0, dt, a0), (s1, _, a1) in zip(chunks, chunks[1:]):
        k = int(round((s1 + dt - s0) / dt)) - 1
        if 0 <= k < len(a0):
            jumps.append(float(np.abs(a1[0] - a0[k]).max()))
    return jumps


def commanded(chunks) -> tuple[np.ndarray, list[int]]:
    """The commanded sequence on the control grid (each chunk replaces the previous from its first
    target) and the grid indices where a new chunk takes over."""
    s_first, dt, _ = chunks[0]
    rows, joins = [], []
    for i, (start, _, actions) in enumerate(chunks):
        first = int(round((start - s_first) / dt))  # grid index of this chunk's first target
        nxt = int(round((chunks[i + 1][0] - s_first) / dt)) if i + 1 < len(chunks) else first + len(actions)
        del rows[first:]
        if i:
            joins.append(first)
        rows.extend(actions[: max(nxt - first, 0)])
    return np.asarray(rows), joins


def join_jerks(chunks) -> list[float]:
    seq, joins = commanded(chunks)
    dt = chunks[0][1]
    jerk = np.abs(np.diff(seq, n=3, axis=0)) / dt ** 3  # row i uses seq[i..i+3]
    out = []
    for j in joins:
        window = jerk[max(j - 3, 0): min(j + 1, len(jerk))]
        if len(window):
            out.append(float(window.max()))
    return out


def make_checkpoint(path: Path, spec):
    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint, random_norm_stats
    from pi0_policy.policy.normalize import NormStats

    stats = random_norm_stats(spec.state_dim, spec.action_dim)
    zero, std = np.zeros(spec.action_dim, np.float32), np.full(spec.action_dim, ACTION_STD, np.float32)
    stats["actions"] = NormStats(mean=zero, std=std, q01=zero - 2 * std, q99=zero + 2 * std)
    return make_random_checkpoint(path, preset="pi0_tiny", state_dim=spec.state_dim,
                                  action_dim=spec.action_dim, seed=0, norm_stats=stats)


class DelayedPolicy:
    """The policy, with ``delay`` seconds slept before each inference (the injected delay)."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay
        self.supports_rtc = getattr(inner, "supports_rtc", False)

    def infer(self, obs):
        time.sleep(self.delay)
        return self.inner.infer(obs)

    def reset(self):
        self.inner.reset()

    @property
    def metadata(self):
        return self.inner.metadata


def run_one(ckpt, spec, mode: str, delay: float, n_chunks: int, num_steps: int, timeout: float):
    import rclpy
    from pi0_hw_interfaces.sim_robot import SimRobotNode
    from pi0_msgs.msg import ActionChunk
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from pi0_policy.policy.local import Pi0Policy
    from pi0_policy.ros import qos
    from pi0_policy.ros.policy_node import PolicyNode

    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    chunks = []
    try:
        robot = SimRobotNode("sim_robot", context=context,
                             parameter_overrides=[Parameter("embodiment", value=spec.name)])
        params = dict(embodiment=spec.name, checkpoint=str(ckpt), num_steps=num_steps, max_input_age=1.0,
                      execution_mode=mode, ensemble_decay=0.01, warmup=True, autostart=True)
        policy = PolicyNode(context=context, policy_factory=lambda p: DelayedPolicy(
            Pi0Policy.from_checkpoint(p.checkpoint, num_steps=p.num_steps, num_threads=1), delay),
            parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        client = rclpy.create_node("modes_bench", context=context)
        for node in (robot, policy, client):
            executor.add_node(node)
        client.create_subscription(ActionChunk, "/pi0_policy/action_chunk", chunks.append, qos.REPORT)
        pub = client.create_publisher(String, "/pi0/instruction", qos.INSTRUCTION)
        pub.publish(String(data="pick up the cube"))
        deadline = time.monotonic() + timeout
        while len(chunks) < n_chunks and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
        policy.stop_and_hold("bench done")
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)
    return chunks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delays", type=float, nargs="+", default=[0.0, 0.1, 0.3], help="seconds")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--chunks", type=int, default=8, help="chunks per run (joins = chunks - 1)")
    parser.add_argument("--num-steps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per run at most")
    parser.add_argument("--plot", default="docs/images/execution_modes.png")
    args = parser.parse_args(argv)

    import tempfile

    import torch
    from pi0_hw_interfaces.embodiment import load_embodiment
    from tqdm import tqdm

    torch.set_num_threads(1)
    spec = load_embodiment("ur5e")
    cols = [i for i, d in enumerate(spec.action_dims) if d.kind == "joint"]
    ckpt = make_checkpoint(Path(tempfile.mkdtemp()) / "ur5e", spec)
    rows, traces = [], {}
    runs = [(m, d) for d in args.delays for m in args.modes]
    for mode, delay in tqdm(runs, desc="runs"):
        msgs = run_one(ckpt, spec, mode, delay, args.chunks, args.num_steps, args.timeout)
        chunks = [chunk_arrays(m, cols) for m in msgs]
        jumps, jerks = (join_jumps(chunks), join_jerks(chunks)) if len(chunks) > 1 else ([], [])
        latency = float(np.median([stamp(m.inference_latency) for m in msgs])) if msgs else float("nan")
        rows.append((mode, delay, len(jumps), latency, jumps, jerks))
        if len(chunks) > 1:
            traces[(mode, delay)] = commanded(chunks)
    print(f"\n{'mode':<18} {'delay':>6} {'joins':>5} {'latency':>8} {'jump max':>9} {'jump mean':>9} "
          f"{'jerk max':>9} {'jerk mean':>9}")
    for mode, delay, n, latency, jumps, jerks in rows:
        f = (lambda v, fn: f"{fn(v):9.4f}" if v else f"{'-':>9}")
        g = (lambda v, fn: f"{fn(v):9.0f}" if v else f"{'-':>9}")
        print(f"{mode:<18} {delay * 1000:4.0f}ms {n:5d} {latency:7.3f}s {f(jumps, max)} {f(jumps, np.mean)} "
              f"{g(jerks, max)} {g(jerks, np.mean)}")
    print("jump in rad, jerk in rad/s^3 at chunk joins (ur5e joints); latency = median inference "
          "(injected delay included), under this machine's load")
    if args.plot and traces:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(args.delays), 1, figsize=(9, 2.6 * len(args.delays)), squeeze=False)
        for ax, delay in zip(axes[:, 0], args.delays):
            for mode in args.modes:
                if (mode, delay) in traces:
                    seq, joins = traces[(mode, delay)]
                    line, = ax.plot(np.arange(len(seq)) * spec.dt, seq[:, 0], label=mode)
                    ax.plot(np.asarray(joins) * spec.dt, seq[joins, 0], "o", ms=3, color=line.get_color())
            ax.set_title(f"injected delay {delay * 1000:.0f} ms: commanded {spec.action_dims[cols[0]].name}"
                         " (dots: chunk joins)", fontsize=9)
            ax.set_ylabel("rad")
        axes[-1, 0].set_xlabel("s")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=90)
        print(f"saved {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
