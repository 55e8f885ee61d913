"""Topic names shared by the policy node and its clients, defined once (no rclpy import, so
light command-line code can use them). The QoS that goes with each is in `pi0_policy.ros.qos`."""

#: Language instructions: std_msgs/String, QoS `pi0_policy.ros.qos.INSTRUCTION` (reliable,
#: transient local, depth 1). The policy node's default ``instruction_topic``.
INSTRUCTION_TOPIC = "/pi0/instruction"
