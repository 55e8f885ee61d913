"""Inverse kinematics of one arm by damped least squares on MuJoCo's body Jacobians (no ROS).

`ArmIK(model, body, joints)` solves for the joint positions that put `body` at a world pose
(position, quaternion wxyz), starting from a guess (the previous solution along a path), with
the joints kept inside their MJCF ranges. It works on its own MjData, so the simulation is never
touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class IKResult:
    positions: np.ndarray
    position_error: float   # m
    rotation_error: float   # rad
    iterations: int


class ArmIK:
    """IK for body `body` over joints `joints` (MJCF names) of `model`."""

    def __init__(self, model, body: str, joints, damping: float = 1e-3, rotation_weight: float = 0.5,
                 max_step: float = 0.2):
        self.model = model
        self.data = mujoco.MjData(model)
        self.body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)
        if self.body < 0:
            raise KeyError(f"model has no body {body!r}")
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in joints]
        if min(ids) < 0:
            raise KeyError(f"model lacks some of the joints {list(joints)}")
        self.qpos = np.array([model.jnt_qposadr[j] for j in ids])
        self.dofs = np.array([model.jnt_dofadr[j] for j in ids])
        self.lower, self.upper = model.jnt_range[ids, 0].copy(), model.jnt_range[ids, 1].copy()
        self.damping = damping
        self.rotation_weight = rotation_weight
        self.max_step = max_step  # rad per iteration, so a far target cannot fling the arm to another branch
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q) -> tuple[np.ndarray, np.ndarray]:
        """World (position, quaternion wxyz) of the body at joint positions `q`."""
        self.data.qpos[self.qpos] = q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.xpos[self.body].copy(), self.data.xquat[self.body].copy()

    def error(self, target_pos, target_quat) -> np.ndarray:
        """(position error, world rotation vector error) at the current kinematics."""
        pos, quat = self.data.xpos[self.body], self.data.xquat[self.body]
        conj, diff, rot = np.zeros(4), np.zeros(4), np.zeros(3)
        mujoco.mju_negQuat(conj, quat)
        mujoco.mju_mulQuat(diff, np.asarray(target_quat, float), conj)
        if diff[0] < 0:
            diff = -diff
        mujoco.mju_quat2Vel(rot, diff, 1.0)
        return np.concatenate([np.asarray(target_pos, float) - pos, rot])

    def solve(self, target_pos, target_quat, guess, iterations: int = 100, tolerance: float = 1e-5) -> IKResult:
        quat = np.asarray(target_quat, float)
        quat = quat / np.linalg.norm(quat)
        q = np.clip(np.asarray(guess, float), self.lower, self.upper)
        weights = np.array([1, 1, 1] + [self.rotation_weight] * 3, float)
        for it in range(1, iterations + 1):
            self.data.qpos[self.qpos] = q
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            err = self.error(target_pos, quat)
            if np.linalg.norm(err * weights) < tolerance:
                break
            mujoco.mj_jacBody(self.model, self.data, self._jacp, self._jacr, self.body)
            jac = np.vstack([self._jacp[:, self.dofs], self._jacr[:, self.dofs]]) * weights[:, None]
            e = err * weights
            dq = jac.T @ np.linalg.solve(jac @ jac.T + self.damping * np.eye(6), e)
            dq *= min(1.0, self.max_step / max(np.abs(dq).max(), 1e-12))
            q = np.clip(q + dq, self.lower, self.upper)
        self.data.qpos[self.qpos] = q
        mujoco.mj_kinematics(self.model, self.data)
        err = self.error(target_pos, quat)
        return IKResult(q, float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:])), it)
