"""The MuJoCo ALOHA scene (gym-aloha's packaged MJCF) in the embodiment spec's joints and units.

No ROS here. Positions are in spec joint order and spec units (arm joints rad, grippers as the
follower gripper motor angle in rad, mapped to the MJCF's slide fingers through `GripperMap`).
Offscreen rendering uses MUJOCO_GL (default `egl`, set by the package: Mesa's EGL renders on the
CPU; `osmesa` needs libosmesa6), read by mujoco when it is first imported.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

import mujoco  # MUJOCO_GL: set in the package's __init__

from . import tasks

CONFIG_FILE = Path(__file__).with_name("aloha.yaml")


@lru_cache(maxsize=1)
def config() -> dict:
    """The scene's data (`aloha.yaml`)."""
    return yaml.safe_load(CONFIG_FILE.read_text())


def assets_dir() -> Path:
    """The folder of gym-aloha's MJCF and meshes (installed package data; nothing is downloaded)."""
    package = config()["assets_package"]
    found = importlib.util.find_spec(package)  # the folder only: gym_aloha/__init__ needs gymnasium
    if found is None or not found.submodule_search_locations:
        raise OSError(f"the Python package {package!r} (gym-aloha, for the ALOHA MJCF) is not installed: "
                      "run scripts/setup.sh, or pip install --no-deps -r requirements/no-deps.txt")
    return Path(list(found.submodule_search_locations)[0]) / "assets"


def task_names() -> list[str]:
    return list(config()["tasks"])


def resolve_task(name: str) -> str:
    """The task key for `name` or an alias; ValueError naming the choices."""
    for key, task in config()["tasks"].items():
        if name == key or name in task.get("aliases", ()):
            return key
    raise ValueError(f"unknown task {name!r}; choose one of {', '.join(task_names())}")


def sample_objects(task: str, seed: int) -> list[np.ndarray]:
    """Initial object poses (x y z qw qx qy qz) for `seed`, sampled as gym-aloha's utils do."""
    rng = np.random.RandomState(int(seed))
    poses = []
    for obj in config()["tasks"][resolve_task(task)]["objects"]:
        position = rng.uniform(np.asarray(obj["low"], float), np.asarray(obj["high"], float))
        poses.append(np.concatenate([position, [1.0, 0.0, 0.0, 0.0]]))
    return poses


@dataclass(frozen=True)
class GripperMap:
    """Spec gripper angle (rad) ↔ normalised opening (0 closed, 1 open) ↔ MJCF finger position (m)."""

    joint_open: float
    joint_close: float
    position_open: float
    position_close: float

    def normalised(self, angle):
        return (np.asarray(angle, float) - self.joint_close) / (self.joint_open - self.joint_close)

    def angle(self, normalised):
        return self.joint_close + np.asarray(normalised, float) * (self.joint_open - self.joint_close)

    def to_finger(self, angle):
        return self.position_close + self.normalised(angle) * (self.position_open - self.position_close)

    def to_angle(self, finger):
        n = (np.asarray(finger, float) - self.position_close) / (self.position_open - self.position_close)
        return self.angle(n)

    @property
    def scale(self) -> float:
        """d angle / d finger position (for velocities)."""
        return (self.joint_open - self.joint_close) / (self.position_open - self.position_close)


def gripper_map() -> GripperMap:
    g = config()["gripper"]
    return GripperMap(g["joint_open"], g["joint_close"], g["position_open"], g["position_close"])


class AlohaScene:
    """One task's MuJoCo model and data, read and commanded in spec joint order and units."""

    def __init__(self, spec, task: str = "transfer_cube"):
        cfg = config()
        self.task = resolve_task(task)
        self.task_config = cfg["tasks"][self.task]
        self.spec = spec
        self.model = mujoco.MjModel.from_xml_path(str(assets_dir() / self.task_config["xml"]))
        self.data = mujoco.MjData(self.model)
        self.gripper = gripper_map()
        self.substeps = max(1, round(spec.dt / self.model.opt.timestep))
        m = self.model
        jid = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)  # noqa: E731
        actuator_of = {int(m.actuator_trnid[a, 0]): a for a in range(m.nu)}
        # Per spec joint: (qpos address, dof address, actuator) of the MJCF joint; grippers: the left finger,
        # with the right finger mirrored (its qpos/actuator in `_mirror`).
        self._qpos, self._dof, self._act, self._mirror, self.is_gripper = [], [], [], [], []
        for name in spec.joint_names:
            side, joint = self._mjcf_joint(name)
            is_gripper = joint is None
            joint = cfg["gripper"]["finger_joints"][0] if is_gripper else joint
            j = jid(f"{side}/{joint}")
            if j < 0:
                raise KeyError(f"MJCF has no joint {side}/{joint} for spec joint {name!r}")
            self._qpos.append(m.jnt_qposadr[j])
            self._dof.append(m.jnt_dofadr[j])
            self._act.append(actuator_of[j])
            self.is_gripper.append(is_gripper)
            if is_gripper:
                r = jid(f"{side}/{cfg['gripper']['finger_joints'][1]}")
                self._mirror.append((m.jnt_qposadr[r], actuator_of[r]))
        self.is_gripper = np.array(self.is_gripper)  # per spec joint: a gripper (mapped to the fingers)
        self._objects = [m.jnt_qposadr[jid(o["joint"])] for o in self.task_config["objects"]]
        self._geom_names = [m.geom(i).name for i in range(m.ngeom)]
        self.seed: int | None = None
        self.objects: list[np.ndarray] = []
        self.best_reward = 0

    def _mjcf_joint(self, spec_joint: str) -> tuple[str, str | None]:
        """(MJCF arm prefix, joint name or None for the gripper) of a spec joint follower_<side>_<joint>."""
        cfg = config()
        for side, prefix in cfg["sides"].items():
            head = f"follower_{side}_"
            if spec_joint.startswith(head):
                rest = spec_joint[len(head):]
                if rest == "gripper":
                    return prefix, None
                if rest in cfg["arm_joints"]:
                    return prefix, rest
        raise KeyError(f"spec joint {spec_joint!r} has no MJCF joint (expected follower_<left|right>_<"
                       f"{'|'.join(cfg['arm_joints'])}|gripper>)")

    # ------------------------------------------------------------------ episode
    def start_positions(self) -> np.ndarray:
        """The episode's start pose (ACT's START_ARM_POSE) in spec order and units."""
        cfg = config()
        arm = dict(zip(cfg["arm_joints"], cfg["start_arm"]))
        out = []
        for name in self.spec.joint_names:
            _, joint = self._mjcf_joint(name)
            out.append(float(self.gripper.to_angle(cfg["start_finger"])) if joint is None else arm[joint])
        return np.array(out)

    def reset(self, seed: int) -> None:
        """Start a seeded episode: arms at the start pose, objects at the poses `seed` samples."""
        mujoco.mj_resetData(self.model, self.data)
        start = self.start_positions()
        self._write_qpos(start)
        self.command(start)
        self.seed = int(seed)
        self.objects = sample_objects(self.task, seed)
        for adr, pose in zip(self._objects, self.objects):
            self.data.qpos[adr:adr + 7] = pose
        mujoco.mj_forward(self.model, self.data)
        self.best_reward = 0

    def _write_qpos(self, positions) -> None:
        q = np.asarray(positions, float)
        fingers = self.gripper.to_finger(q)
        for i, adr in enumerate(self._qpos):
            self.data.qpos[adr] = fingers[i] if self.is_gripper[i] else q[i]
        for (adr, _), finger in zip(self._mirror, fingers[self.is_gripper]):
            self.data.qpos[adr] = -finger

    # ------------------------------------------------------------------ state and command
    @property
    def time(self) -> float:
        return float(self.data.time)

    def positions(self) -> np.ndarray:
        q = self.data.qpos[self._qpos].copy()
        q[self.is_gripper] = self.gripper.to_angle(q[self.is_gripper])
        return q

    def velocities(self) -> np.ndarray:
        v = self.data.qvel[self._dof].copy()
        v[self.is_gripper] *= self.gripper.scale
        return v

    def command(self, positions) -> None:
        """Position targets (spec order and units) for the MJCF's position actuators."""
        q = np.asarray(positions, float)
        fingers = self.gripper.to_finger(q)
        ctrl = np.where(self.is_gripper, fingers, q)
        self.data.ctrl[self._act] = ctrl
        for (_, act), finger in zip(self._mirror, fingers[self.is_gripper]):
            self.data.ctrl[act] = -finger

    def step(self, n: int = 1) -> int:
        """Advance the physics `n` steps; updates `best_reward` after the last one; returns the reward."""
        for _ in range(n):
            mujoco.mj_step(self.model, self.data)
        reward = self.reward()
        self.best_reward = max(self.best_reward, reward)
        return reward

    # ------------------------------------------------------------------ task
    def contacts(self) -> set[frozenset[str]]:
        """Geom name pairs in contact now."""
        c = self.data.contact
        n = self.data.ncon
        names = self._geom_names
        return {frozenset((names[a], names[b])) for a, b in zip(c.geom1[:n], c.geom2[:n])}

    def reward(self) -> int:
        return tasks.reward(self.task, self.contacts())

    @property
    def success(self) -> bool:
        """The episode reached the task's maximal reward (gym-aloha's is_success: reward == 4)."""
        return self.best_reward >= config()["max_reward"]

    def body_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World (position, quaternion wxyz) of body `name`."""
        body = self.data.body(name)
        return body.xpos.copy(), body.xquat.copy()


class Cameras:
    """Offscreen renders of the spec's camera roles (MJCF cameras per `aloha.yaml`) at one size.

    Use from one thread (the GL context is current in the thread that made it)."""

    def __init__(self, model, width: int, height: int, shadows: bool = False):
        g = model.vis.global_
        if width > g.offwidth or height > g.offheight:
            raise ValueError(f"image size {width}x{height} exceeds the model's offscreen buffer "
                             f"{g.offwidth}x{g.offheight}")
        if width < 8 or height < 8:
            raise ValueError(f"image size {width}x{height} too small: use at least 8x8")
        self.renderer = mujoco.Renderer(model, height=int(height), width=int(width))
        # Shadows (on in gym-aloha's dm_control renders) cost 4-7x the render time on a CPU (Mesa
        # llvmpipe) and change ~5% of the pixels slightly (mean |difference| ~1/255 at 320x240).
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(bool(shadows))
        self.names = config()["cameras"]

    def render(self, data, role: str) -> np.ndarray:
        """(height, width, 3) uint8 image of camera `role` (base, left_wrist, right_wrist)."""
        if role not in self.names:
            raise KeyError(f"no MJCF camera for role {role!r}; roles: {list(self.names)}")
        self.renderer.update_scene(data, camera=self.names[role])
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()
