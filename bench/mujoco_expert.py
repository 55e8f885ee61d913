"""Success rate of the scripted experts on the MuJoCo ALOHA tasks, over seeded episodes.

    python bench/mujoco_expert.py --episodes 50 [--tasks transfer_cube insertion] [--first-seed 0]
        [--gif docs/mujoco_transfer_cube.gif --gif-seed 0]

Each episode: reset with seed s (object poses as gym-aloha samples them), plan ACT's waypoints
through IK (`mujoco_sim.expert.plan`), replay the plan in 1 s JointTrajectory-like chunks
through the same joint_trajectory_controller followers as the ROS node (`robot.run_plan`), in
simulated time (no ROS, no real-time pacing: the ROS path is tested by
test_mujoco_sim.py::test_scripted_transfer_cube_episode_succeeds_over_ros). Success = the task's
reward reached 4 (gym-aloha's is_success) at any step of the 400-step (8 s) episode.
With --ros, the episodes run over ROS instead, in real time: the `mujoco_sim` node and the
`mujoco_expert` node in this process (one executor, ROS_DOMAIN_ID as set), each episode started
by the `~/reset` service and the expert's JointTrajectory chunks published over DDS.
Prints a Markdown table; --gif saves the top camera of one transfer-cube episode.
"""
from __future__ import annotations

import argparse
import sys
import time

from tqdm import tqdm

import pi0_hw_interfaces.mujoco_sim  # noqa: F401  (sets MUJOCO_GL before mujoco loads)
from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.mujoco_sim import expert
from pi0_hw_interfaces.mujoco_sim.robot import PhysicsRobot, run_plan
from pi0_hw_interfaces.mujoco_sim.scene import Cameras, task_names


def success_rate(task: str, seeds) -> dict:
    robot = PhysicsRobot(load_embodiment("bimanual_trossen"), task)
    rewards, failed = [], []
    start = time.perf_counter()
    for seed in tqdm(seeds, desc=task, file=sys.stderr):
        robot.reset(seed)
        out = run_plan(robot, expert.plan(robot.scene))
        rewards.append(out["reward"])
        if not out["success"]:
            failed.append(seed)
    return {"task": task, "n": len(seeds), "success": sum(r == 4 for r in rewards), "failed": failed,
            "rewards": rewards, "seconds": time.perf_counter() - start}


def success_rate_ros(task: str, seeds) -> dict:
    """Episodes over ROS in real time: reset by service, the expert node's chunks over DDS."""
    import json

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from std_srvs.srv import Trigger

    from pi0_hw_interfaces.mujoco_sim.expert_node import ExpertNode
    from pi0_hw_interfaces.mujoco_sim.node import MujocoSimNode

    rclpy.init()
    sim = MujocoSimNode(parameter_overrides=[Parameter("task", value=task), Parameter("camera_rate_hz", value=0.0),
                                             Parameter("max_catchup_s", value=1.0)])
    expert_node = ExpertNode()
    client = expert_node.create_client(Trigger, "mujoco_sim/reset")
    executor = SingleThreadedExecutor()
    for node in (sim, expert_node):
        executor.add_node(node)
    rewards, failed, lags = [], [], []
    start = time.perf_counter()
    try:
        while not client.service_is_ready():
            executor.spin_once(timeout_sec=0.1)
        for seed in tqdm(seeds, desc=f"{task} (ROS)", file=sys.stderr):
            sim.set_parameters([Parameter("seed", value=seed)])
            done = len(expert_node.results)
            future = client.call_async(Trigger.Request())
            episode = None
            while len(expert_node.results) <= done or expert_node.results[-1]["episode"] != episode:
                executor.spin_once(timeout_sec=0.05)
                if episode is None and future.done():
                    episode = json.loads(future.result().message)["episode"]
            info = sim.episode_info()
            rewards.append(info["max_reward"])
            lags.append(info["lag_s"])
            if not info["success"]:
                failed.append(seed)
    finally:
        executor.shutdown()
        sim.destroy_node()
        expert_node.destroy_node()
        rclpy.try_shutdown()
    return {"task": task, "n": len(seeds), "success": sum(r == 4 for r in rewards), "failed": failed,
            "rewards": rewards, "seconds": time.perf_counter() - start, "max_lag_s": max(lags)}


def save_gif(path: str, task: str, seed: int, size=(160, 120), every: int = 8) -> int:
    """One expert episode's top-camera frames (every `every` control steps) as a GIF; returns frames."""
    from PIL import Image

    robot = PhysicsRobot(load_embodiment("bimanual_trossen"), task, seed)
    plan = expert.plan(robot.scene)
    cameras = Cameras(robot.scene.model, *size)
    frames = []
    for k in range(0, len(plan.times), every):
        frames.append(Image.fromarray(cameras.render(robot.scene.data, "base")))
        _advance(robot, plan, k, every)
    cameras.close()
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=every * 20, loop=0, optimize=True)
    return len(frames)


def _advance(robot, plan, k: int, steps: int) -> None:
    """Continue `plan` for `steps` control steps from step k (chunks of the whole plan, as run_plan)."""
    from pi0_hw_interfaces.mujoco_sim.robot import EPOCH

    names = list(robot.spec.joint_names)
    dt = robot.spec.dt
    if k == 0:
        for controller, slots in robot.slots.items():
            robot.accept(controller, [names[i] for i in slots], plan.times, plan.positions[:, slots], EPOCH, EPOCH)
    for i in range(k, min(k + steps, len(plan.times))):
        robot.control(EPOCH + i * dt)
        robot.advance(robot.scene.substeps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=task_names(), choices=task_names())
    parser.add_argument("--ros", action="store_true", help="run the episodes over ROS, in real time")
    parser.add_argument("--gif", default="", help="save one episode's top camera as this GIF")
    parser.add_argument("--gif-task", default="transfer_cube", choices=task_names())
    parser.add_argument("--gif-seed", type=int, default=0)
    args = parser.parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    rows = [(success_rate_ros if args.ros else success_rate)(task, seeds) for task in args.tasks]
    print(f"| task | seeds | scripted expert success{' (over ROS)' if args.ros else ''} | failed seeds | wall s/episode |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {seeds[0]}..{seeds[-1]} | {r['success']}/{r['n']} ({100 * r['success'] / r['n']:.0f}%) "
              f"| {r['failed'] or '-'} | {r['seconds'] / r['n']:.2f} |")
    for r in rows:
        counts = {v: r["rewards"].count(v) for v in sorted(set(r["rewards"]))}
        lag = f"; physics time dropped (CPU behind real time): at most {r['max_lag_s']:.2f} s" if "max_lag_s" in r else ""
        print(f"{r['task']}: best reward per episode {counts}{lag}")
    if args.gif:
        n = save_gif(args.gif, args.gif_task, args.gif_seed)
        print(f"saved {args.gif} ({n} frames, {args.gif_task} seed {args.gif_seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
