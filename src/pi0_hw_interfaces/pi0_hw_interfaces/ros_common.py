"""Small ROS helpers shared by the sim robot and the bridge: the clock, message fields, parameters.

Time conversions live in `pi0_hw_interfaces.ros_time` (the one set, imported everywhere)."""
from __future__ import annotations

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
    """A node parameter declared once: name, default (its type is the parameter's), description."""

    name: str
    default: Any
    description: str


def declare(node: Node, params: tuple[Param, ...]) -> dict[str, Any]:
    """Declare `params` on `node` and return their values by name."""
    values = {}
    for p in params:
        if isinstance(p.default, list) and not p.default:
            node.declare_parameter(p.name, Parameter.Type.DOUBLE_ARRAY,
                                   ParameterDescriptor(description=p.description))
            try:
                values[p.name] = list(node.get_parameter(p.name).value)
            except ParameterUninitializedException:
                values[p.name] = []
        else:
            node.declare_parameter(p.name, p.default, ParameterDescriptor(description=p.description))
            values[p.name] = node.get_parameter(p.name).value
    return values


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
