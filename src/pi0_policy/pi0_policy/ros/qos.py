"""QoS profiles of the policy node's endpoints, and the instruction topic, named once.

- Cameras and joint states: sensor-data QoS (best effort, keep last), which also matches
  reliable publishers; the node only ever wants the latest sample.
- Instruction: reliable + transient local, depth 1, so that a node started late still gets
  the last instruction (``pi0 instruct`` and launch files publish it latched the same way).
- Commands (JointTrajectory, Twist) and reports (ActionChunk, PolicyStatus): reliable, keep
  last 10, as ros2_control's controllers subscribe with the system default (reliable) QoS.
"""
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

from pi0_policy.ros.topics import INSTRUCTION_TOPIC  # noqa: F401 - the topic that goes with INSTRUCTION

SENSOR = qos_profile_sensor_data
INSTRUCTION = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
COMMAND = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
REPORT = COMMAND
