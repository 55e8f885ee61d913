"""trajectory_bridge: drive robots whose drivers do not take trajectory_msgs/JointTrajectory.

For every controller of the embodiment spec that names a `driver_topic` (or those listed in
the `controllers` parameter):
- a joint_trajectory controller: trajectories arriving on `<controller>/joint_trajectory` are
  followed with JTC semantics (`trajectory`), through the safety layer (targets clamped to the
  joint limits, steps capped by the velocity limits), and streamed at `rate_hz` as
  sensor_msgs/JointState (driver joint names, e.g. AgileX Piper's `joint_ctrl_single`) or
  std_msgs/Float64MultiArray (forward_command_controller `commands`, controller joint order)
  on `driver_topic`; streaming stops when the trajectory's last point is reached (drivers hold
  their last position command). Motion starts from the latest feedback (`joint_states` in spec
  joint names, or the controller's `driver_state_topic` in driver joint names) or, before any,
  from the last streamed command; with neither, from the trajectory's first point (logged).
- a base controller: velocity commands (Twist/TwistStamped per spec) are re-published on
  `driver_topic` at `rate_hz`, capped by the base's limits; once no command came for the base's
  `command_timeout`, `stop_messages` zero commands are published, then nothing until the next.
Rejected trajectories are logged and published on `~/rejected` (std_msgs/String).
"""
from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from . import safety
from .embodiment import load_embodiment
from .follower import GroupFollower
from .ros_common import (REJECTED_QOS, Param, declare, now_s, trajectory_fields, twist_axes,
                         run_node, twist_type)
from .ros_time import sec_to_time
from .trajectory import TrajectoryError

PARAMS = (
    Param("embodiment", "bimanual_arx", "Embodiment class or alias (pi0_hw_interfaces.embodiment)."),
    Param("rate_hz", 0.0, "Streaming rate, Hz; 0 = the spec's control rate."),
    Param("controllers", "", "Comma-separated controllers to bridge; '' = all with a driver_topic."),
    Param("stop_messages", 5, "Zero velocity commands sent once the base command goes stale."),
)


class _ArmBridge:
    """One joint_trajectory controller streamed to its driver topic."""

    def __init__(self, node: Node, spec, controller):
        self.controller = controller
        self.follower = GroupFollower(controller.name, safety.JointLimits.from_spec(spec, controller.joints),
                                      np.zeros(len(controller.joints)))
        self.known = False  # whether follower.positions reflect the robot (feedback or commands)
        self.spec_index = {name: i for i, name in enumerate(controller.joints)}
        self.driver_index = {name: i for i, name in enumerate(controller.driver_joint_names)}
        msg_type = JointState if controller.driver_msg_type == "sensor_msgs/JointState" else Float64MultiArray
        self.pub = node.create_publisher(msg_type, controller.driver_topic, 10)
        if controller.driver_state_topic:
            node.create_subscription(JointState, controller.driver_state_topic,
                                     lambda msg: self.feedback(msg, self.driver_index), 10)

    def feedback(self, msg: JointState, index: dict[str, int]):
        """Take positions (joint names → `index`) from feedback while idle (not streaming)."""
        if self.follower.trajectory is not None:
            return
        found = {index[n]: p for n, p in zip(msg.name, msg.position) if n in index}
        if len(found) == len(self.controller.joints):
            positions = np.array([found[i] for i in range(len(found))])
            if np.all(np.isfinite(positions)):
                self.follower.positions = safety.clamp_positions(positions, self.follower.limits)
                self.known = True

    def stream(self, now: float):
        if self.follower.trajectory is None:
            return
        positions = self.follower.step(now)
        if self.controller.driver_msg_type == "sensor_msgs/JointState":
            msg = JointState(name=list(self.controller.driver_joint_names), position=positions.tolist())
            msg.header.stamp = sec_to_time(now)
        else:
            msg = Float64MultiArray(data=positions.tolist())
        self.pub.publish(msg)


class _BaseBridge:
    """The base controller's velocity commands re-published, capped, and stopped when stale."""

    def __init__(self, node: Node, spec, controller, stop_messages: int):
        self.base = spec.base
        self.out_type = twist_type(controller.driver_msg_type)
        self.pub = node.create_publisher(self.out_type, controller.driver_topic, 10)
        self.command = None
        self.command_time = None
        self.stop_left = 0
        self.stop_messages = stop_messages

    def receive(self, values, now: float):
        self.command, self.command_time = values, now
        self.stop_left = self.stop_messages

    def stream(self, now: float):
        stale = safety.is_stale(self.command_time, now, self.base.command_timeout)
        if stale:
            if self.stop_left <= 0:
                return
            self.stop_left -= 1
        values = dict(zip(self.base.axes, safety.safe_base_command(self.command, self.command_time, now,
                                                                   self.base)))
        msg = self.out_type()
        twist = getattr(msg, "twist", msg)
        if hasattr(msg, "header"):
            msg.header.stamp = sec_to_time(now)
            msg.header.frame_id = "base_link"
        twist.linear.x = float(values.get("base_x", 0.0))
        twist.linear.y = float(values.get("base_y", 0.0))
        twist.angular.z = float(values.get("base_yaw", 0.0))
        self.pub.publish(msg)


class TrajectoryBridgeNode(Node):
    """The bridge (see the module docstring). Parameters: `PARAMS`."""

    def __init__(self, node_name: str = "trajectory_bridge", **kwargs):
        super().__init__(node_name, **kwargs)
        p = declare(self, PARAMS)
        self.spec = spec = load_embodiment(p["embodiment"])
        wanted = [c.strip() for c in p["controllers"].split(",") if c.strip()]
        by_name = {c.name: c for c in spec.controllers}
        for name in wanted:
            if name not in by_name:
                raise ValueError(f"controllers: unknown controller {name!r}; "
                                 f"{spec.name} has {sorted(by_name)}")
            if not by_name[name].driver_topic:
                raise ValueError(f"controllers: {name!r} has no driver_topic in the {spec.name} spec")
        served = [by_name[n] for n in wanted] or [c for c in spec.controllers if c.driver_topic]
        if not served:
            raise ValueError(f"{spec.name} has no controller with a driver_topic: nothing to bridge")
        rate = p["rate_hz"] or spec.control_rate_hz
        if rate <= 0:
            raise ValueError(f"rate_hz must be > 0, got {rate}")
        self.arms: dict[str, _ArmBridge] = {}
        self.base: _BaseBridge | None = None
        self.rejected: list[str] = []
        for c in served:
            if c.type == "joint_trajectory":
                self.arms[c.name] = _ArmBridge(self, spec, c)
                self.create_subscription(JointTrajectory, c.topic, self._on_trajectory_cb(c.name), 10)
            else:
                self.base = _BaseBridge(self, spec, c, int(p["stop_messages"]))
                self.create_subscription(twist_type(c.msg_type), c.topic, self._on_twist, 10)
        if self.arms:
            self.create_subscription(JointState, spec.joint_state_topic, self._on_joint_states, 10)
        self.rejected_pub = self.create_publisher(String, "~/rejected", REJECTED_QOS)
        self.create_timer(1.0 / rate, self._on_timer)
        self.get_logger().info(
            f"bridging {spec.name}: " + ", ".join(f"{c.topic} -> {c.driver_topic} ({c.driver_msg_type})"
                                                 for c in served) + f" at {rate:g} Hz")

    def _on_trajectory_cb(self, controller: str):
        arm = self.arms[controller]

        def callback(msg: JointTrajectory):
            names, times, positions, stamp = trajectory_fields(msg)
            before = arm.follower.positions
            if not arm.known and msg.points and len(names) == len(positions[0]):
                order = [names.index(j) if j in names else None for j in arm.controller.joints]
                if None not in order and np.all(np.isfinite(positions[0])):
                    arm.follower.positions = safety.clamp_positions([positions[0][i] for i in order],
                                                                    arm.follower.limits)
            try:
                arm.follower.accept(names, times, positions, stamp, now_s(self))
                if not arm.known:
                    self.get_logger().warning(
                        f"{controller}: no joint state yet: started at the first point")
                arm.known = True
            except TrajectoryError as err:
                arm.follower.positions = before
                text = f"{controller}: {err}"
                self.rejected.append(text)
                self.get_logger().warning(f"rejected trajectory for {text}")
                self.rejected_pub.publish(String(data=text))
        return callback

    def _on_twist(self, msg):
        self.base.receive(twist_axes(msg, self.spec.base.axes), now_s(self))

    def _on_joint_states(self, msg: JointState):
        for arm in self.arms.values():
            arm.feedback(msg, arm.spec_index)

    def _on_timer(self):
        now = now_s(self)
        for arm in self.arms.values():
            arm.stream(now)
        if self.base:
            self.base.stream(now)


def main(args=None):
    return run_node(TrajectoryBridgeNode, "trajectory_bridge", args)


if __name__ == "__main__":
    sys.exit(main())
