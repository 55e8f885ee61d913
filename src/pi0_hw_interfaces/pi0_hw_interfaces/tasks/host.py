"""The sim robot's task hooks, as pure logic: parse reset requests, keep the session, render.

The sim robot (`sim_robot.py`) owns one `TaskHost` and wires it to ROS:
- `~/reset_task` (std_msgs/String, JSON `{"task": NAME, "seed": INT, "id": STR}`; "task" may be
  left out to reuse the current one): `host.reset(text, default_positions, now)` returns the
  start positions {joint: value} to teleport the robot to (the sim clears every trajectory);
- `~/task` (std_msgs/String JSON, reliable, transient local): `host.state(now)`, published on
  reset, on success and at `TASK_RATE_HZ`: task, seed, id, instruction, goal (privileged),
  reset_stamp (s, the sim's clock), time since reset, in_goal, reward, success, success_time;
  or `{"error": ...}` after a bad request;
- the task's camera role shows `host.render(width, height, positions)`.
"""
from __future__ import annotations

import json

from . import load_task
from .scene import SceneRenderer
from .session import TaskSession
from .task import Task

TASK_RATE_HZ = 10.0


def parse_reset_request(text: str, current: str = "", example: str = "ur5e_reach") -> tuple[str, int, str]:
    """(task name, seed, id) of a `~/reset_task` request (any simulator); "task" left out means
    `current`. ValueError naming what is wrong (the task name itself is the caller's to check)."""
    try:
        request = json.loads(text)
    except ValueError:
        raise ValueError(f"reset_task: not JSON: {text[:80]!r}") from None
    if not isinstance(request, dict):
        raise ValueError(f"reset_task: expected a JSON object, got {text[:80]!r}")
    name = request.get("task") or current
    if not name:
        raise ValueError(f"reset_task: no task named and none loaded; e.g. {{\"task\": \"{example}\", \"seed\": 0}}")
    if not isinstance(name, str):
        raise ValueError(f"reset_task: task must be a task name (a string), got {name!r}")
    seed = request.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"reset_task: seed must be an integer >= 0, got {seed!r}")
    return name, seed, str(request.get("id", ""))


class TaskHost:
    def __init__(self, embodiment):
        self.embodiment = embodiment
        self.task: Task | None = None
        self.session: TaskSession | None = None
        self.error = ""
        self._renderers: dict = {}

    def parse(self, text: str) -> tuple[str, int, str]:
        """(task name, seed, id) of a reset request; ValueError naming what is wrong."""
        return parse_reset_request(text, self.task.spec.name if self.task else "")

    def reset(self, text: str, default_positions: dict, now: float) -> dict:
        """Start an episode from the request `text`; the start positions. ValueError on a bad
        request (the current episode goes on, `state` reports the error)."""
        try:
            name, seed, request_id = self.parse(text)
            if self.task is None or self.task.spec.name != name:
                spec = load_task(name)
                self.task, self._renderers = Task(spec, self.embodiment), {}
        except (KeyError, ValueError) as error:
            self.error = error.args[0] if error.args else str(error)
            raise ValueError(self.error) from None
        self.error = ""
        self.session = TaskSession(self.task, seed, default_positions, now, request_id)
        return self.session.start

    def step(self, now: float, positions: dict) -> bool:
        """Update the session; True when it succeeded in this step."""
        return self.session.step(now, positions) if self.session else False

    def state(self, now: float) -> dict:
        if self.error:
            return {"error": self.error, **({"task": self.task.spec.name} if self.task else {})}
        return self.session.state(now) if self.session else {"task": None}

    def shows(self, role: str) -> bool:
        return self.task is not None and role == self.task.spec.camera

    def render(self, width: int, height: int, positions: dict):
        if (width, height) not in self._renderers:
            self._renderers[(width, height)] = SceneRenderer(self.task, width, height)
        goal = self.session.goal if self.session else None
        return self._renderers[(width, height)].render(goal, positions)
