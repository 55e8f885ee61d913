"""Record an embodiment's topics into a rosbag2 bag (MCAP storage) with `rosbags`' writer.

What is recorded (`embodiment_topics`): the spec's camera topics (sensor_msgs/Image), its joint
state topic, each controller's command topic (``<controller>/joint_trajectory``, the base's
``cmd_vel``), ``/pi0/instruction`` and ``/pi0/episode`` (std_msgs/String, JSON episode markers
``{"event": "start"|"end", "episode", "task", "seed", "instruction", "success"}``), plus any
extra ``topic[:type]``. Messages are written as received (serialized CDR, rclpy ``raw=True``
subscriptions), stamped with the recorder's receive time, so ``ros2 bag info``/``play`` and
`pi0_policy.data.bags` read the bag as one made by ``ros2 bag record``.

QoS: sensors best effort (matches every publisher), commands reliable, the /pi0 topics reliable
and transient local (a marker or instruction published before the recorder started still
arrives).
"""
from __future__ import annotations

import importlib
import json
import threading
from pathlib import Path

EPISODE_TOPIC = "/pi0/episode"
INSTRUCTION_TOPIC = "/pi0/instruction"
STRING = "std_msgs/msg/String"
BAG_VERSION = 8  # rosbag2 metadata version read by Jazzy's ros2 bag and later


def _absolute(topic: str, namespace: str) -> str:
    if topic.startswith("/"):
        return topic
    ns = namespace.strip("/")
    return f"/{ns}/{topic}" if ns else f"/{topic}"


def embodiment_topics(spec, namespace: str = "") -> list[tuple[str, str, str]]:
    """``[(absolute topic, message type, qos kind)]`` recorded for ``spec``; qos kind is
    "sensor", "command" or "latched"."""
    topics = [(_absolute(c.topic, namespace), "sensor_msgs/msg/Image", "sensor") for c in spec.cameras]
    topics.append((_absolute(spec.joint_state_topic, namespace), "sensor_msgs/msg/JointState", "sensor"))
    for ctrl in spec.controllers:
        msgtype = ctrl.msg_type.replace("/", "/msg/", 1) if "/msg/" not in ctrl.msg_type else ctrl.msg_type
        topics.append((_absolute(ctrl.topic, namespace), msgtype, "command"))
    topics += [(INSTRUCTION_TOPIC, STRING, "latched"), (EPISODE_TOPIC, STRING, "latched")]
    return topics


def _qos(kind: str):
    from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                           qos_profile_sensor_data)

    if kind == "sensor":
        return QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                          durability=qos_profile_sensor_data.durability)
    durability = DurabilityPolicy.TRANSIENT_LOCAL if kind == "latched" else DurabilityPolicy.VOLATILE
    return QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                      durability=durability)


def message_class(msgtype: str):
    """``pkg/msg/Name`` → the rclpy message class; ValueError naming the type when absent."""
    pkg, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        raise ValueError(f"message type {msgtype!r} is not installed") from None


class BagRecorder:
    """Subscribes to ``topics`` on ``node`` and writes every message into the bag at ``path``.

    Counts messages per topic, the episodes seen (``start``/``end`` markers) and their success
    marks; `close` finishes the bag (metadata.yaml). Thread-safe (callbacks may run in parallel).
    """

    def __init__(self, node, path: str | Path, topics, embodiment: str = ""):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        self._lock = threading.Lock()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        if embodiment:
            self._writer.set_custom_data("pi0.embodiment", embodiment)
        store = get_typestore(Stores.ROS2_JAZZY)
        self.counts: dict[str, int] = {}
        self.episodes: list[dict] = []
        self._node, self._subs, self._closed = node, [], False
        for topic, msgtype, kind in topics:
            cls = message_class(msgtype)
            conn = self._writer.add_connection(topic, msgtype, typestore=store)
            self.counts[topic] = 0
            self._subs.append(node.create_subscription(
                cls, topic, self._callback(topic, conn), _qos(kind), raw=True))

    def _callback(self, topic, conn):
        def write(data: bytes) -> None:
            stamp = self._node.get_clock().now().nanoseconds
            with self._lock:
                if self._closed:
                    return
                self._writer.write(conn, stamp, data)
                self.counts[topic] += 1
                if topic == EPISODE_TOPIC:
                    self._episode_marker(data)
        return write

    def _episode_marker(self, data: bytes) -> None:
        from rclpy.serialization import deserialize_message
        from std_msgs.msg import String

        try:
            marker = json.loads(deserialize_message(data, String).data)
        except (json.JSONDecodeError, TypeError):
            return
        if isinstance(marker, dict) and marker.get("event") == "end":
            self.episodes.append(marker)

    @property
    def episodes_done(self) -> int:
        with self._lock:
            return len(self.episodes)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for sub in self._subs:
                self._node.destroy_subscription(sub)
            self._writer.close()
