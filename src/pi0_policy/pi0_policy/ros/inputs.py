"""Latest-sample tracking of the policy node's inputs, with freshness, clock and state checks.

Subscriptions hand each message to :class:`InputTracker`: the callback only stores the message
and its time (no image decoding, no copies). The inference worker asks for a
:meth:`InputTracker.snapshot`: the latest image per camera (decoded there, once per message), the
latest position per joint, and the instruction, or the list of faults that forbid computing a
chunk. The control tick asks only for :meth:`InputTracker.faults` (ages and stored errors, cheap).
No message_filters: a snapshot is valid when every input is younger than ``max_age`` and all
input times lie within ``max_skew`` of each other.

Times. An input's time is its header stamp (the time of the data), or its arrival time where the
publisher leaves the stamp zero. A stamp more than ``max_future`` ahead of the node's clock is a
fault ("stamped in the future": the clocks disagree); one within ``max_future`` counts as age 0.
Stamps that jump backwards: the latest *arriving* sample always replaces the stored one, and the
checks run on its stamp. A small reordering therefore only ages the input a little; a publisher
clock that jumped back makes the input stale (fault, hold); the node's own clock jumping back
makes the stored stamps lie in the future (fault, hold). Every case clears itself once the clocks
agree again; no case is taken as fresh.

Measured state. A JointState that names a joint twice, has a non-finite position, or puts a
joint more than ``limit_tolerance`` outside its limits is a fault until a good message arrives
(the bad message is not used). Thread-safe: callbacks and the worker run on different threads.
"""
from __future__ import annotations

import math
import threading
from collections import Counter
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
    image: np.ndarray | None = None
    error: str = ""        # the last decoding failure; kept until a message decodes
    failed: object = None  # the message that failed (not decoded again)


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
    """Latest samples of the cameras (role → topic), the joints and the instruction.

    ``limits``: ``{joint: (lower, upper)}`` of the required joints; a measured position beyond a
    limit by more than ``limit_tolerance`` is a fault. ``max_future``: seconds a stamp may lie
    ahead of the node's clock.
    """

    joints: tuple[str, ...]
    joint_topic: str
    max_age: float
    max_skew: float
    bridge: object = None
    known_joints: tuple[str, ...] = ()  # published but not commanded (e.g. base wheels): not unknown
    limits: dict = field(default_factory=dict)
    limit_tolerance: float = math.inf
    max_future: float = math.inf
    _cameras: dict = field(default_factory=dict)
    _positions: dict = field(default_factory=dict)
    _joint_stamps: dict = field(default_factory=dict)
    _joint_error: str = ""
    instruction: str = ""
    instruction_time: float = math.nan
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _required: frozenset = field(init=False)

    def __post_init__(self):
        self._required = frozenset(self.joints)

    def add_camera(self, role: str, topic: str, size: tuple[int, int] | None, compressed: bool) -> None:
        self._cameras[role] = _Camera(role, topic, size, compressed)

    # ---- callbacks ---------------------------------------------------------------------------
    def on_image(self, role: str, msg, now: float) -> None:
        """Store the latest image message of ``role`` (decoded lazily, by the worker)."""
        stamp = time_to_sec(msg.header.stamp)
        cam = self._cameras[role]
        with self._lock:
            cam.msg, cam.image = msg, None
            cam.stamp = stamp if stamp > 0 else now

    def on_joint_state(self, msg, now: float) -> None:
        """Merge a JointState by joint name (order does not matter; several partial messages,
        e.g. one per arm, add up). Faults, until a good message arrives (the message is then not
        used): a length mismatch, a joint named twice, a non-finite position of a required joint,
        a required joint outside its limits by more than the tolerance, or a message that names
        no required joint but unknown ones (e.g. a missing tf prefix). Unknown names next to
        required ones are ignored."""
        stamp = time_to_sec(msg.header.stamp)
        stamp = stamp if stamp > 0 else now
        names, positions = list(msg.name), list(msg.position)
        error = self._joint_state_error(names, positions)
        with self._lock:
            if error:
                self._joint_error = error
                return
            required = self.joints
            unknown = [n for n in names if n not in self._required and n not in self.known_joints]
            if unknown and not self._required.intersection(names):
                self._joint_error = f"joint_states: unknown joints {unknown}; expected {list(required)}"
                return
            for n, p in zip(names, positions):
                if n in self._required:
                    self._positions[n] = float(p)
                    self._joint_stamps[n] = stamp
            missing = [n for n in required if n not in self._positions]
            self._joint_error = (f"joint_states: unknown joints {unknown}; missing {missing}"
                                 if missing and unknown else "")

    def _joint_state_error(self, names, positions) -> str:
        """Why a JointState must not be used, or "" (pure: reads only the fixed configuration)."""
        if len(names) != len(positions):
            return f"joint_states: {len(names)} names but {len(positions)} positions"
        if len(set(names)) != len(names):
            twice = sorted(n for n, c in Counter(names).items() if c > 1)
            return f"joint_states: joints named more than once: {twice}"
        required = self._required
        bad = [n for n, p in zip(names, positions) if n in required and not math.isfinite(p)]
        if bad:
            return f"joint_states: non-finite position for {bad}"
        for n, p in zip(names, positions):
            if n in required and n in self.limits:
                lower, upper = self.limits[n]
                if p < lower - self.limit_tolerance or p > upper + self.limit_tolerance:
                    return (f"joint_states: {n} at {p:.4f} is outside its limits [{lower:.4f}, {upper:.4f}] "
                            f"by more than {self.limit_tolerance:g} (impossible state: check the "
                            "calibration or the joint names)")
        return ""

    def set_instruction(self, text: str, now: float) -> bool:
        """Set the instruction (stripped); returns True if it changed."""
        text = text.strip()
        with self._lock:
            changed = text != self.instruction
            self.instruction, self.instruction_time = text, now
        return changed

    # ---- queries -----------------------------------------------------------------------------
    def _decode(self, cam: _Camera) -> None:
        """Decode the camera's latest message once; a failure stays a fault until one decodes."""
        if cam.msg is None or cam.image is not None or cam.failed is cam.msg:
            return
        try:
            if cam.compressed:
                cam.image = compressed_to_rgb(cam.msg, cam.size)
            else:
                cam.image = image_to_rgb(cam.msg, cam.size, bridge=self.bridge)
            cam.error, cam.failed = "", None
        except ImageError as e:
            cam.error, cam.failed = str(e), cam.msg
        except Exception as e:  # noqa: BLE001 - any decoder failure is a bad input, not a crash
            cam.error, cam.failed = f"cannot convert image: {e}", cam.msg

    def current_positions(self) -> dict:
        with self._lock:
            return dict(self._positions)

    def faults(self, now: float) -> list[str]:
        """Every reason why no chunk may be computed now (empty list = inputs usable). Cheap:
        images are decoded by :meth:`snapshot`; only a camera whose last image failed to decode
        is tried again here (with its newest message), so that the fault clears by itself."""
        with self._lock:
            return self._check(now, decode=False)[0]

    def _age_fault(self, name: str, stamp: float, now: float) -> str:
        age = now - stamp
        if age > self.max_age:
            return f"{name}: stale ({age:.2f} s > {self.max_age:.2f} s)"
        if -age > self.max_future:
            return (f"{name}: stamped {-age:.2f} s in the future (> {self.max_future:.2f} s): the "
                    "publisher's clock and the node's disagree")
        return ""

    def _check(self, now: float, decode: bool) -> tuple[list[str], list[float]]:
        faults, times = [], []
        for cam in self._cameras.values():
            name = f"camera {cam.role}"
            if cam.msg is None:
                faults.append(f"{name}: no image received on {cam.topic}")
                continue
            if decode or cam.error:
                self._decode(cam)
            if cam.error:
                faults.append(f"{name}: {cam.error}")
            fault = self._age_fault(name, cam.stamp, now)
            if fault:
                faults.append(fault)
            times.append(cam.stamp)
        if self._joint_error:
            faults.append(self._joint_error)
        missing = [n for n in self.joints if n not in self._positions]
        if missing and not self._joint_error:
            what = "no joint state received" if not self._positions else "joint state lacks"
            faults.append(f"joint_states: {what} {missing} on {self.joint_topic}")
        if self._joint_stamps and not missing:
            stamps = [self._joint_stamps[n] for n in self.joints]
            oldest, newest = min(stamps), max(stamps)
            fault = self._age_fault("joint_states", oldest, now) or self._age_fault("joint_states", newest, now)
            if fault:
                faults.append(fault)
            times.append(oldest)
        if len(times) > 1 and max(times) - min(times) > self.max_skew:
            faults.append(f"inputs: skew {max(times) - min(times):.2f} s > {self.max_skew:.2f} s")
        return faults, times

    def snapshot(self, now: float) -> tuple[Snapshot | None, list[str]]:
        """``(Snapshot, [])`` if every input is present, valid, fresh and mutually close in time,
        else ``(None, faults)``. The instruction is not checked here (empty = hold)."""
        with self._lock:
            faults, times = self._check(now, decode=True)
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
                out.append((cam.role, cam.topic, age, -self.max_future <= age <= self.max_age))
            if self._joint_stamps:
                age = now - min(self._joint_stamps.get(n, -math.inf) for n in self.joints)
                age = age if math.isfinite(age) else -1.0
            else:
                age = -1.0
            out.append(("joint_states", self.joint_topic, age, -self.max_future <= age <= self.max_age))
            age = now - self.instruction_time if math.isfinite(self.instruction_time) else -1.0
            out.append(("instruction", "", age, age >= 0))
        return out
