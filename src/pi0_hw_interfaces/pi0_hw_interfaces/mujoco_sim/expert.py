"""Scripted experts for the ALOHA sim tasks: ACT's end-effector waypoints as JOINT trajectories.

ACT drives mocap bodies welded to the grippers; here each control step's gripper pose is solved
by `ik.ArmIK` (warm-started from the previous step), so the expert is a joint trajectory that
goes through the same joint_trajectory_controller path as a policy. Waypoints: `expert.yaml`.
No ROS here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mujoco
import numpy as np
import yaml

from . import scene as scene_mod
from .ik import ArmIK

EXPERT_FILE = Path(__file__).with_name("expert.yaml")
ARMS = ("left", "right")


@lru_cache(maxsize=1)
def expert_config() -> dict:
    return yaml.safe_load(EXPERT_FILE.read_text())


def quat_mul(a, b) -> np.ndarray:
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(a, float), np.asarray(b, float))
    return out


def axis_quat(axis, degrees: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    half = np.deg2rad(degrees) / 2
    return np.concatenate([[np.cos(half)], np.sin(half) * axis])


def rotate(quat, vector) -> np.ndarray:
    out = np.zeros(3)
    mujoco.mju_rotVecQuat(out, np.asarray(vector, float), np.asarray(quat, float))
    return out


def conj(quat) -> np.ndarray:
    q = np.asarray(quat, float)
    return np.array([q[0], -q[1], -q[2], -q[3]])


def _quat(spec, init_quat) -> np.ndarray:
    if isinstance(spec, str) and spec == "init":
        return np.asarray(init_quat, float)
    if isinstance(spec, dict):
        return axis_quat(spec["axis"], spec["degrees"])
    return np.asarray(spec, float)


def mocap_path(task: str, objects, steps: int, init: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per arm (xyz (steps, 3), quat (steps, 4), gripper (steps,)): ACT's policy output at steps 0..steps-1.

    `init` {arm: (xyz, quat, gripper)}: the initial mocap poses and gripper openings, used for
    `at: init` / `quat: init` and for the first waypoint's gripper (so the plan starts where the
    robot is; ACT's first gripper target is 0 whatever the gripper's start).
    """
    t_cfg = expert_config()["tasks"][task]
    anchors = {"meet": np.asarray(t_cfg["meet"], float)}
    anchors.update({name: np.asarray(pose[:3], float) for name, pose in zip(t_cfg["objects"], objects)})
    out = {}
    for arm in ARMS:
        wps = t_cfg[arm]
        t = np.array([w["t"] for w in wps], float)
        xyz = np.array([(np.asarray(init[arm][0], float) if w["at"] == "init" else anchors[w["at"]])
                        + np.asarray(w.get("offset", [0, 0, 0]), float) for w in wps])
        quat = np.array([_quat(w["quat"], init[arm][1]) for w in wps])
        grip = np.array([init[arm][2] if i == 0 else w["gripper"] for i, w in enumerate(wps)], float)
        k = np.arange(steps, dtype=float)
        interp = lambda values: np.stack([np.interp(k, t, values[:, i]) for i in range(values.shape[1])], 1)  # noqa: E731
        out[arm] = (interp(xyz), interp(quat), np.interp(k, t, grip))
    return out


@lru_cache(maxsize=4)
def weld_offsets(task: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per arm: gripper_link pose in its mocap body's frame (position, quat) at the EE model's qpos0."""
    model = mujoco.MjModel.from_xml_path(str(scene_mod.assets_dir() / expert_config()["ee_xml"][task]))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    sides = scene_mod.config()["sides"]
    body = scene_mod.config()["gripper_body"]
    out = {}
    for arm in ARMS:
        m_pos, m_quat = data.body(f"mocap_{arm}").xpos, data.body(f"mocap_{arm}").xquat
        g_pos, g_quat = data.body(f"{sides[arm]}/{body}").xpos, data.body(f"{sides[arm]}/{body}").xquat
        out[arm] = (rotate(conj(m_quat), g_pos - m_pos), quat_mul(conj(m_quat), g_quat))
    return out


@dataclass(frozen=True)
class ExpertPlan:
    """A joint trajectory (spec order and units) at the control rate, and how well IK met the poses."""

    times: np.ndarray         # (T,) s from the episode start
    positions: np.ndarray     # (T, n joints)
    max_position_error: float  # m, worst IK residual over the plan
    max_rotation_error: float  # rad


def plan(scene, steps: int | None = None, objects=None) -> ExpertPlan:
    """The expert's joint trajectory for `scene`'s current episode (its task, objects, start pose);
    `objects` (poses x y z qw qx qy qz, e.g. from `~/task`) replace the scene's first."""
    if objects is not None:
        scene.objects = [np.asarray(o, float) for o in objects]
    cfg = scene_mod.config()
    steps = int(steps or scene.task_config["episode_steps"])
    offsets = weld_offsets(scene.task)
    names = list(scene.spec.joint_names)
    start = scene.start_positions()
    solvers = {arm: ArmIK(scene.model, f"{cfg['sides'][arm]}/{cfg['gripper_body']}",
                          [f"{cfg['sides'][arm]}/{j}" for j in cfg["arm_joints"]]) for arm in ARMS}
    slots = {arm: [names.index(f"follower_{arm}_{j}") for j in cfg["arm_joints"]] for arm in ARMS}
    init = {}
    for arm in ARMS:  # the mocap pose whose welded gripper_link is at the start pose
        g_pos, g_quat = solvers[arm].forward(start[slots[arm]])
        rel_pos, rel_quat = offsets[arm]
        m_quat = quat_mul(g_quat, conj(rel_quat))
        m_quat *= np.sign(m_quat[0]) or 1.0  # the hemisphere of ACT's quaternions, for linear interpolation
        opening = float(scene.gripper.normalised(start[names.index(f"follower_{arm}_gripper")]))
        init[arm] = (g_pos - rotate(m_quat, rel_pos), m_quat, opening)
    paths = mocap_path(scene.task, scene.objects, steps, init)
    positions = np.repeat(start[None], steps, axis=0)
    worst_p = worst_r = 0.0
    for arm in ARMS:
        solver = solvers[arm]
        rel_pos, rel_quat = offsets[arm]
        xyz, quat, grip = paths[arm]
        q = start[slots[arm]]
        for k in range(steps):
            mq = quat[k] / np.linalg.norm(quat[k])
            result = solver.solve(xyz[k] + rotate(mq, rel_pos), quat_mul(mq, rel_quat), q)
            q = result.positions
            positions[k, slots[arm]] = q
            worst_p, worst_r = max(worst_p, result.position_error), max(worst_r, result.rotation_error)
        positions[:, names.index(f"follower_{arm}_gripper")] = scene.gripper.angle(grip)
    times = (np.arange(steps) + 1) * scene.spec.dt
    return ExpertPlan(times, positions, worst_p, worst_r)
