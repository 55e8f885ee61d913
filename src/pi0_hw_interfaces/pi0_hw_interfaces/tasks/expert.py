"""The scripted expert: from the task's (privileged) goal to JointTrajectory chunks.

Every replan period (the embodiment's `replan_interval` actions) the expert takes the measured
joint positions, asks the task for the goal positions (`Task.goal_positions`) and sends each
joint_trajectory controller a chunk of `2 × replan_interval` points, one per control period,
moving straight towards the goal at no more than the task's `expert_speed` (rad/s, or the
joint's own velocity limit if lower). Chunks start at the measured position and their first
point lies one period ahead, as the policy node's do, so a recording of the expert has the
policy's timing.
"""
from __future__ import annotations

import numpy as np

from .task import Task


def expert_chunk(current: np.ndarray, goal: np.ndarray, max_step: np.ndarray, points: int) -> np.ndarray:
    """(points, n) positions from `current` towards `goal`, each step at most `max_step` per joint."""
    k = np.arange(1, points + 1)[:, None]
    delta = np.asarray(goal, float) - np.asarray(current, float)
    return np.asarray(current, float) + np.clip(delta, -k * max_step, k * max_step)


class Expert:
    """Chunks for `task`'s episodes on its embodiment (pure; the driver publishes them)."""

    def __init__(self, task: Task):
        self.task = task
        spec = task.embodiment
        _, _, vmax = spec.limits(spec.joint_names)
        self.max_step = np.minimum(vmax, task.spec.expert_speed) * spec.dt
        self.points = 2 * spec.replan_interval
        self.period = spec.replan_interval * spec.dt

    def chunks(self, goal: dict, positions: dict, elapsed: float = 0.0) -> dict:
        """{controller name: (joint names, times s, positions (points, n))} from `positions`
        (`elapsed`, the seconds since the episode's start, does not matter to this expert)."""
        spec = self.task.embodiment
        names = list(spec.joint_names)
        target = self.task.goal_positions(goal, positions)
        path = expert_chunk([positions[n] for n in names], [target[n] for n in names], self.max_step, self.points)
        times = (np.arange(self.points) + 1) * spec.dt
        index = {n: i for i, n in enumerate(names)}
        return {c.name: (list(c.joints), times, path[:, [index[j] for j in c.joints]])
                for c in spec.trajectory_controllers}
