"""Simulated language-conditioned tasks for the sim robot (definitions are the YAML files here).

    from pi0_hw_interfaces.tasks import list_tasks, load_task
    spec = load_task("ur5e_reach")            # TaskSpec; unknown name → KeyError listing the names
    task = Task(spec, load_embodiment(spec.embodiment))

`task.py`: definitions and pure logic (goals, success, the expert's answer); `scene.py`: the
task camera's image; `session.py`: one episode's state as the sim robot keeps it; `episode.py`:
the `/pi0/episode` contract; `driver.py`: the ROS node that runs episodes (reset, instruction,
events, success) with the scripted expert (`expert.py`) or an external policy.
"""
from __future__ import annotations

import functools
from importlib import resources

import yaml

from .task import Task, TaskSpec

__all__ = ["Task", "TaskSpec", "list_tasks", "load_task"]


def list_tasks() -> list[str]:
    """Names of the packaged tasks, sorted."""
    folder = resources.files("pi0_hw_interfaces").joinpath("tasks")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.lru_cache(maxsize=None)
def load_task(name: str) -> TaskSpec:
    """The packaged task `name`; KeyError naming the choices if there is none."""
    if name not in list_tasks():
        raise KeyError(f"unknown task {name!r}; choose one of {', '.join(list_tasks())}")
    where = f"pi0_hw_interfaces/tasks/{name}.yaml"
    data = yaml.safe_load(resources.files("pi0_hw_interfaces").joinpath("tasks", f"{name}.yaml").read_text())
    spec = TaskSpec.from_dict(data, where)
    if spec.name != name:
        raise ValueError(f"{where}: name {spec.name!r} differs from the file name")
    return spec
