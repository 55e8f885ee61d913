"""`pi0 instruct "TEXT"`: publish a language instruction for the policy, without ros2cli.

The instruction goes out as std_msgs/String on /pi0/instruction, reliable and transient local
(depth 1), the QoS the policy node subscribes with: a node that starts later still receives it
while this publisher lives (`--keep`). An empty text (`--stop`) tells the policy to stop; the
robot holds.

Exit status: 0 once a subscriber has acknowledged the message; 1 if no subscriber appeared
within `--wait` seconds (the message was not delivered) or, with `--keep`, never; 2 for bad
arguments (e.g. an invalid topic name).
"""
import argparse
import time

from pi0_policy.ros.topics import INSTRUCTION_TOPIC as DEFAULT_TOPIC


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "instruct",
        help="publish a language instruction on /pi0/instruction",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("text", nargs="?", default=None, help='the instruction, e.g. "fold the towel"')
    parser.add_argument("--stop", action="store_true", help="send an empty instruction: the robot stops and holds")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help=f"instruction topic (default {DEFAULT_TOPIC})")
    parser.add_argument(
        "--wait", type=float, default=5.0, help="seconds to wait for a subscriber before giving up (default 5)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep publishing (latched) until Ctrl-C, for nodes that start later"
    )
    parser.set_defaults(func=run)


def instruction_qos():
    """Reliable, transient local, depth 1: late subscribers get the latest instruction (the
    policy node's QoS, `pi0_policy.ros.qos.INSTRUCTION`)."""
    from pi0_policy.ros.qos import INSTRUCTION

    return INSTRUCTION


def topic_problem(topic: str, full: bool = False) -> str:
    """Why `topic` is no valid ROS topic name (rclpy's rules, one line), or "". `full`: it must
    be fully qualified (a node's full name, e.g. /ns/pi0_policy)."""
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.validate_full_topic_name import validate_full_topic_name
    from rclpy.validate_topic_name import validate_topic_name

    try:
        (validate_full_topic_name if full else validate_topic_name)(topic)
    except InvalidTopicNameException as error:
        return str(error).splitlines()[0].removeprefix("Invalid topic name: ").rstrip(":")
    return ""


def run(args) -> int:
    if args.stop == (args.text is not None):
        print('pi0 instruct: give either an instruction ("fold the towel") or --stop')
        return 2
    text = "" if args.stop else args.text
    problem = topic_problem(args.topic)
    if problem:
        print(f"pi0 instruct: --topic {args.topic!r}: {problem}")
        return 2
    import rclpy
    from std_msgs.msg import String

    from pi0_bringup.cli_node import cli_node

    with cli_node("pi0_instruct") as (node, _):
        try:
            publisher = node.create_publisher(String, args.topic, instruction_qos())
            publisher.publish(String(data=text))
            what = "stop (empty instruction)" if args.stop else repr(text)
            deadline = time.monotonic() + args.wait
            while publisher.get_subscription_count() == 0 and (args.keep or time.monotonic() < deadline):
                time.sleep(0.05)
            if publisher.get_subscription_count() == 0:
                print(
                    f"pi0 instruct: no subscriber on {args.topic} after {args.wait:.1f} s; not delivered. "
                    "Is pi0_policy_node running, with the same ROS_DOMAIN_ID and discovery range?"
                )
                return 1
            acked = publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=max(args.wait, 1.0)))
            print(
                f"pi0 instruct: sent {what} on {args.topic} to {publisher.get_subscription_count()} subscriber(s)"
                + ("" if acked else " (not acknowledged yet)")
            )
            if args.keep:
                print("pi0 instruct: keeping the instruction latched; Ctrl-C to exit")
                while node.context.ok():
                    time.sleep(0.5)
            return 0 if acked else 1
        except KeyboardInterrupt:
            return 0
