"""Latest-sample tracking of the policy node's inputs, with freshness and skew checks.

Subscriptions hand each message to :class:`InputTracker` (cheap: no image decoding in the
callback). The inference worker asks for a :meth:`InputTracker.snapshot`: the latest image per
camera (decoded once and cached), the latest position per joint, and the instruction, or the list
of faults that forbid computing a chunk. No message_filters: a snapshot is valid when every input
is younger than ``max_age`` and all input times lie within ``max_skew`` of each other.

An input's time is its header stamp (the time of the data), or its arrival time where the
publisher leaves the stamp zero. Thread-safe: callbacks and the worker run on different threads.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from pi0_hw_interfaces.ros_time import time_to_sec

from pi0_policy.ros.conversions import ImageError, compressed_to_rgb, image_to_rgb


@dataclass
class _Camera:
    role: str
    topic: str
    size: tuple[int, int] | None
    compressed: bool
    msg: object = None
    stamp: float = math.nan
    received: float = math.nan
    image: np.ndarray | None = None
    error: str = ""


@dataclass(frozen=True)
class Snapshot:
    """Inputs for one chunk: ``images`` by role, ``positions`` by joint, ``prompt``, and the
    oldest (``obs_time``) and newest (``newest_time``) input time."""

    images: dict
    positions: dict
    prompt: str
    obs_time: float
    newest_time: float


@dataclass
class InputTracker:
    """Latest samples of the cameras (role → topic), the joints and the instruction."""

    joints: tuple[str, ...]
    joint_topic: str
    max_age: float
    max_skew: float
    bridge: object = None
    known_joints: tuple[str, ...] = ()  # published but not commanded (e.g. base wheels): not unknown
    _cameras: dict = field(default_factory=dict)
    _positions: dict = field(default_factory=dict)
    _joint_stamps: dict = field(default_factory=dict)
    _joint_received: float = math.nan
    _joint_error: str = ""
    instruction: str = ""
    instruction_time: float = math.nan
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_camera(self, role: str, topic: str, size: tuple[int, int] | None, compressed: bool) -> None:
        self._cameras[role] = _Camera(role, topic, size, compressed)

    @property
    def camera_roles(self) -> tuple[str, ...]:
        return tuple(self._cameras)

    # ---- callbacks ---------------------------------------------------------------------------
    def on_image(self, role: str, msg, now: float) -> None:
        """Store the latest image message of ``role`` (decoded lazily)."""
        stamp = time_to_sec(msg.header.stamp)
        with self._lock:
            cam = self._cameras[role]
            cam.msg, cam.received, cam.image, cam.error = msg, now, None, ""
            cam.stamp = stamp if stamp > 0 else now

    def on_joint_state(self, msg, now: float) -> None:
        """Merge a JointState by joint name (order does not matter; several partial messages,
        e.g. one per arm, add up). Faults, until a good message arrives (the message is then not
        used): a length mismatch, a non-finite position of a required joint, or a message that
        names no required joint but unknown ones (e.g. a missing tf prefix). Unknown names next
        to required ones are ignored."""
        stamp = time_to_sec(msg.header.stamp)
        stamp = stamp if stamp > 0 else now
        names, positions = list(msg.name), list(msg.position)
        with self._lock:
            self._joint_received = now
            if len(names) != len(positions):
                self._joint_error = (f"joint_states: {len(names)} names but {len(positions)} positions")
                return
            required = set(self.joints)
            bad = [n for n, p in zip(names, positions) if n in required and not math.isfinite(p)]
            if bad:
                self._joint_error = f"joint_states: non-finite position for {bad}"
                return
            unknown = [n for n in names if n not in required and n not in self.known_joints]
            if unknown and not required.intersection(names):
                self._joint_error = (f"joint_states: unknown joints {unknown}; expected {list(self.joints)}")
                return
            for n, p in zip(names, positions):
                if n in required:
                    self._positions[n] = float(p)
                    self._joint_stamps[n] = stamp
            missing = [n for n in self.joints if n not in self._positions]
            self._joint_error = ""
            if missing and unknown:
                self._joint_error = f"joint_states: unknown joints {unknown}; missing {missing}"

    def set_instruction(self, text: str, now: float) -> bool:
        """Set the instruction (stripped); returns True if it changed."""
        text = text.strip()
        with self._lock:
            changed = text != self.instruction
            self.instruction, self.instruction_time = text, now
        return changed

    # ---- queries -----------------------------------------------------------------------------
    def _decode(self, cam: _Camera) -> None:
        if cam.msg is None or cam.image is not None or cam.error:
            return
        try:
            if cam.compressed:
                cam.image = compressed_to_rgb(cam.msg, cam.size)
            else:
                cam.image = image_to_rgb(cam.msg, cam.size, bridge=self.bridge)
        except ImageError as e:
            cam.error = str(e)
        except Exception as e:  # noqa: BLE001 - any decoder failure is a bad input, not a crash
            cam.error = f"cannot convert image: {e}"

    def current_positions(self) -> dict:
        with self._lock:
            return dict(self._positions)

    def faults(self, now: float) -> list[str]:
        """Every reason why no chunk may be computed now (empty list = inputs are usable)."""
        with self._lock:
            return self._check(now)[0]

    def _check(self, now: float) -> tuple[list[str], list[float]]:
        faults, times = [], []
        for cam in self._cameras.values():
            self._decode(cam)
            name = f"camera {cam.role}"
            if cam.msg is None:
                faults.append(f"{name}: no image received on {cam.topic}")
                continue
            if cam.error:
                faults.append(f"{name}: {cam.error}")
            age = now - cam.stamp
            if age > self.max_age:
                faults.append(f"{name}: stale ({age:.2f} s > {self.max_age:.2f} s)")
            times.append(cam.stamp)
        if self._joint_error:
            faults.append(self._joint_error)
        missing = [n for n in self.joints if n not in self._positions]
        if missing and not self._joint_error:
            what = "no joint state received" if not self._positions else "joint state lacks"
            faults.append(f"joint_states: {what} {missing} on {self.joint_topic}")
        if self._joint_stamps and not missing:
            oldest = min(self._joint_stamps[n] for n in self.joints)
            age = now - oldest
            if age > self.max_age:
                faults.append(f"joint_states: stale ({age:.2f} s > {self.max_age:.2f} s)")
            times.append(oldest)
        if len(times) > 1 and max(times) - min(times) > self.max_skew:
            faults.append(f"inputs: skew {max(times) - min(times):.2f} s > {self.max_skew:.2f} s")
        return faults, times

    def snapshot(self, now: float) -> tuple[Snapshot | None, list[str]]:
        """``(Snapshot, [])`` if every input is present, valid, fresh and mutually close in time,
        else ``(None, faults)``. The instruction is not checked here (empty = hold)."""
        with self._lock:
            faults, times = self._check(now)
            if faults:
                return None, faults
            return Snapshot(images={r: c.image for r, c in self._cameras.items()},
                            positions=dict(self._positions), prompt=self.instruction,
                            obs_time=min(times), newest_time=max(times)), []

    def ages(self, now: float) -> list[tuple[str, str, float, bool]]:
        """``(name, topic, age, fresh)`` per input; age < 0 when nothing was received."""
        out = []
        with self._lock:
            for cam in self._cameras.values():
                age = now - cam.stamp if cam.msg is not None else -1.0
                out.append((cam.role, cam.topic, age, 0 <= age <= self.max_age))
            if self._joint_stamps:
                age = now - min(self._joint_stamps.get(n, -math.inf) for n in self.joints)
                age = age if math.isfinite(age) else -1.0
            else:
                age = -1.0
            out.append(("joint_states", self.joint_topic, age, 0 <= age <= self.max_age))
            age = now - self.instruction_time if math.isfinite(self.instruction_time) else -1.0
            out.append(("instruction", "", age, age >= 0))
        return out
