"""A simulated robot of any embodiment class, standing in for ros2_control with mock hardware.

Topics (relative, so a namespace applies; names from the embodiment spec):
- subscribes `<controller>/joint_trajectory` (trajectory_msgs/JointTrajectory) for every
  joint_trajectory controller, with JTC semantics (`pi0_hw_interfaces.trajectory`), targets
  clamped to the joint limits and motion capped by the joint velocity limits (`safety`);
- subscribes the base controller's topic (Twist or TwistStamped per spec) for mobile classes;
  a command older than the base's `command_timeout` stops the base;
- publishes `joint_states` (sensor_msgs/JointState) at the control rate, `odom`
  (nav_msgs/Odometry) for mobile classes, a sensor_msgs/Image (rgb8) on every camera topic at
  `camera_rate_hz`, drawn from the state (`render`), and on `~/rejected` (std_msgs/String,
  transient local) "<controller>: <reason>" for every rejected trajectory (also logged).

Tasks (`pi0_hw_interfaces.tasks`, see `tasks/host.py`): `~/reset_task` (std_msgs/String JSON
`{"task", "seed", "id"}`) starts a seeded episode (the robot is put at the task's start, every
trajectory dropped); `~/task` (std_msgs/String JSON, transient local) reports the goal, reward
and success; the task's camera shows the task scene. Parameters `task`, `task_seed` start one.

Threads: each timer (control, cameras, ~/task) has a callback group of its own and the
subscriptions share one, so that on a multi-threaded executor (`pi0 bringup`, `pi0 eval`) a
timer that is always due (a loaded CPU, long renders) cannot starve trajectories and resets
(`sim_threads.own_groups`); one fair lock (`sim_threads.FairLock`) serialises the callbacks.
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from . import safety
from .embodiment import load_embodiment
from .follower import BaseIntegrator, GroupFollower
from .render import Renderer
from .ros_common import (REJECTED_QOS, Param, declare, now_s, trajectory_fields, twist_axes,
                         run_node, twist_type)
from .ros_time import sec_to_time
from .sim_threads import FairLock, own_groups
from .tasks.episode import TASK_QOS
from .tasks.host import TASK_RATE_HZ, TaskHost
from .trajectory import TrajectoryError

PARAMS = (
    Param("embodiment", "ur5e", "Embodiment class or alias (pi0_hw_interfaces.embodiment)."),
    Param("rate_hz", 0.0, "Control and joint_states rate, Hz; 0 = the spec's control rate."),
    Param("camera_rate_hz", 15.0, "Camera image rate, Hz; 0 = no images."),
    Param("image_width", 0, "Image width, px; 0 = the spec camera's width."),
    Param("image_height", 0, "Image height, px; 0 = the spec camera's height."),
    Param("initial_positions", [], "Initial joint positions in spec joint order; [] = 0 clamped "
          "into the limits, grippers open."),
    Param("task", "", "Task to start at launch (pi0_hw_interfaces.tasks); '' = none until ~/reset_task."),
    Param("task_seed", 0, "Seed of the task started at launch."),
)


def initial_positions(spec, given) -> np.ndarray:
    """`given` (one per spec joint) or the default: 0 clamped into each joint's limits, grippers open."""
    names = spec.joint_names
    if len(given):
        if len(given) != len(names):
            raise ValueError(f"initial_positions has {len(given)} values for "
                             f"{len(names)} joints {list(names)}")
        return spec.clamp(names, given)
    out = spec.clamp(names, np.zeros(len(names)))
    for i, name in enumerate(names):
        if name in spec.grippers:
            out[i] = spec.grippers[name].open
    return out


class SimRobotNode(Node):
    """The simulated robot (see the module docstring). Parameters: `PARAMS`."""

    def __init__(self, node_name: str = "sim_robot", **kwargs):
        super().__init__(node_name, **kwargs)
        self._lock = FairLock()
        groups = own_groups("control", "cameras", "task", "commands")
        p = declare(self, PARAMS)
        self.spec = spec = load_embodiment(p["embodiment"])
        for key in ("rate_hz", "camera_rate_hz"):
            if p[key] < 0:
                raise ValueError(f"{key} must be >= 0, got {p[key]}")
        rate = p["rate_hz"] or spec.control_rate_hz
        start = initial_positions(spec, p["initial_positions"])
        index = {n: i for i, n in enumerate(spec.joint_names)}
        self.groups: dict[str, GroupFollower] = {}
        self._slots: dict[str, list[int]] = {}  # controller → its joints' indices in spec order
        self.rejected: list[str] = []
        for c in spec.trajectory_controllers:
            limits = safety.JointLimits.from_spec(spec, c.joints)
            self._slots[c.name] = [index[j] for j in c.joints]
            self.groups[c.name] = GroupFollower(c.name, limits, start[self._slots[c.name]])
            self.create_subscription(JointTrajectory, c.topic, self._on_trajectory_cb(c.name), 10,
                                     callback_group=groups["commands"])
        self.base = BaseIntegrator(spec.base) if spec.base else None
        if self.base:
            ctrl = spec.base_controller
            self.create_subscription(twist_type(ctrl.msg_type), ctrl.topic, self._on_twist, 10,
                                     callback_group=groups["commands"])
            self.odom_pub = self.create_publisher(Odometry, spec.odom_topic, 10)
        self.joint_pub = self.create_publisher(JointState, spec.joint_state_topic, 10)
        self.rejected_pub = self.create_publisher(String, "~/rejected", REJECTED_QOS)
        self.cameras = []
        for cam in spec.cameras:
            w, h = p["image_width"] or cam.width, p["image_height"] or cam.height
            self.cameras.append((cam, self.create_publisher(Image, cam.topic, 2), w, h))
        sizes = {(w, h) for _, _, w, h in self.cameras}
        self.renderers = {size: Renderer(spec, *size) for size in sizes}
        self.task_host = TaskHost(spec)
        self.task_pub = self.create_publisher(String, "~/task", TASK_QOS)
        self.create_subscription(String, "~/reset_task", self._on_reset_task, 10, callback_group=groups["commands"])
        if p["task"]:
            self._reset_task(json.dumps({"task": p["task"], "seed": p["task_seed"]}))
        self.create_timer(1.0 / TASK_RATE_HZ, self._publish_task, callback_group=groups["task"])
        self.create_timer(1.0 / rate, self._on_control, callback_group=groups["control"])
        if p["camera_rate_hz"] > 0 and self.cameras:
            self.create_timer(1.0 / p["camera_rate_hz"], self._on_camera, callback_group=groups["cameras"])
        self.get_logger().info(
            f"simulating {spec.name}: {len(spec.joints)} joints, controllers "
            f"{[c.name for c in spec.controllers]}, {len(self.cameras)} cameras, {rate:g} Hz")

    # ------------------------------------------------------------------ state
    def positions(self) -> np.ndarray:
        """All joint positions in spec joint order."""
        return self._gather("positions")

    def _gather(self, attribute: str) -> np.ndarray:
        out = np.zeros(len(self.spec.joints))
        for name, g in self.groups.items():
            out[self._slots[name]] = getattr(g, attribute)
        return out

    def _reject(self, controller: str, reason: str):
        text = f"{controller}: {reason}"
        self.rejected.append(text)
        self.get_logger().warning(f"rejected trajectory for {text}")
        self.rejected_pub.publish(String(data=text))

    # ------------------------------------------------------------------ tasks
    def _reset_task(self, text: str) -> None:
        """Start a task episode (ValueError on a bad request): robot to the task's start."""
        names = self.spec.joint_names
        default = dict(zip(names, initial_positions(self.spec, []).tolist()))
        start = self.task_host.reset(text, default, now_s(self))
        values = np.array([start[n] for n in names])
        for name, group in self.groups.items():
            group.reset(values[self._slots[name]])
        if self.base:
            self.base.reset()
        self.get_logger().info(f"task {self.task_host.task.spec.name} seed {self.task_host.session.seed}: "
                               f"{self.task_host.session.goal['instruction']!r}")

    def _on_reset_task(self, msg: String) -> None:
        with self._lock:
            try:
                self._reset_task(msg.data)
            except ValueError as error:
                self.get_logger().error(str(error))
            self._publish_task()

    def _publish_task(self) -> None:
        with self._lock:
            if self.task_host.task is None and not self.task_host.error:
                return  # no task asked for: nothing to report
            self.task_pub.publish(String(data=json.dumps(self.task_host.state(now_s(self)))))

    def _positions_by_name(self) -> dict:
        return dict(zip(self.spec.joint_names, self.positions().tolist()))

    # ------------------------------------------------------------------ callbacks
    def _on_trajectory_cb(self, controller: str):
        def callback(msg: JointTrajectory):
            names, times, positions, stamp = trajectory_fields(msg)
            with self._lock:
                try:
                    self.groups[controller].accept(names, times, positions, stamp, now_s(self))
                except TrajectoryError as err:
                    self._reject(controller, str(err))
        return callback

    def _on_twist(self, msg):
        with self._lock:
            self.base.command(twist_axes(msg, self.spec.base.axes), now_s(self))

    def _on_control(self):
        with self._lock:
            self._control(now_s(self))

    def _control(self, now: float):
        for g in self.groups.values():
            g.step(now)
        if self.task_host.step(now, self._positions_by_name()):
            self._publish_task()
        stamp = sec_to_time(now)
        msg = JointState()
        msg.header.stamp = stamp
        msg.name = list(self.spec.joint_names)
        msg.position, msg.velocity = self._gather("positions").tolist(), self._gather("velocities").tolist()
        self.joint_pub.publish(msg)
        if self.base:
            self.base.step(now)
            self.odom_pub.publish(self._odometry(stamp))

    def _odometry(self, stamp) -> Odometry:
        x, y, yaw = self.base.pose
        vx, vy, wz = self.base.velocity
        odom = Odometry()
        odom.header.stamp = stamp
        odom.header.frame_id = "odom"
        odom.child_frame_id = "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = float(x), float(y)
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        odom.twist.twist.linear.x, odom.twist.twist.linear.y = float(vx), float(vy)
        odom.twist.twist.angular.z = float(wz)
        return odom

    def _on_camera(self):
        with self._lock:
            self._render_cameras()

    def _render_cameras(self):
        stamp = sec_to_time(now_s(self))
        positions = self.positions()
        pose = self.base.pose if self.base else None
        named = dict(zip(self.spec.joint_names, positions.tolist()))
        for cam, pub, w, h in self.cameras:
            if self.task_host.shows(cam.role):
                img = self.task_host.render(w, h, named)
            else:
                img = self.renderers[(w, h)].render(cam.role, positions, pose)
            msg = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3)
            msg.header.stamp = stamp
            msg.header.frame_id = f"{cam.role}_camera"
            msg.data = img.tobytes()
            pub.publish(msg)


def main(args=None):
    return run_node(SimRobotNode, "sim_robot", args)


if __name__ == "__main__":
    sys.exit(main())
