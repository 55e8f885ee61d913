"""The episode record contract (docs/design.md, "Episode record"): topics, QoS, event messages.

An episode is delimited on `/pi0/episode` (std_msgs/String, reliable, transient local, depth 10)
by JSON events `{"event": "start"|"end", "episode": int, "task": str, "seed": int,
"instruction": str, "success": true|false|null}` ("success" set on "end", null on "start").
The instruction is also published on `/pi0/instruction` (reliable, transient local) at start.
Recorders (`pi0 record`) and dataset converters split episodes on these events.
"""
from __future__ import annotations

import json

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

EPISODE_TOPIC = "/pi0/episode"
INSTRUCTION_TOPIC = "/pi0/instruction"
EVENTS = ("start", "end")

EPISODE_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
INSTRUCTION_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: The sim robot's `~/task` state and `~/reset_task` requests: reliable, latest kept for late joiners.
TASK_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def episode_event(event: str, episode: int, task: str, seed: int, instruction: str,
                  success: bool | None = None) -> str:
    """The JSON text of one `/pi0/episode` event; ValueError for an unknown `event`."""
    if event not in EVENTS:
        raise ValueError(f"episode event {event!r}: choose one of {EVENTS}")
    return json.dumps({"event": event, "episode": int(episode), "task": task, "seed": int(seed),
                       "instruction": instruction, "success": None if event == "start" else success})


def parse_episode_event(text: str) -> dict:
    """An event dict from `/pi0/episode` text; ValueError naming what is missing or wrong."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"episode event is not JSON: {text[:80]!r}") from None
    missing = [k for k in ("event", "episode", "task", "seed", "instruction", "success") if k not in data]
    if missing or data.get("event") not in EVENTS:
        raise ValueError(f"bad episode event {text[:120]!r}: missing {missing} or event not in {EVENTS}")
    return data
