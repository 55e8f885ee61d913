"""The ROS 2 side of pi0_policy: the lifecycle node, message conversions, QoS and diagnostics."""
