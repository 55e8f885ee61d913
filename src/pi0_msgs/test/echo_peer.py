"""A second process for the interface tests: echoes every pi0_msgs message type and serves
pi0_msgs/srv/SetInstruction.

For each message type T it subscribes to `peer_in/T` and republishes what it receives, unchanged,
on `peer_out/T`. The SetInstruction service `peer/set_instruction` accepts non-empty instructions
and answers with a message quoting the instruction. Runs until killed.
"""
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from pi0_msgs import msg as pi0_msg
from pi0_msgs.srv import SetInstruction

MESSAGE_TYPES = ["ActionChunk", "InputAge", "LatencyBreakdown", "PolicyStatus"]
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def answer(request, response):
    response.accepted = bool(request.instruction)
    response.message = f"instruction set: {request.instruction!r}" if response.accepted else "empty: stopping"
    return response


def main():
    rclpy.init()
    node = rclpy.create_node("pi0_msgs_echo_peer")
    keep = []
    for name in MESSAGE_TYPES:
        msg_type = getattr(pi0_msg, name)
        pub = node.create_publisher(msg_type, f"peer_out/{name}", QOS)
        keep.append(node.create_subscription(msg_type, f"peer_in/{name}", pub.publish, QOS))
    keep.append(node.create_service(SetInstruction, "peer/set_instruction", answer))
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
