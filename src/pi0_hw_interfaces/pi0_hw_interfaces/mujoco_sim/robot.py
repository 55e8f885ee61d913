"""The MuJoCo scene driven like the sim robot: joint_trajectory_controller followers → physics.

`PhysicsRobot` owns an `AlohaScene` and one `GroupFollower` per trajectory controller of the
spec (the same JTC acceptance, clamping and velocity caps as `sim_robot`). `control(now)` steps
the followers to `now` (seconds on any clock) and sets their positions as the position
actuators' targets; `advance(seconds)` steps the physics. The followers' state is the command;
the joint states come from the physics. No ROS here; `run_plan` replays a plan with it.
"""
from __future__ import annotations

import numpy as np

from .. import safety
from ..follower import GroupFollower
from .scene import AlohaScene


class PhysicsRobot:
    def __init__(self, spec, task: str = "transfer_cube", seed: int = 0):
        self.spec = spec
        self.scene = AlohaScene(spec, task)
        index = {n: i for i, n in enumerate(spec.joint_names)}
        self.slots = {c.name: [index[j] for j in c.joints] for c in spec.trajectory_controllers}
        self.limits = {c.name: safety.JointLimits.from_spec(spec, c.joints) for c in spec.trajectory_controllers}
        self.groups: dict[str, GroupFollower] = {}
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """A new seeded episode: physics reset, followers at the start pose with no trajectory."""
        self.scene.reset(seed)
        start = self.scene.start_positions()
        self.groups = {name: GroupFollower(name, self.limits[name], start[slots])
                       for name, slots in self.slots.items()}

    def accept(self, controller: str, names, times, positions, stamp: float, now: float):
        """A trajectory for `controller` (raises `TrajectoryError`, KeyError for an unknown controller)."""
        return self.groups[controller].accept(names, times, positions, stamp, now)

    def commanded(self) -> np.ndarray:
        out = np.zeros(len(self.spec.joint_names))
        for name, g in self.groups.items():
            out[self.slots[name]] = g.positions
        return out

    def control(self, now: float) -> np.ndarray:
        """Step the followers to `now`; their positions become the actuator targets (returned)."""
        for g in self.groups.values():
            g.step(now)
        command = self.commanded()
        self.scene.command(command)
        return command

    def advance(self, steps: int) -> int:
        """`steps` physics steps; returns the reward after them."""
        return self.scene.step(steps)


EPOCH = 1000.0  # simulated clock at the episode start (a stamp of 0 would mean "now" to the followers)


def run_plan(robot: PhysicsRobot, plan, chunk_steps: int = 50, steps: int | None = None) -> dict:
    """Replay `plan` (expert.ExpertPlan) through the followers in simulated time, as chunks of
    `chunk_steps` points each sent when its first point is due (stamp = episode start), as the
    ROS expert does. Returns {"reward": best reward, "success": bool, "tracking_error": max rad}."""
    spec, scene = robot.spec, robot.scene
    dt = spec.dt
    names = list(spec.joint_names)
    total = int(steps or len(plan.times))
    worst = 0.0
    for k in range(total):
        now = EPOCH + k * dt
        if k % chunk_steps == 0:
            window = slice(k, min(k + chunk_steps + 1, len(plan.times)))
            for controller, slots in robot.slots.items():
                joints = [names[i] for i in slots]
                robot.accept(controller, joints, plan.times[window], plan.positions[window][:, slots], EPOCH, now)
        robot.control(now)
        robot.advance(scene.substeps)
        worst = max(worst, float(np.abs(scene.positions() - robot.commanded())[~scene.is_gripper].max()))
    return {"reward": scene.best_reward, "success": scene.success, "tracking_error": worst}
