"""`mujoco_expert`: the scripted expert replayed over ROS as JointTrajectory chunks.

Listens to the simulator's `<sim>/task` (JSON, see `node`); for each new episode it plans the
expert's joint trajectory for the episode's object poses (`expert.plan`, IK on its own copy of the
scene) and publishes it on every trajectory controller's topic in chunks of `chunk_s` seconds,
each stamped with the episode's start on this node's clock and sent `lead_s` before it is due
(so it covers its own receipt time: no jump). Reports each episode's result on `~/result`
(std_msgs/String JSON: task, seed, episode, success, max_reward) when the plan has run out.
"""
from __future__ import annotations

import json
import sys

import numpy as np
from builtin_interfaces.msg import Duration
from rclpy.node import Node
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ..embodiment import load_embodiment
from ..ros_common import Param, declare, now_s, run_node, stamp_msg

PARAMS = (
    Param("embodiment", "bimanual_trossen", "Embodiment class (bimanual_trossen) or a YAML file of it."),
    Param("sim", "mujoco_sim", "The simulator node's name (its ~/task topic is <sim>/task)."),
    Param("chunk_s", 1.0, "Seconds of trajectory per published chunk."),
    Param("lead_s", 0.1, "A chunk is sent this long before its first point is due."),
)


def duration(seconds: float) -> Duration:
    sec = int(seconds // 1)
    return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


class ExpertNode(Node):
    def __init__(self, node_name: str = "mujoco_expert", **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare(self, PARAMS)
        if p["chunk_s"] <= 0 or p["lead_s"] < 0:
            raise ValueError(f"chunk_s must be > 0 and lead_s >= 0, got {p['chunk_s']}, {p['lead_s']}")
        self.spec = load_embodiment(p["embodiment"])
        self.chunk_s, self.lead_s = p["chunk_s"], p["lead_s"]
        self.pubs = {c.name: (c.joints, self.create_publisher(JointTrajectory, c.topic, 10))
                     for c in self.spec.trajectory_controllers}
        self.result_pub = self.create_publisher(String, "~/result", 10)
        self.create_subscription(String, f"{p['sim']}/task", self._on_task, 10)
        self.create_timer(0.02, self._on_timer)
        self._scenes = {}
        self.episode = None     # the episode being played (its task JSON)
        self.plan = None
        self.start = 0.0
        self.sent = 0           # chunks sent
        self.last_info = None
        self.results: list[dict] = []

    def _scene(self, task: str):
        from .scene import AlohaScene

        if task not in self._scenes:
            self._scenes[task] = AlohaScene(self.spec, task)
        return self._scenes[task]

    def _on_task(self, msg: String):
        from . import expert

        info = json.loads(msg.data)
        self.last_info = info
        if self.episode is not None and self.episode["episode"] == info["episode"]:
            return
        if self.episode is not None and self.plan is not None:
            self._report()
        self.plan = expert.plan(self._scene(info["task"]), objects=info["objects"])
        self.episode = info
        self.start = now_s(self) + self.lead_s  # the plan's time 0
        self.sent = 0
        self.get_logger().info(f"expert: {info['task']} seed {info['seed']} episode {info['episode']}, "
                               f"IK residual {self.plan.max_position_error * 1000:.1f} mm")

    def _on_timer(self):
        if self.plan is None:
            return
        now = now_s(self)
        end = float(self.plan.times[-1])
        if self.sent * self.chunk_s >= end:
            if now > self.start + end + 0.5:
                self._report()
            return
        due = self.start + self.sent * self.chunk_s
        if now < due - self.lead_s:
            return
        t0 = self.sent * self.chunk_s - self.lead_s - self.spec.dt
        window = (self.plan.times >= t0) & (self.plan.times <= (self.sent + 1) * self.chunk_s + self.spec.dt)
        names = list(self.spec.joint_names)
        for joints, pub in self.pubs.values():
            slots = [names.index(j) for j in joints]
            msg = JointTrajectory(joint_names=list(joints))
            msg.header.stamp = stamp_msg(self.start)
            msg.points = [JointTrajectoryPoint(positions=self.plan.positions[i, slots].tolist(),
                                               time_from_start=duration(float(self.plan.times[i])))
                          for i in np.flatnonzero(window)]
            pub.publish(msg)
        self.sent += 1

    def _report(self):
        info = self.last_info or {}
        result = {"task": self.episode["task"], "seed": self.episode["seed"], "episode": self.episode["episode"],
                  "success": bool(info.get("success")) if info.get("episode") == self.episode["episode"] else None,
                  "max_reward": info.get("max_reward")}
        self.results.append(result)
        self.result_pub.publish(String(data=json.dumps(result)))
        self.get_logger().info(f"expert episode done: {result}")
        self.plan = None


def main(args=None):
    return run_node(ExpertNode, "mujoco_expert", args)


if __name__ == "__main__":
    sys.exit(main())
