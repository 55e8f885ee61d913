"""One episode of a task as the sim robot keeps it: goal, progress, success. No ROS.

`TaskSession(task, seed, default_positions, now, request_id)` samples the goal and the start
positions; `step(now, positions)` updates the goal condition, the reward and the success latch
(the condition held for `hold_s` without a break); `state(now)` is what `~/task` publishes.
"""
from __future__ import annotations

from .task import Task


class TaskSession:
    def __init__(self, task: Task, seed: int, default_positions: dict, now: float, request_id: str = ""):
        self.task = task
        self.seed = int(seed)
        self.request_id = str(request_id)
        self.goal, self.start = task.sample(self.seed, default_positions)
        self.reset_time = now
        self.in_goal = False
        self.reward = 0.0
        self.success = False
        self.success_time: float | None = None
        self._held_since: float | None = None

    def step(self, now: float, positions: dict) -> bool:
        """Update from the robot's `positions`; True when success was reached in this step."""
        self.in_goal, self.reward = self.task.evaluate(self.goal, positions)
        if not self.in_goal:
            self._held_since = None
            return False
        if self._held_since is None:
            self._held_since = now
        if not self.success and now - self._held_since >= self.task.spec.hold_s - 1e-9:
            self.success, self.success_time = True, now
            return True
        return False

    def state(self, now: float) -> dict:
        return {
            "task": self.task.spec.name,
            "seed": self.seed,
            "id": self.request_id,
            "instruction": self.goal["instruction"],
            "goal": self.goal,
            "reset_stamp": self.reset_time,
            "time": round(now - self.reset_time, 4),
            "in_goal": self.in_goal,
            "reward": round(self.reward, 6),
            "success": self.success,
            "success_time": None if self.success_time is None else round(self.success_time - self.reset_time, 4),
        }
