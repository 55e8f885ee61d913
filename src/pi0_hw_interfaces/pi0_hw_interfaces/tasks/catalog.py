"""Which tasks an episode driver can run on a simulator, and each task's scripted expert.

Both simulators speak one episode contract (see `host.py`): `<sim>/reset_task` (std_msgs/String
JSON `{"task", "seed", "id"}`) starts a seeded episode, `<sim>/task` (JSON) confirms it with the
request's id and reports `goal` (privileged; `goal["instruction"]` is the task's text), `reward`,
`success`, `reset_stamp` and `success_time`. What differs per simulator is kept here:

- `KinematicTasks`: the language-conditioned tasks of this folder on `sim_robot`;
- `pi0_hw_interfaces.mujoco_sim.episodes.MujocoTasks`: gym-aloha's transfer_cube and insertion
  on `mujoco_sim`.

A catalog has `sim_node` (the simulator's node name), `names()`, `task(name, embodiment=None)` →
`EpisodeTask` (KeyError naming the choices for an unknown name; ValueError when the task is for
another embodiment) and `expert(name, goal, embodiment)` → an object whose
`chunks(goal, positions, elapsed)` gives {controller: (joint names, times s, positions (points,
n))} (`elapsed`: seconds since the episode's start on the driver's clock).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

#: Simulator → "module:class" of its task catalog (imported when asked for: mujoco is heavy).
CATALOGS = {"kinematic": "pi0_hw_interfaces.tasks.catalog:KinematicTasks",
            "mujoco": "pi0_hw_interfaces.mujoco_sim.episodes:MujocoTasks"}


@dataclass(frozen=True)
class EpisodeTask:
    """What a driver needs of a task: its embodiment, the camera shown in GIFs and its image size
    (width, height) there, and the episode's time limit."""

    name: str
    embodiment: str
    camera: str
    image_size: tuple[int, int]
    episode_s: float


def task_catalog(sim: str = "kinematic"):
    """The task catalog of simulator `sim` (a `CATALOGS` key; ValueError naming the choices)."""
    if sim not in CATALOGS:
        raise ValueError(f"unknown simulator {sim!r}; choose one of {', '.join(CATALOGS)}")
    module, name = CATALOGS[sim].split(":")
    return getattr(importlib.import_module(module), name)()


class KinematicTasks:
    """The tasks of `pi0_hw_interfaces/tasks/*.yaml` on the kinematic `sim_robot`."""

    sim_node = "sim_robot"

    def names(self) -> list[str]:
        from . import list_tasks

        return list_tasks()

    def task(self, name: str, embodiment=None) -> EpisodeTask:
        from . import load_task
        from .task import Task

        spec = load_task(name)
        if embodiment is not None:
            Task(spec, embodiment)  # ValueError: the task is for another embodiment
        return EpisodeTask(spec.name, spec.embodiment, spec.camera, spec.image_size, spec.episode_s)

    def expert(self, name: str, goal: dict, embodiment):
        from . import load_task
        from .expert import Expert
        from .task import Task

        return Expert(Task(load_task(name), embodiment))
