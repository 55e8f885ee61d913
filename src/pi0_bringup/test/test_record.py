"""`pi0 record`: messages published over DDS land in an MCAP bag, byte for byte, with the episode
markers; the bag reads back with rosbags and converts into a dataset."""
import json
import threading
import time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from pi0_bringup.commands.record import record
from pi0_bringup.recording.recorder import embodiment_topics
from pi0_hw_interfaces.embodiment import load_embodiment

ARM = ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint"]
GRIPPER = "robotiq_85_left_knuckle_joint"
LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
FRAMES = 30


def test_the_recorded_topics_follow_the_embodiment():
    topics = {t: (m, k) for t, m, k in embodiment_topics(load_embodiment("mobile_trossen"), namespace="robot1")}
    assert topics["/robot1/joint_states"] == ("sensor_msgs/msg/JointState", "sensor")
    assert topics["/robot1/camera_high/camera/color/image_rect_raw"] == ("sensor_msgs/msg/Image", "sensor")
    assert topics["/robot1/base_controller/cmd_vel"][0].startswith("geometry_msgs/msg/Twist")
    assert topics["/pi0/episode"] == ("std_msgs/msg/String", "latched")
    for side in ("left", "right"):
        for part in ("arm", "gripper"):
            assert topics[f"/robot1/follower_{side}_{part}_controller/joint_trajectory"] == (
                "trajectory_msgs/msg/JointTrajectory", "command")
    assert topics["/pi0/instruction"] == ("std_msgs/msg/String", "latched") and len(topics) == 11


def test_published_messages_are_recorded_and_convert(executor, spin_until, tmp_path):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    from pi0_policy.data.convert import convert_bags
    from pi0_policy.data.lerobot import read_dataset

    spec = load_embodiment("ur5e")
    node = rclpy.create_node("record_test_publisher", context=executor.context)
    executor.add_node(node)
    pubs = {c.role: node.create_publisher(Image, "/" + c.topic, 10) for c in spec.cameras}
    joints = node.create_publisher(JointState, "/joint_states", 10)
    arm = node.create_publisher(JointTrajectory, "/scaled_joint_trajectory_controller/joint_trajectory", 10)
    grip = node.create_publisher(JointTrajectory, "/gripper_controller/joint_trajectory", 10)
    episode = node.create_publisher(String, "/pi0/episode", LATCHED)
    instruction = node.create_publisher(String, "/pi0/instruction", LATCHED)

    bag = tmp_path / "bag"
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        record(bag, "ur5e", duration=60.0, episodes=1, context=executor.context, log=lambda *_: None)))
    thread.start()
    spin_until(executor, lambda: episode.get_subscription_count() > 0 and joints.get_subscription_count() > 0
               and grip.get_subscription_count() > 0 and all(p.get_subscription_count() for p in pubs.values()),
               20.0, "the recorder's subscriptions")
    instruction.publish(String(data="pick the red cube"))
    marker = {"event": "start", "episode": 0, "task": "pick", "seed": 3, "instruction": "pick the red cube",
              "success": None}
    episode.publish(String(data=json.dumps(marker)))
    sent_positions = []
    for k in range(FRAMES):
        positions = [0.01 * k + 0.1 * j for j in range(6)] + [0.02 * k]
        sent_positions.append(positions)
        joints.publish(JointState(name=ARM + [GRIPPER], position=positions))
        for role, pub in pubs.items():
            pub.publish(Image(height=4, width=6, encoding="rgb8", step=18,
                              data=bytes([k % 256] * 72)))
        point = JointTrajectoryPoint(positions=positions[:6])
        point.time_from_start.nanosec = 100_000_000
        arm.publish(JointTrajectory(joint_names=ARM, points=[point]))
        grip.publish(JointTrajectory(joint_names=[GRIPPER], points=[JointTrajectoryPoint(positions=[positions[6]])]))
        executor.spin_once(timeout_sec=0.0)
        time.sleep(0.05)  # 20 Hz, the ur5e control rate
    episode.publish(String(data=json.dumps({**marker, "event": "end", "success": True})))
    thread.join(timeout=30)
    assert not thread.is_alive() and result["episodes"][0]["success"] is True

    store = get_typestore(Stores.ROS2_JAZZY)
    with AnyReader([bag], default_typestore=store) as reader:
        assert next(bag.glob("*.mcap")).is_file()
        by_topic = {}
        for conn, _, raw in reader.messages():
            by_topic.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    # Reliable topics: everything arrives, in order. Sensors are best effort: nearly all on localhost.
    commands = [m.points[0].positions for m in by_topic["/scaled_joint_trajectory_controller/joint_trajectory"]]
    np.testing.assert_array_equal(commands, [p[:6] for p in sent_positions])
    recorded = [m.position.tolist() for m in by_topic["/joint_states"]]
    assert len(recorded) >= FRAMES - 3 and all(r in sent_positions for r in recorded)
    assert recorded == sorted(recorded)
    images = by_topic["/camera_base/camera/color/image_raw"]
    assert len(images) >= FRAMES - 3 and all(bytes(m.data) == bytes([m.data[0]] * 72) for m in images)
    events = [json.loads(m.data)["event"] for m in by_topic["/pi0/episode"]]
    assert events == ["start", "end"] and by_topic["/pi0/instruction"][0].data == "pick the red cube"

    summary = convert_bags([bag], tmp_path / "ds", "ur5e", progress=False)
    data = read_dataset(tmp_path / "ds")
    assert summary["episodes"] == 1 and summary["tasks"] == ["pick the red cube"]
    assert 20 <= len(data) <= FRAMES + 5 and data.state.shape[1] == 7
    assert np.all(np.diff(data.state[:, 0]) >= -1e-9)  # time runs forward through the episode


def test_record_cli_rejects_an_unknown_embodiment_and_an_existing_bag(tmp_path):
    import subprocess
    import sys

    base = [sys.executable, "-m", "pi0_bringup.cli", "record"]
    proc = subprocess.run(base + [str(tmp_path / "bag"), "--embodiment", "ur6", "--duration", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("pi0 record: unknown embodiment 'ur6'")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "bag").exists()
    (tmp_path / "old").mkdir()
    proc = subprocess.run(base + [str(tmp_path / "old"), "--embodiment", "ur5e", "--duration", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "old exists" in proc.stderr
