"""What the policy node costs on top of the model: input → publish latency and image conversion.

    python bench/node_overhead.py --embodiment mobile_trossen --chunks 100 --repeats 50

1. Image conversion of three 640x480 cameras (sensor_msgs/Image rgb8 and bgr8, and
   CompressedImage jpeg), with numpy/OpenCV and with cv_bridge where it is installed.
2. The node with a ZERO POLICY (a BasePolicy whose infer returns zeros, no model at all), spun
   as `pi0_policy_node` spins it (one executor thread, the inference worker thread), fed three
   640x480 rgb8 cameras at 30 Hz and joint states over real DDS by a separate process (as
   camera drivers are), replanning at every control tick. Reported per chunk, from the node's
   own measurements:
   - planning job: snapshot of the inputs → image conversion → adapter encode → (zero) policy →
     decode, scheduling, velocity cap → JointTrajectory/ActionChunk published;
   - newest input → publish: the same plus the executor's delivery of the input (a due planning
     job starts when a joint state arrives, not on the next control tick).
Both are printed as medians and 90th percentiles, with ratios to the 20 Hz (50 ms) and 50 Hz
(20 ms) control periods. Model time is measured by bench/model_latency.py, not here.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PERIODS_MS = {"20 Hz": 50.0, "50 Hz": 20.0}


def ratios(ms: float) -> str:
    return ", ".join(f"{ms / p:.2f}x the {name} period" for name, p in PERIODS_MS.items())


def pct(values, q):
    return float(np.percentile(values, q))


def bench_conversions(repeats: int) -> None:
    from pi0_policy.ros.conversions import (compressed_to_rgb, image_to_rgb, make_bridge, rgb_to_compressed,
                                            rgb_to_image)

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    frames = [np.stack([(x + 40 * i) % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
              + rng.integers(0, 8, (480, 640, 3), dtype=np.uint8) for i in range(3)]
    bridge = make_bridge()
    cases = {
        "rgb8 (numpy)": ([rgb_to_image(f, "rgb8") for f in frames], lambda m: image_to_rgb(m, (640, 480))),
        "bgr8 (numpy/OpenCV)": ([rgb_to_image(f, "bgr8") for f in frames],
                                lambda m: image_to_rgb(m, (640, 480))),
        "jpeg q90 (OpenCV)": ([rgb_to_compressed(f, "jpeg") for f in frames],
                              lambda m: compressed_to_rgb(m, (640, 480))),
    }
    if bridge is not None:
        cases["rgb8 (cv_bridge)"] = (cases["rgb8 (numpy)"][0], lambda m: image_to_rgb(m, (640, 480), bridge))
        cases["bgr8 (cv_bridge)"] = (cases["bgr8 (numpy/OpenCV)"][0],
                                     lambda m: image_to_rgb(m, (640, 480), bridge))
    print(f"\nImage conversion, three 640x480 cameras, {repeats} repeats (milliseconds for all three):")
    for name, (msgs, convert) in cases.items():
        for m in msgs:
            convert(m)  # warm up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for m in msgs:
                convert(m)
            times.append((time.perf_counter() - t) * 1e3)
        med = statistics.median(times)
        print(f"  {name:22s} median {med:7.2f} ms  p90 {pct(times, 90):7.2f} ms  ({ratios(med)})")


def feed(embodiment: str) -> None:
    """The robot side, in its own process (as camera drivers are): three 640x480 rgb8 cameras at
    30 Hz and joint states at the control rate, stamped with the clock, until SIGTERM/SIGINT."""
    import signal

    import rclpy
    from pi0_hw_interfaces.embodiment import load_embodiment
    from rclpy.executors import SingleThreadedExecutor

    sys.path.insert(0, str(Path(__file__).parents[1] / "src/pi0_policy/test"))
    from node_support import RobotInputs

    spec = load_embodiment(embodiment)
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    stop = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.append(1))
    node = rclpy.create_node("bench_inputs")
    inputs = RobotInputs(node, spec, camera_rate=30.0, joint_rate=spec.control_rate_hz)
    inputs.instruct("benchmark")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stop:
        executor.spin_once(timeout_sec=0.1)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()


def bench_node(embodiment: str, chunks: int) -> dict:
    """The node spun as the console script spins it (one executor thread + the worker thread),
    fed by a separate process; returns the per-chunk times in ms."""
    import subprocess

    import rclpy
    from pi0_hw_interfaces.embodiment import load_embodiment
    from pi0_hw_interfaces.ros_time import time_to_sec
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from pi0_msgs.msg import ActionChunk
    from pi0_policy.policy.base import BasePolicy
    from pi0_policy.ros.policy_node import PolicyNode

    spec = load_embodiment(embodiment)

    class ZeroPolicy(BasePolicy):
        """No model: zeros of the right shape (the node's overhead alone)."""

        def infer(self, obs):
            return {"actions": np.zeros((50, spec.action_dim), np.float32), "timing": {}}

        @property
        def metadata(self):
            return {"state_dim": spec.state_dim, "action_dim": spec.action_dim, "horizon": 50,
                    "image_keys": [], "config": "zero"}

    feeder = subprocess.Popen([sys.executable, __file__, "--feed", embodiment])
    context = Context()
    rclpy.init(context=context)
    sys.setswitchinterval(0.0005)  # as pi0_policy_node's main
    executor = SingleThreadedExecutor(context=context)
    records, stale = [], []
    try:
        params = dict(embodiment=spec.name, checkpoint="(zero policy)", replan_interval=1, warmup=False)
        node = PolicyNode(context=context, policy_factory=lambda p: ZeroPolicy(),
                          parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        probe = rclpy.create_node("bench_probe", context=context)
        probe.create_subscription(ActionChunk, "/pi0_policy/action_chunk",
                                  lambda m: records.append((time_to_sec(m.inference_latency) * 1e3,
                                                            node.run.latency.get("total", float("nan")) * 1e3,
                                                            node.run.latency.get("job_cpu", float("nan")) * 1e3)),
                                  10)
        executor.add_node(node)
        executor.add_node(probe)
        node.trigger_configure()
        node.trigger_activate()
        deadline = time.monotonic() + 180
        while len(records) < chunks + 5 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if len(records) > 5 and any("stale" in f for f in node.run.input_faults):
                stale.append(list(node.run.input_faults))
    finally:
        feeder.terminate()
        feeder.wait(30)
        # The node's shutdown transition first: it stops the planning job and holds while the
        # context is still valid (no job may publish after rclpy.shutdown).
        for n in executor.get_nodes():
            if hasattr(n, "trigger_shutdown"):
                n.trigger_shutdown()
        executor.shutdown()
        for n in executor.get_nodes():
            n.destroy_node()
        rclpy.shutdown(context=context)
    records = records[5:]  # skip start-up
    if not records:
        print("no chunk was published: check the node's status faults", file=sys.stderr)
        return {}
    job = [r[0] for r in records]
    total = [r[1] for r in records]
    cpu = [r[2] for r in records]
    print(f"\nNode overhead, ZERO POLICY (no model), {spec.name} ({spec.control_rate_hz:g} Hz, "
          f"{len(spec.cameras)} cameras 640x480 rgb8 at 30 Hz from another process), {len(records)} chunks:")
    for name, values in (("planning job (snapshot -> publish)", job),
                         ("planning job, CPU time of its thread", cpu),
                         ("newest input -> publish", total)):
        med = statistics.median(values)
        print(f"  {name:42s} median {med:7.2f} ms  p90 {pct(values, 90):7.2f} ms  ({ratios(med)})")
    print(f"  control ticks with a stale input after start-up: {len(stale)}")
    return {"job": job, "total": total, "cpu": cpu, "stale": len(stale)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embodiment", default="mobile_trossen")
    parser.add_argument("--chunks", type=int, default=100, help="chunks to time in the node bench")
    parser.add_argument("--repeats", type=int, default=50, help="repeats of the conversion bench")
    parser.add_argument("--feed", metavar="EMBODIMENT", help=argparse.SUPPRESS)  # the feeder process
    args = parser.parse_args(argv)
    if args.feed:
        feed(args.feed)
        return 0
    bench_conversions(args.repeats)
    bench_node(args.embodiment, args.chunks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
