"""The MuJoCo ALOHA tasks as an episode driver's task catalog (`tasks/catalog.py`).

`MujocoTasks` lets `tasks.driver.EpisodeDriver` (and so `pi0 eval --sim mujoco`) run gym-aloha's
transfer_cube and insertion on `mujoco_sim` through the same `~/reset_task` / `~/task` contract
as the kinematic sim robot. Its expert (`PlanExpert`) is the scripted ACT expert of `expert.py`:
planned once per episode from the object poses in the task's goal, then handed to the driver
chunk by chunk from the episode's elapsed time. No ROS here.
"""
from __future__ import annotations

import numpy as np

from ..tasks.catalog import EpisodeTask
from . import expert as expert_mod
from .scene import AlohaScene, config, resolve_task, task_names


class PlanExpert:
    """One episode's expert plan (`expert.ExpertPlan`) as the driver's chunks: the rest of the
    plan after `elapsed`, timed from now (so every chunk lies on the one timeline that starts at
    the episode's start); after the plan, its last point.

    The whole rest, not 2 replan periods as the kinematic tasks' expert sends: a replan tick that
    comes late (a loaded CPU; the driver shares its process with the simulator) then never
    leaves the followers holding at a chunk's end and jumping to the plan when the next one
    comes, which ACT's insertion does not survive."""

    def __init__(self, plan, spec):
        self.plan, self.spec = plan, spec

    def chunks(self, goal: dict, positions: dict, elapsed: float = 0.0) -> dict:
        times = self.plan.times
        ahead = np.flatnonzero(times > elapsed + 1e-6)
        if ahead.size:
            path, when = self.plan.positions[ahead], times[ahead] - elapsed
        else:  # the plan is over: hold its last point
            path, when = self.plan.positions[-1:], np.array([self.spec.dt])
        index = {n: i for i, n in enumerate(self.spec.joint_names)}
        return {c.name: (list(c.joints), when, path[:, [index[j] for j in c.joints]])
                for c in self.spec.trajectory_controllers}


class MujocoTasks:
    """gym-aloha's tasks on `mujoco_sim` (names and aliases in `aloha.yaml`)."""

    sim_node = "mujoco_sim"

    def __init__(self):
        self._scenes: dict = {}  # task → AlohaScene, the expert's own copy for IK

    def names(self) -> list[str]:
        return task_names()

    def task(self, name: str, embodiment=None) -> EpisodeTask:
        try:
            key = resolve_task(name)
        except ValueError as error:
            raise KeyError(error.args[0]) from None
        cfg = config()
        if embodiment is not None and embodiment.name != cfg["embodiment"]:
            raise ValueError(f"task {key!r} is for embodiment {cfg['embodiment']!r}, not {embodiment.name!r}")
        if embodiment is None:
            from ..embodiment import load_embodiment

            embodiment = load_embodiment(cfg["embodiment"])
        episodes = cfg["episodes"]
        steps = cfg["tasks"][key]["episode_steps"]
        return EpisodeTask(key, cfg["embodiment"], episodes["camera"], tuple(episodes["image_size"]),
                           round(steps * embodiment.dt, 6))

    def expert(self, name: str, goal: dict, embodiment) -> PlanExpert:
        key = resolve_task(name)
        if key not in self._scenes:
            self._scenes[key] = AlohaScene(embodiment, key)
        plan = expert_mod.plan(self._scenes[key], objects=goal["objects"])
        return PlanExpert(plan, embodiment)
