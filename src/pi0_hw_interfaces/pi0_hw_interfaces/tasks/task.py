"""Language-conditioned simulated tasks: a definition (YAML data) and its pure logic, no ROS.

A task places coloured targets at random (seeded) places in one camera's image, names one colour
in its instruction, and succeeds when the robot does the right thing at that target:

- kind `reach`: an effector's marker (a 2-D point linear in two joints, drawn as a white square)
  lies within `tolerance` of the named target;
- kind `gripper`: the gripper of the effector whose image region holds the named target is
  closed (≥ `closed`, policy units 0 = open, 1 = closed) and every other gripper open (≤ `open`).

Goals are visible only in the image (where each colour is), the instruction only names a colour,
so a policy needs both. Image coordinates are normalised: u (left → right) and v (top → bottom)
in [0, 1]. `Task.goal_positions` is the privileged answer the scripted expert drives to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("reach", "gripper")
PLACEMENTS = ("anywhere", "one_per_effector")
#: Target colours (rgb8) a task may name.
PALETTE = {"red": (230, 40, 40), "blue": (40, 90, 255), "green": (40, 200, 70), "yellow": (240, 220, 40)}


@dataclass(frozen=True)
class Axis:
    """An image axis driven by one joint: `start` at the region's low edge, `end` at the high one."""

    joint: str
    start: float
    end: float

    def to_image(self, value: float) -> float:
        return (value - self.start) / (self.end - self.start)

    def to_joint(self, fraction: float) -> float:
        return self.start + fraction * (self.end - self.start)


@dataclass(frozen=True)
class Effector:
    name: str
    region: tuple[float, float]      # the part of the image width it covers, [u0, u1]
    u: Axis | None = None            # reach tasks
    v: Axis | None = None
    gripper: str = ""                # gripper tasks
    jitter_joints: tuple[str, ...] = ()

    def point(self, positions: dict) -> tuple[float, float]:
        """The effector's marker (u, v) in the image for joint `positions` {name: value}."""
        u0, u1 = self.region
        return u0 + self.u.to_image(positions[self.u.joint]) * (u1 - u0), self.v.to_image(positions[self.v.joint])

    def joints_for(self, u: float, v: float) -> dict:
        u0, u1 = self.region
        return {self.u.joint: self.u.to_joint((u - u0) / (u1 - u0)), self.v.joint: self.v.to_joint(v)}


@dataclass(frozen=True)
class TaskSpec:
    """A task definition (one YAML file in this folder; see `load_task`)."""

    name: str
    embodiment: str
    kind: str
    description: str
    instruction: str
    colours: tuple[str, ...]
    camera: str
    image_size: tuple[int, int]
    episode_s: float
    hold_s: float
    margin: float
    min_separation: float
    start_jitter: float
    expert_speed: float
    placement: str
    effectors: tuple[Effector, ...]
    tolerance: float = 0.08
    closed: float = 0.8
    open: float = 0.2
    gripper_start: tuple[float, float] = (0.0, 0.0)  # gripper tasks: start closure, uniform (policy units)

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "TaskSpec":
        data = dict(data)
        try:
            effectors = []
            for e in data.pop("effectors"):
                e = dict(e)
                for axis in ("u", "v"):
                    if axis in e:
                        a = e[axis]
                        e[axis] = Axis(a["joint"], float(a["from"]), float(a["to"]))
                e["region"] = tuple(float(x) for x in e["region"])
                e["jitter_joints"] = tuple(e.get("jitter_joints", ()))
                effectors.append(Effector(**e))
            data["colours"] = tuple(data["colours"])
            if "gripper_start" in data:
                data["gripper_start"] = tuple(float(x) for x in data["gripper_start"])
            data["image_size"] = tuple(int(x) for x in data["image_size"])
            spec = cls(effectors=tuple(effectors), **data)
        except (KeyError, TypeError) as error:
            raise ValueError(f"{where}: bad task definition ({error})") from None
        spec.validate(where)
        return spec

    def validate(self, where: str) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind {self.kind!r} is not one of {KINDS}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"{where}: placement {self.placement!r} is not one of {PLACEMENTS}")
        unknown = [c for c in self.colours if c not in PALETTE]
        if unknown or len(self.colours) < 2:
            raise ValueError(f"{where}: colours {list(self.colours)}: need ≥ 2 of {sorted(PALETTE)}")
        if self.placement == "one_per_effector" and len(self.colours) != len(self.effectors):
            raise ValueError(f"{where}: one_per_effector needs one colour per effector")
        lo, hi = self.gripper_start
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"{where}: gripper_start {[lo, hi]} must be 0 <= low <= high <= 1 (policy units)")
        for e in self.effectors:
            if self.kind == "reach" and (e.u is None or e.v is None):
                raise ValueError(f"{where}: reach effector {e.name!r} needs u and v axes")
            if self.kind == "gripper" and not e.gripper:
                raise ValueError(f"{where}: gripper effector {e.name!r} needs a gripper joint")

    def joints_used(self) -> list[str]:
        names = []
        for e in self.effectors:
            names += [a.joint for a in (e.u, e.v) if a is not None] + ([e.gripper] if e.gripper else [])
            names += list(e.jitter_joints)
        return names

    def check_embodiment(self, spec) -> None:
        """ValueError unless `spec` (an EmbodimentSpec) is this task's embodiment with its joints."""
        if spec.name != self.embodiment:
            raise ValueError(f"task {self.name!r} is for embodiment {self.embodiment!r}, not {spec.name!r}")
        missing = [j for j in self.joints_used() if j not in spec.joint_names]
        if missing:
            raise ValueError(f"task {self.name!r}: embodiment {spec.name!r} has no joints {missing}")
        if self.kind == "gripper":
            not_grippers = [e.gripper for e in self.effectors if e.gripper not in spec.grippers]
            if not_grippers:
                raise ValueError(f"task {self.name!r}: {not_grippers} are not grippers of {spec.name!r}")


class Task:
    """A task bound to its embodiment: seeded goals, start states, success, the expert's answer."""

    def __init__(self, spec: TaskSpec, embodiment):
        spec.check_embodiment(embodiment)
        self.spec = spec
        self.embodiment = embodiment

    # ------------------------------------------------------------------ episodes
    def sample(self, seed: int, default_positions: dict) -> tuple[dict, dict]:
        """(goal, start positions {joint: value}) of the episode with `seed`: same seed, same both.

        goal = {"colour": named colour, "instruction": text, "targets": [{"colour", "u", "v",
        "effector"}]} with targets in the colours' order.
        """
        s = self.spec
        rng = np.random.default_rng(seed)
        start = dict(default_positions)
        for e in s.effectors:
            for joint in [a.joint for a in (e.u, e.v) if a is not None] + list(e.jitter_joints):
                start[joint] = start[joint] + rng.uniform(-s.start_jitter, s.start_jitter)
        start = dict(zip(start, self.embodiment.clamp(list(start), list(start.values())).tolist()))
        owners = (list(rng.permutation(len(s.effectors))) if s.placement == "one_per_effector"
                  else [None] * len(s.colours))
        avoid = [e.point(start) for e in s.effectors] if s.kind == "reach" else []
        targets = []
        for colour, owner in zip(s.colours, owners):
            effector = s.effectors[owner] if owner is not None else None
            u, v = self._place(rng, effector, avoid)
            avoid.append((u, v))
            if effector is None:  # anywhere: the effector whose region holds it
                effector = next(e for e in s.effectors if e.region[0] <= u <= e.region[1])
            targets.append({"colour": colour, "u": round(u, 6), "v": round(v, 6), "effector": effector.name})
        colour = s.colours[int(rng.integers(len(s.colours)))]
        goal = {"colour": colour, "instruction": s.instruction.format(colour=colour), "targets": targets}
        if s.kind == "gripper" and s.gripper_start != (0.0, 0.0):  # drawn last: the goals stay as they were
            for e in s.effectors:
                closure = rng.uniform(*s.gripper_start)
                start[e.gripper] = float(self.embodiment.grippers[e.gripper].to_driver(closure))
            start = dict(zip(start, self.embodiment.clamp(list(start), list(start.values())).tolist()))
        return goal, start

    def _place(self, rng, effector, avoid) -> tuple[float, float]:
        s = self.spec
        u0, u1 = effector.region if effector is not None else (0.0, 1.0)
        lo_u, hi_u = u0 + s.margin * (u1 - u0), u1 - s.margin * (u1 - u0)
        for _ in range(1000):
            u, v = rng.uniform(lo_u, hi_u), rng.uniform(s.margin, 1 - s.margin)
            if all(np.hypot(u - a, v - b) >= s.min_separation for a, b in avoid):
                return float(u), float(v)
        raise ValueError(f"task {s.name!r}: cannot place targets {s.min_separation} apart; lower min_separation")

    def wrong_instruction(self, goal: dict) -> str:
        """The instruction naming another colour than the goal's (the next one in the task's list)."""
        colours = self.spec.colours
        other = colours[(colours.index(goal["colour"]) + 1) % len(colours)]
        return self.spec.instruction.format(colour=other)

    @staticmethod
    def named_target(goal: dict) -> dict:
        return next(t for t in goal["targets"] if t["colour"] == goal["colour"])

    # ------------------------------------------------------------------ success
    def evaluate(self, goal: dict, positions: dict) -> tuple[bool, float]:
        """(goal condition holds now, reward in [0, 1]) for joint `positions` {name: value}."""
        s = self.spec
        target = self.named_target(goal)
        if s.kind == "reach":
            dist = min(np.hypot(u - target["u"], v - target["v"])
                       for u, v in (e.point(positions) for e in s.effectors))
            return bool(dist <= s.tolerance), float(max(0.0, 1.0 - dist))
        closure = {e.name: self.embodiment.grippers[e.gripper].to_policy(positions[e.gripper]) for e in s.effectors}
        ok = all(c >= s.closed if name == target["effector"] else c <= s.open for name, c in closure.items())
        reward = float(np.mean([c if n == target["effector"] else 1 - c for n, c in closure.items()]))
        return ok, reward

    def goal_positions(self, goal: dict, positions: dict) -> dict:
        """The expert's (privileged) target joint positions: `positions` with the task's joints set."""
        s = self.spec
        target = self.named_target(goal)
        out = dict(positions)
        for e in s.effectors:
            if s.kind == "reach" and e.name == target["effector"]:
                out.update(e.joints_for(target["u"], target["v"]))
            elif s.kind == "gripper":
                g = self.embodiment.grippers[e.gripper]
                out[e.gripper] = g.closed if e.name == target["effector"] else g.open
        return dict(zip(out, self.embodiment.clamp(list(out), list(out.values())).tolist()))
