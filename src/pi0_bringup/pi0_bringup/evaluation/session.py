"""Run evaluation episodes for the tasks of one embodiment.

The simulator (the kinematic sim robot, or `mujoco_sim` with `sim="mujoco"`) and the episode
driver (pi0_hw_interfaces.tasks.driver) spin in this process (pi0_bringup.runner); the agent is
the scripted expert (in this process) or the policy node in a process of its own
(`PolicyProcess`), both over DDS. Seeds run `seed, seed + 1, ...` per task; each episode's record
has the model's label.

Time: the kinematic sim runs in real time, or with `time_scale` != 1 on a `ScaledClock`'s
`/clock`. `mujoco_sim` always owns the time here (its `publish_clock` mode at `time_scale`): its
physics never drops time when the CPU falls behind, simulated time slows instead, and the driver
and the policy node follow its `/clock` (use_sim_time).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pi0_bringup import robots


STOP_GRACE_S = 1.5  # between the last hold and stopping the policy node


@dataclass
class EvalPlan:
    embodiment: str              # the tasks' embodiment (= the pi0_bringup robot of that name)
    tasks: list[str]
    episodes: int
    seed: int
    model: str                   # label in the tables: "expert", "untrained", a checkpoint path
    checkpoint: str = ""         # "" with the expert
    instruction: object = None   # None, a fixed text, or a callable(task, goal) -> text
    gif_episodes: int = 2
    policy_params: dict | None = None
    startup_timeout: float = 300.0
    episode_s: float | None = None
    after_success_s: float = 0.0
    time_scale: float = 1.0      # simulated seconds per wall-clock second (< 1: slower than real time)
    sim: str = "kinematic"       # the simulator: a pi0_hw_interfaces.tasks.catalog.CATALOGS key


def _instruction_for(plan: EvalPlan, name: str, spec):
    if plan.instruction is None or isinstance(plan.instruction, str):
        return plan.instruction
    from pi0_hw_interfaces.tasks import Task, load_task

    task = Task(load_task(name), spec)
    return lambda goal: plan.instruction(task, goal)


def hold_time(monitor, time_scale: float = 1.0) -> float:
    """Seconds (of the nodes' clock) to wait after clearing the instruction: twice the slowest
    recent inference (wall-clock latency × time_scale; at least the driver's HOLD_S), so a chunk
    planned before a reset never lands after it."""
    from pi0_hw_interfaces.tasks.driver import HOLD_S

    latencies = [latency for _, _, latency, _ in monitor.snapshot()["chunks"]]
    return max([HOLD_S] + [2.0 * latency * time_scale for latency in latencies[-20:]])


def wait_until_active(monitor, policy, timeout: float) -> None:
    """Wait for the policy node to report `active`; RuntimeError with its faults and log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = monitor.snapshot()
        if snap["lifecycle_state"] == "active":
            return
        if not policy.alive():
            break
        time.sleep(0.2)
    snap = monitor.snapshot()
    faults = "; ".join(snap["faults"]) or "none reported"
    raise RuntimeError(f"the policy node did not become active within {timeout:.0f} s (state "
                       f"{snap['lifecycle_state']}, faults: {faults}); its log ends:\n{policy.log_tail()}")


def policy_timing(monitor, spec, time_scale: float) -> dict:
    """The policy's inference latency against its budget: {chunks, mean_latency_s (wall),
    latencies_s (every chunk's, wall), replan_period_s (the robot's clock), too_slow (mean latency
    × time_scale > replan period)}."""
    latencies = [latency for _, _, latency, _ in monitor.snapshot()["chunks"]]
    mean = sum(latencies) / len(latencies) if latencies else None
    period = spec.replan_interval * spec.dt
    return {"chunks": len(latencies), "mean_latency_s": mean, "latencies_s": latencies, "replan_period_s": period,
            "too_slow": mean is not None and mean * time_scale > period}


def run_plan(plan: EvalPlan, out: Path, progress=None) -> tuple[list[dict], dict | None]:
    """Run every episode of `plan`: (the per-episode records, frames of the first
    `gif_episodes` episodes of each task kept under "frames"; the policy's `policy_timing`,
    None for the expert)."""
    from pi0_hw_interfaces.tasks.catalog import task_catalog
    from pi0_hw_interfaces.tasks.driver import HOLD_S, EpisodeDriver

    from pi0_bringup.evaluation.policy_process import PolicyProcess
    from pi0_bringup.monitor import Monitor
    from pi0_bringup.runner import Runner
    from rclpy.parameter import Parameter

    catalog = task_catalog(plan.sim)
    specs = [catalog.task(t) for t in plan.tasks]
    width, height = specs[0].image_size
    sim_parameters = {"image_width": width, "image_height": height}
    own_clock = plan.sim == "mujoco"  # the simulator publishes /clock itself (see the module doc)
    if own_clock:
        sim_parameters.update(task=specs[0].name, publish_clock=True, time_scale=float(plan.time_scale))
    sim_time = own_clock or plan.time_scale != 1.0
    descriptions = robots.describe(plan.embodiment, hardware="sim", checkpoint=plan.checkpoint or "",
                                   sim_parameters=sim_parameters, parameters=plan.policy_params or {},
                                   sim=plan.sim)
    policy_description, sim_description = descriptions
    spec = robots.embodiment_spec(plan.embodiment)
    results = []
    policy = timing = None
    with Runner([sim_description]) as runner:
        from rclpy.logging import LoggingSeverity

        sim_node = runner.nodes[sim_description.name]
        sim_node.get_logger().set_level(LoggingSeverity.WARN)  # no line per reset
        if sim_time and not own_clock:  # use_sim_time is rclpy's own parameter (no node schema has it)
            from pi0_bringup.evaluation.clock import ScaledClock

            sim_node.set_parameters([Parameter("use_sim_time", value=True)])
            runner.add_node(ScaledClock(plan.time_scale, context=runner.context))
        driver = EpisodeDriver(spec, sim_node=sim_description.name, catalog=catalog, context=runner.context,
                               parameter_overrides=[Parameter("use_sim_time", value=True)] if sim_time else [])
        runner.add_node(driver)
        try:
            if plan.checkpoint:
                monitor = Monitor(spec, context=runner.context, keep_images=False)
                runner.add_node(monitor)
                params = {**policy_description.parameters, **({"use_sim_time": True} if sim_time else {})}
                policy = PolicyProcess(params, out / "logs" / plan.embodiment).start()
                wait_until_active(monitor, policy, plan.startup_timeout)
            driver.wait_for_sim()
            agent = "external" if plan.checkpoint else "expert"
            for task_spec in specs:
                instruction = _instruction_for(plan, task_spec.name, spec)
                for i in range(plan.episodes):
                    if policy is not None and not policy.alive():
                        raise RuntimeError(f"the policy node exited; its log ends:\n{policy.log_tail()}")
                    record = driver.run_episode(task_spec.name, plan.seed + i, agent=agent,
                                                instruction=instruction,
                                                episode_s=plan.episode_s, keep_frames=i < plan.gif_episodes,
                                                hold_s=hold_time(monitor, plan.time_scale) if policy else HOLD_S,
                                                after_success_s=plan.after_success_s)
                    record["model"] = plan.model
                    results.append(record)
                    if progress is not None:
                        progress(record)
            if policy is not None:
                timing = policy_timing(monitor, spec, plan.time_scale)
        finally:
            if policy is not None:
                driver.publish_instruction("")  # hold, and let a running inference finish first
                time.sleep(STOP_GRACE_S)
                policy.stop()
    return results, timing
