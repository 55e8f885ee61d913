"""Every pi0_msgs message and service crosses two processes over DDS intact."""
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
from builtin_interfaces.msg import Duration, Time
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from pi0_msgs.msg import ActionChunk, InputAge, LatencyBreakdown, PolicyStatus
from pi0_msgs.srv import SetInstruction

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def latency():
    return LatencyBreakdown(preprocess=0.004, observation_forward=0.032, action_steps=0.027, postprocess=0.001, total=0.073)


def samples():
    chunk = ActionChunk(
        embodiment="mobile_trossen",
        action_names=[f"joint_{i}" for i in range(14)] + ["base_x", "base_yaw"],
        horizon=3,
        action_dim=16,
        actions=[0.25 * i - 3.0 for i in range(48)],
        dt=Duration(sec=0, nanosec=20_000_000),
        start=Time(sec=1700000000, nanosec=5),
        sequence=2**40 + 7,
        instruction="fold the towel ✓",
        inference_latency=Duration(sec=0, nanosec=73_000_000),
    )
    chunk.header.stamp = Time(sec=1699999999, nanosec=999_000_000)
    chunk.header.frame_id = "base_link"
    age = InputAge(name="left_wrist", topic="camera_wrist_left/camera/color/image_rect_raw", age=0.84, fresh=False)
    status = PolicyStatus(
        lifecycle_state_id=3,
        lifecycle_state="active",
        embodiment="ur5e",
        checkpoint="/ckpt/pi0_ur5e",
        instruction="pick up the cup",
        holding=True,
        latency=latency(),
        chunks_published=12,
        input_ages=[age, InputAge(name="joint_states", topic="joint_states", age=-1.0, fresh=False)],
        faults=["camera left_wrist: stale (0.84 s > 0.50 s)", "joint_states: none received"],
    )
    status.header.stamp = Time(sec=42, nanosec=1)
    return {"ActionChunk": chunk, "InputAge": age, "LatencyBreakdown": latency(), "PolicyStatus": status}


@pytest.fixture(scope="module")
def peer():
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("echo_peer.py"))], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready", "echo peer did not start"
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.parametrize("name", ["ActionChunk", "InputAge", "LatencyBreakdown", "PolicyStatus"])
def test_message_round_trip_through_another_process(peer, executor, spin_until, name):
    sent = samples()[name]
    node = rclpy.create_node(f"test_{name.lower()}", context=executor.context)
    executor.add_node(node)
    received = []
    node.create_subscription(type(sent), f"peer_out/{name}", received.append, QOS)
    pub = node.create_publisher(type(sent), f"peer_in/{name}", QOS)
    spin_until(executor, lambda: pub.get_subscription_count() > 0, 15.0, f"the peer's peer_in/{name} subscription")
    pub.publish(sent)
    spin_until(executor, lambda: received, 15.0, f"{name} echoed back by the peer process")
    assert received[0] == sent
    # Spot-check fields whose loss a lenient __eq__ could hide.
    if name == "ActionChunk":
        assert list(received[0].actions) == pytest.approx(sent.actions)
        assert received[0].sequence == 2**40 + 7 and received[0].instruction == "fold the towel ✓"
    if name == "PolicyStatus":
        assert [a.name for a in received[0].input_ages] == ["left_wrist", "joint_states"]
        assert received[0].faults[0].startswith("camera left_wrist: stale")


def test_set_instruction_service_in_another_process(peer, executor, spin_until):
    import rclpy

    node = rclpy.create_node("test_set_instruction", context=executor.context)
    executor.add_node(node)
    client = node.create_client(SetInstruction, "peer/set_instruction")
    spin_until(executor, client.service_is_ready, 15.0, "the peer's set_instruction service")
    for text, accepted in [("fold the towel", True), ("", False)]:
        future = client.call_async(SetInstruction.Request(instruction=text))
        spin_until(executor, future.done, 10.0, "the SetInstruction response")
        assert future.result().accepted is accepted
        assert future.result().message == (f"instruction set: {text!r}" if accepted else "empty: stopping")
