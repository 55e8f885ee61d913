"""A node that watches a running robot: chunks, policy status, joint motion and camera images.

Used by `pi0 demo` (progress lines, summary, pictures) and by the bringup tests (chunks flow,
the robot moves). It subscribes, relative to its namespace, to the policy's
`pi0_policy/action_chunk` and `pi0_policy/status`, the spec's joint state topic and each camera
topic; pass the same remappings as the robot's nodes so that it reads the same topics.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from pi0_hw_interfaces.ros_time import time_to_sec as _sec
from rclpy.node import Node

from pi0_bringup.robots import POLICY_NODE


class Monitor(Node):
    """Records what a robot running π0 does. Thread-safe reads through `snapshot()`.

    - `chunks`: (receive time, sequence, inference latency s, horizon) per ActionChunk.
    - `joint_times`, `joint_positions`: joint positions over time (spec joint order; NaN for a
      joint missing from a message).
    - `first_images`, `last_images`: {camera role: uint8 H×W×3 RGB}.
    - `status`, `last_chunk`: the latest pi0_msgs/PolicyStatus and ActionChunk (None before
      the first).
    """

    def __init__(self, spec, node_name: str = "pi0_monitor", keep_images: bool = True, **kwargs):
        super().__init__(node_name, start_parameter_services=False, **kwargs)
        from pi0_msgs.msg import ActionChunk, PolicyStatus
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image, JointState

        from pi0_policy.ros.qos import REPORT

        self.spec = spec
        self.joint_names = spec.joint_names
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        self._lock = threading.Lock()
        self.start_time = time.monotonic()
        self.chunks: list[tuple[float, int, float, int]] = []
        self.joint_times: list[float] = []
        self.joint_positions: list[np.ndarray] = []
        self.first_images: dict = {}
        self.last_images: dict = {}
        self.image_errors: list[str] = []
        self.status = None
        self.last_chunk = None
        policy = POLICY_NODE[2]
        self.create_subscription(ActionChunk, f"{policy}/action_chunk", self._on_chunk, REPORT)
        self.create_subscription(PolicyStatus, f"{policy}/status", self._on_status, REPORT)
        self.create_subscription(JointState, spec.joint_state_topic, self._on_joints, qos_profile_sensor_data)
        if keep_images:
            for camera in spec.cameras:
                self.create_subscription(
                    Image, camera.topic, lambda msg, role=camera.role: self._on_image(role, msg),
                    qos_profile_sensor_data,
                )

    def _now(self) -> float:
        return time.monotonic() - self.start_time

    def _on_chunk(self, msg) -> None:
        with self._lock:
            latency = _sec(msg.inference_latency)
            self.chunks.append((self._now(), int(msg.sequence), latency, int(msg.horizon)))
            self.last_chunk = msg

    def _on_status(self, msg) -> None:
        with self._lock:
            self.status = msg

    def _on_joints(self, msg) -> None:
        row = np.full(len(self.joint_names), np.nan)
        for name, position in zip(msg.name, msg.position):
            i = self._index.get(name)
            if i is not None:
                row[i] = position
        with self._lock:
            self.joint_times.append(self._now())
            self.joint_positions.append(row)

    def _on_image(self, role: str, msg) -> None:
        from pi0_policy.ros.conversions import ImageError, image_to_rgb

        try:
            rgb = image_to_rgb(msg)
        except ImageError as error:
            with self._lock:
                self.image_errors.append(f"{role}: {error}")
            return
        with self._lock:
            self.first_images.setdefault(role, rgb)
            self.last_images[role] = rgb

    def snapshot(self) -> dict:
        """Copies of what was recorded, plus derived figures (see `summarize`)."""
        with self._lock:
            chunks = list(self.chunks)
            times = np.array(self.joint_times)
            shape = (len(self.joint_positions), len(self.joint_names))
            positions = np.array(self.joint_positions).reshape(shape)
            status, last_chunk = self.status, self.last_chunk
            first, last = dict(self.first_images), dict(self.last_images)
        return {
            "chunks": chunks,
            "joint_times": times,
            "joint_positions": positions,
            "status": status,
            "last_chunk": last_chunk,
            "first_images": first,
            "last_images": last,
            **summarize(chunks, positions, status),
        }


def replan_coverage(chunks: int, seconds: float, spec) -> tuple[int, int]:
    """(replan points that got a chunk, replan points) over `seconds` of acting at `spec`'s rate:
    a replan point every replan_interval control periods."""
    points = max(1, int(seconds * spec.control_rate_hz / spec.replan_interval))
    return min(chunks, points), points


def keeping_up(latencies_s, spec, seconds: float) -> str:
    """The demos' keeping-up line: inference p50/p90 and the share of replan points over
    `seconds` at which a chunk arrived (one per latency)."""
    hit, points = replan_coverage(len(latencies_s), seconds, spec)
    if not len(latencies_s):
        return f"  inference p50          n/a; chunks at 0 of {points} replan points"
    p50, p90 = np.percentile(latencies_s, [50, 90]) * 1000
    return (f"  inference p50          {p50:.0f} ms (p90 {p90:.0f} ms); chunks at "
            f"{hit} of {points} replan points ({hit / points:.0%})")


def joint_motion(positions: np.ndarray) -> tuple[float, float]:
    """(path length, largest displacement from the first sample) of joint positions (T × J).

    Path length sums |Δq| over time and joints (rad, or m for prismatic grippers); NaN samples
    (joints missing from a message) are ignored. Fewer than two samples → (0, 0).
    """
    if positions.shape[0] < 2:
        return 0.0, 0.0
    steps = np.abs(np.diff(positions, axis=0))
    path = float(np.nansum(steps))
    displacement = np.abs(positions - positions[0])
    largest = float(np.nanmax(displacement)) if np.isfinite(displacement).any() else 0.0
    return path, largest


def summarize(chunks, positions: np.ndarray, status) -> dict:
    """Chunks received, mean latency (s, NaN if none), joint motion, lifecycle state and faults."""
    latencies = [latency for _, _, latency, _ in chunks]
    path, largest = joint_motion(positions)
    return {
        "chunks_received": len(chunks),
        "mean_latency": float(np.mean(latencies)) if latencies else float("nan"),
        "joint_path_length": path,
        "joint_max_displacement": largest,
        "lifecycle_state": status.lifecycle_state if status is not None else "unknown",
        "faults": list(status.faults) if status is not None else [],
    }
