"""Read a rosbag2 bag (MCAP or sqlite3, as written by `pi0 record` or `ros2 bag record`) into
time-stamped streams for one embodiment, with `rosbags` (no ROS install needed).

Times are the bag's receive (log) times in seconds: every topic is on one clock, whatever the
publishers put in their header stamps. Topics are matched by their name relative to the
namespace (``/robot1/joint_states`` matches the spec's ``joint_states`` with ``namespace="robot1"``).
A camera topic may carry ``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage``; the
image_transport form ``<topic>/compressed`` is accepted too. Images are kept as messages and
decoded only when a frame is picked (`decode_image`).

Every problem is a `BagError` whose message names the bag, the topic and the bag time.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EPISODE_TOPIC = "/pi0/episode"
INSTRUCTION_TOPIC = "/pi0/instruction"
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class BagError(ValueError):
    """A bag that cannot be used; the message names the bag, topic and time."""


def where(bag, topic: str | None = None, t: float | None = None) -> str:
    parts = [f"bag {bag}"]
    if topic:
        parts.append(f"topic {topic}")
    if t is not None:
        parts.append(f"t={t:.3f} s")
    return ", ".join(parts)


@dataclass
class Command:
    """One JointTrajectory: receive time, start time (header stamp, or receive time when zero),
    joint names, and its points as ``(seconds from start, positions)``."""

    t: float
    start: float
    joints: tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray


@dataclass
class BagStreams:
    """What one bag holds for one embodiment (times in seconds, sorted)."""

    path: Path
    joint_times: list[float] = field(default_factory=list)
    joint_positions: list[dict[str, float]] = field(default_factory=list)
    images: dict[str, list[tuple[float, object, str]]] = field(default_factory=dict)  # role → (t, msg, topic)
    commands: dict[str, list[Command]] = field(default_factory=dict)  # controller → commands
    base: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (t, [vx, vy, wz])
    instructions: list[tuple[float, str]] = field(default_factory=list)
    markers: list[tuple[float, dict]] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0


def _relative(topic: str, namespace: str) -> str:
    topic = topic.lstrip("/")
    ns = namespace.strip("/")
    if ns and topic.startswith(ns + "/"):
        topic = topic[len(ns) + 1:]
    return topic


def _stamp(header) -> float:
    return float(header.stamp.sec) + 1e-9 * float(header.stamp.nanosec)


def _parse_marker(bag, topic, t, text: str) -> dict:
    try:
        marker = json.loads(text)
    except json.JSONDecodeError as error:
        raise BagError(f"{where(bag, topic, t)}: episode marker is not JSON: {error}") from None
    if not isinstance(marker, dict) or marker.get("event") not in ("start", "end"):
        raise BagError(f"{where(bag, topic, t)}: episode marker needs \"event\": \"start\" or \"end\", "
                       f"got {text[:80]!r}")
    return marker


def read_bag(path: str | Path, spec, namespace: str = "") -> BagStreams:
    """Read the embodiment's topics from the bag at ``path`` (a bag directory or its file)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    bag_dir = path.parent if path.is_file() and (path.parent / "metadata.yaml").is_file() else path
    streams = BagStreams(path=bag_dir)
    cameras = {c.topic.strip("/"): c.role for c in spec.cameras}
    controllers = {c.topic.strip("/"): c for c in spec.controllers}
    joint_topic = spec.joint_state_topic.strip("/")
    topic, t = None, None
    try:
        reader = AnyReader([bag_dir], default_typestore=get_typestore(Stores.ROS2_JAZZY))
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises many types; name the bag
        raise BagError(f"{where(bag_dir)}: cannot open: {error}") from None
    try:
        wanted = []
        for conn in reader.connections:
            rel = _relative(conn.topic, namespace)
            base_rel = rel[: -len("/compressed")] if rel.endswith("/compressed") else rel
            if (rel == joint_topic or base_rel in cameras or rel in controllers
                    or conn.topic in (EPISODE_TOPIC, INSTRUCTION_TOPIC)):
                wanted.append(conn)
        streams.start = reader.start_time * 1e-9 if reader.connections else 0.0
        streams.end = reader.end_time * 1e-9 if reader.connections else 0.0
        for conn, stamp_ns, raw in reader.messages(connections=wanted):
            topic, t = conn.topic, stamp_ns * 1e-9
            msg = reader.deserialize(raw, conn.msgtype)
            _add(streams, conn, msg, t, namespace, joint_topic, cameras, controllers)
    except BagError:
        raise
    except Exception as error:  # noqa: BLE001 - a corrupt file or message: name where
        raise BagError(f"{where(bag_dir, topic, t)}: unreadable ({type(error).__name__}: {error})") from None
    finally:
        reader.close()
    return streams


def _add(streams, conn, msg, t, namespace, joint_topic, cameras, controllers) -> None:
    bag, topic = streams.path, conn.topic
    rel = _relative(topic, namespace)
    if topic == EPISODE_TOPIC:
        streams.markers.append((t, _parse_marker(bag, topic, t, msg.data)))
    elif topic == INSTRUCTION_TOPIC:
        streams.instructions.append((t, str(msg.data)))
    elif rel == joint_topic:
        if len(msg.name) != len(msg.position):
            raise BagError(f"{where(bag, topic, t)}: JointState has {len(msg.name)} names but "
                           f"{len(msg.position)} positions")
        merged = dict(streams.joint_positions[-1]) if streams.joint_positions else {}
        merged.update(zip(msg.name, (float(p) for p in msg.position)))
        streams.joint_times.append(t)
        streams.joint_positions.append(merged)
    elif rel in controllers and controllers[rel].type == "joint_trajectory":
        if not msg.points:
            return
        positions = np.array([list(p.positions) for p in msg.points], dtype=np.float64)
        if positions.shape[1] != len(msg.joint_names):
            raise BagError(f"{where(bag, topic, t)}: trajectory points have {positions.shape[1]} "
                           f"positions for {len(msg.joint_names)} joints")
        times = np.array([p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in msg.points])
        stamp = _stamp(msg.header)
        streams.commands.setdefault(controllers[rel].name, []).append(
            Command(t, stamp if stamp > 0 else t, tuple(msg.joint_names), times, positions))
    elif rel in controllers:
        twist = msg.twist if hasattr(msg, "twist") else msg
        streams.base.append((t, np.array([twist.linear.x, twist.linear.y, twist.angular.z])))
    else:
        base_rel = rel[: -len("/compressed")] if rel.endswith("/compressed") else rel
        if conn.msgtype not in IMAGE_TYPES:
            raise BagError(f"{where(bag, topic, t)}: camera topic carries {conn.msgtype}; "
                           f"expected one of {list(IMAGE_TYPES)}")
        streams.images.setdefault(cameras[base_rel], []).append((t, msg, topic))


def decode_image(msg, bag=None, topic=None, t=None) -> np.ndarray:
    """A rosbags ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) or ``CompressedImage``
    (jpeg, png) → ``uint8[H, W, 3]`` RGB; BagError naming the bag, topic and time otherwise."""
    if hasattr(msg, "format"):
        from PIL import Image as PILImage

        try:
            with PILImage.open(io.BytesIO(bytes(msg.data))) as image:
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
        except Exception as error:  # noqa: BLE001
            raise BagError(f"{where(bag, topic, t)}: cannot decode {msg.format!r} image: {error}") from None
    encoding = msg.encoding.lower()
    if encoding not in _CHANNELS:
        raise BagError(f"{where(bag, topic, t)}: unsupported encoding {msg.encoding!r}; "
                       f"supported: {list(_CHANNELS)}")
    channels, width, height, step = _CHANNELS[encoding], int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0 or step < width * channels or len(msg.data) != step * height:
        raise BagError(f"{where(bag, topic, t)}: image {width}x{height} {encoding} step {step} does not "
                       f"fit its {len(msg.data)} bytes of data")
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(height, step)[:, : width * channels]
    pixels = rows.reshape(height, width, channels)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if encoding.startswith("bgr"):
        pixels = pixels[:, :, 2::-1]
    return np.ascontiguousarray(pixels[:, :, :3])
