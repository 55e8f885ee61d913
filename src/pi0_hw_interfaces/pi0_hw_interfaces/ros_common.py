"""Small ROS helpers shared by the sim robot and the bridge: the clock, message fields, parameters.

Time conversions live in `pi0_hw_interfaces.ros_time` (the one set, imported everywhere)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile
from rcl_interfaces.msg import ParameterDescriptor

from .ros_time import sec_to_time, time_to_sec

#: `~/rejected` (std_msgs/String): latched so a late subscriber still sees the last reasons.
REJECTED_QOS = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def now_s(node: Node) -> float:
    """The node's clock now, in seconds."""
    return node.get_clock().now().nanoseconds * 1e-9


# Older names of the converters, kept for callers written before `ros_time` (same functions).
stamp_s = time_to_sec
stamp_msg = sec_to_time


def trajectory_fields(msg) -> tuple[list[str], list[float], list[list[float]], float]:
    """(joint_names, time_from_start s, positions per point, header stamp s) of a JointTrajectory."""
    return (list(msg.joint_names), [time_to_sec(p.time_from_start) for p in msg.points],
            [list(p.positions) for p in msg.points], time_to_sec(msg.header.stamp))


def twist_axes(msg, axes) -> list[float]:
    """Values of base `axes` (base_x, base_y, base_yaw) from a Twist or TwistStamped."""
    twist = getattr(msg, "twist", msg)
    values = {"base_x": twist.linear.x, "base_y": twist.linear.y, "base_yaw": twist.angular.z}
    return [values[a] for a in axes]


def twist_type(msg_type: str):
    """geometry_msgs/Twist or geometry_msgs/TwistStamped class for a spec's msg_type string."""
    from geometry_msgs.msg import Twist, TwistStamped

    return {"geometry_msgs/Twist": Twist, "geometry_msgs/TwistStamped": TwistStamped}[msg_type]


@dataclass(frozen=True)
class Param:
    """A node parameter declared once: name, default (its type is the parameter's), description,
    and optional checks: ``choices`` (the value must be one of them) and ``minimum``. The one
    parameter helper of every node in the project (hardware and policy)."""

    name: str
    default: Any
    description: str
    choices: tuple = ()
    minimum: float | None = None

    def descriptor(self) -> ParameterDescriptor:
        """ROS descriptor: the description (with the choices) and a range for a minimum."""
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange

        text = self.description + (f" One of {list(self.choices)}." if self.choices else "")
        descriptor = ParameterDescriptor(description=text)
        if self.minimum is not None and isinstance(self.default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(self.minimum),
                                                                  to_value=math.inf)]
        elif self.minimum is not None and isinstance(self.default, int) and not isinstance(self.default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(self.minimum), to_value=2**31 - 1, step=1)]
        return descriptor

    def check(self, value) -> None:
        """ValueError naming the parameter, the value and what is allowed."""
        if self.choices and value not in self.choices:
            raise ValueError(f"parameter {self.name}={value!r}: choose one of {list(self.choices)}")
        if self.minimum is not None and not (value >= self.minimum):
            raise ValueError(f"parameter {self.name}={value!r}: must be >= {self.minimum}")


def declare(node: Node, params: tuple[Param, ...]) -> dict[str, Any]:
    """Declare `params` on `node` and return their values by name (an empty-list default is a
    double array that may stay unset: [])."""
    values = {}
    for p in params:
        if isinstance(p.default, list) and not p.default:
            node.declare_parameter(p.name, Parameter.Type.DOUBLE_ARRAY, p.descriptor())
            try:
                values[p.name] = list(node.get_parameter(p.name).value)
            except ParameterUninitializedException:
                values[p.name] = []
        else:
            node.declare_parameter(p.name, p.default, p.descriptor())
            values[p.name] = node.get_parameter(p.name).value
    return values


def spin_until_signal(executor, context=None) -> str:
    """Spin ``executor`` until SIGINT or SIGTERM arrives (or the context shuts down) and return
    the signal's name ("" if none). For nodes that must still act after the signal (send a hold):
    initialise rclpy with ``SignalHandlerOptions.NO`` so that the context stays valid."""
    import signal

    import rclpy

    received = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: received.append(signal.Signals(number).name))
    while not received and rclpy.ok(context=context):
        executor.spin_once(timeout_sec=0.1)
    return received[0] if received else ""


def run_node(node_class, name: str, args=None) -> int:
    """Console-script body: init rclpy, build `node_class()`, spin until Ctrl-C or shutdown.

    A bad configuration (unknown embodiment, invalid parameter, missing file) prints
    `<name>: <reason>` and returns 2 instead of a traceback.
    """
    import sys

    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    try:
        node = node_class()
    except (KeyError, ValueError, OSError) as err:
        print(f"{name}: {err.args[0] if err.args else err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def drain_executor(executor, timeout: float = 5.0) -> list[BaseException]:
    """Wait until every callback a MultiThreadedExecutor handed to its thread pool has run, and
    return the exceptions they raised. Call it after spinning stopped and before `shutdown()`:
    rclpy's (Jazzy) shutdown does not wait for them, and a callback that starts after it touches
    the destroyed guard condition ("cannot use Destroyable because destruction was requested",
    printed later as an exception never retrieved). Gives up after `timeout` s."""
    import time

    futures = list(getattr(executor, "_futures", ()))  # rclpy keeps the pool's tasks here
    deadline = time.monotonic() + timeout
    while any(not f.done() for f in futures) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [f.exception() for f in futures if f.done() and f.exception() is not None]
