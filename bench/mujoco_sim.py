"""Speed of the MuJoCo ALOHA simulator on this machine: physics steps per second and render time
per camera, as absolute numbers with the machine's load and as ratios to real time.

    nice -n 5 python bench/mujoco_sim.py [--task transfer_cube] [--seconds 4] [--sizes 640x480 224x224 64x48]
        [--repeats 5] [--shadows] [--clock-scales 1 2 5 --clock-seconds 4]

Physics: the expert's transfer-cube plan replayed through the followers (`robot.run_plan`) for
--seconds of simulated time; steps/s and the real-time factor (simulated s per wall s, 1.0 =
real time). Render: median ms per image of each camera (base=top, left_wrist, right_wrist) at each
size over --repeats renders (after one warm-up), with shadows off (the node's default), and with
--shadows also on (the ratio on/off is printed). The load average is printed: on a shared
machine absolute numbers vary; ratios measured in the same run hold better.
--clock-scales: the `mujoco_sim` node in this process with `time_scale` s (no cameras), spun for
--clock-seconds of wall time: simulated seconds per wall second its /clock achieved, and the
shortfall it counted (`lag_s`), against the physics-only real-time factor above.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import pi0_hw_interfaces.mujoco_sim  # noqa: F401  (sets MUJOCO_GL before mujoco loads)
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.mujoco_sim import expert
from pi0_hw_interfaces.mujoco_sim.robot import PhysicsRobot, run_plan
from pi0_hw_interfaces.mujoco_sim.scene import Cameras, task_names


def physics(task: str, seconds: float) -> dict:
    robot = PhysicsRobot(load_embodiment("bimanual_trossen"), task, seed=0)
    plan = expert.plan(robot.scene)
    control_steps = int(round(seconds / robot.spec.dt))
    start = time.perf_counter()
    run_plan(robot, plan, steps=control_steps)
    wall = time.perf_counter() - start
    steps = control_steps * robot.scene.substeps
    return {"steps": steps, "wall": wall, "steps_per_s": steps / wall,
            "real_time_factor": control_steps * robot.spec.dt / wall}


def render_ms(task: str, size: tuple[int, int], repeats: int, shadows: bool) -> dict[str, float]:
    robot = PhysicsRobot(load_embodiment("bimanual_trossen"), task, seed=0)
    cameras = Cameras(robot.scene.model, *size, shadows=shadows)
    out = {}
    for role in ("base", "left_wrist", "right_wrist"):
        cameras.render(robot.scene.data, role)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            cameras.render(robot.scene.data, role)
            times.append(time.perf_counter() - t)
        out[role] = 1000 * statistics.median(times)
    cameras.close()
    return out


def clock_rate(task: str, scale: float, seconds: float) -> dict:
    """The node with time_scale `scale` spun for `seconds` of wall time: achieved simulated s / wall s."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from pi0_hw_interfaces.mujoco_sim.node import MujocoSimNode

    context = Context()
    rclpy.init(context=context)
    try:
        node = MujocoSimNode(context=context, parameter_overrides=[
            Parameter("task", value=task), Parameter("camera_rate_hz", value=0.0),
            Parameter("publish_clock", value=True), Parameter("time_scale", value=float(scale))])
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.spin_once(timeout_sec=0.1)
        sim0, wall0 = node.sim_now, time.monotonic()
        while time.monotonic() - wall0 < seconds:
            executor.spin_once(timeout_sec=0.05)
        rate = (node.sim_now - sim0) / (time.monotonic() - wall0)
        lag = node.lag_s
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return {"scale": scale, "rate": rate, "lag_s": lag}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="transfer_cube", choices=task_names())
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sizes", nargs="*", default=["640x480", "224x224", "64x48"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shadows", action="store_true", help="also time renders with shadows")
    parser.add_argument("--clock-scales", nargs="*", type=float, default=[], help="node time_scale values to time")
    parser.add_argument("--clock-seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; MUJOCO_GL={os.environ['MUJOCO_GL']}")
    p = physics(args.task, args.seconds)
    print(f"physics: {p['steps']} steps in {p['wall']:.2f} s = {p['steps_per_s']:.0f} steps/s, "
          f"{p['real_time_factor']:.1f}x real time (followers + contacts included, no rendering)")
    if args.clock_scales:
        print("| node time_scale | /clock achieved (sim s / wall s) | achieved / asked | lag_s counted |")
        print("|---:|---:|---:|---:|")
        for scale in args.clock_scales:
            c = clock_rate(args.task, scale, args.clock_seconds)
            print(f"| {scale:g} | {c['rate']:.2f} | {c['rate'] / scale:.2f} | {c['lag_s']:.2f} |")
    print("| image size | shadows | base (top) ms | left_wrist ms | right_wrist ms | 3 cameras / control period (20 ms) |")
    print("|---|---|---|---|---|---|")
    for text in args.sizes:
        size = tuple(int(v) for v in text.split("x"))
        rows = [(False, render_ms(args.task, size, args.repeats, False))]
        if args.shadows:
            rows.append((True, render_ms(args.task, size, args.repeats, True)))
        for shadows, ms in rows:
            total = sum(ms.values())
            print(f"| {text} | {'on' if shadows else 'off'} | {ms['base']:.1f} | {ms['left_wrist']:.1f} | "
                  f"{ms['right_wrist']:.1f} | {total / 20:.1f}x |")
        if args.shadows:
            ratio = sum(rows[1][1].values()) / sum(rows[0][1].values())
            print(f"  {text}: shadows on / off = {ratio:.1f}x render time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
