"""Synthetic rosbag2 bags with exactly known contents, written with rosbags (as `ros2 bag record` would).

`write_ur5e_bag` records a ur5e episode set: joint states at 50 Hz whose joint j reads
``0.1 * j + 0.5 * t`` (t: seconds since the bag start), camera images at 25 Hz whose pixels all equal 4 × the frame counter (mod 256;
H.264 keeps them within ±2), trajectory commands at 10 Hz with one point ``0.1 * j +
0.5 * (t + 0.2)`` 0.2 s ahead, a gripper that is commanded to ``0.4 * (t > 1)``, and episode
markers. Time 0 of the bag is ``T0``.
"""
from __future__ import annotations

import json

import numpy as np

T0 = 1_000.0
ARM = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
       "wrist_3_joint")
GRIPPER = "robotiq_85_left_knuckle_joint"
CAMERAS = {"base": "/camera_base/camera/color/image_raw", "left_wrist": "/camera_wrist/camera/color/image_raw"}


def arm_position(j: int, t: float) -> float:
    return 0.1 * j + 0.5 * t


def gripper_command(t: float) -> float:
    return 0.4 if t > 1.0 else 0.0


def _store():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def _time(ts, seconds: float):
    sec = int(np.floor(seconds))
    return ts.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def _header(ts, seconds):
    return ts.types["std_msgs/msg/Header"](stamp=_time(ts, seconds), frame_id="")


def _duration(ts, seconds):
    sec = int(np.floor(seconds))
    return ts.types["builtin_interfaces/msg/Duration"](sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def write_ur5e_bag(path, episodes=(("pick the red cube", 0.0, 2.0, True),), storage="mcap", compressed=False,
                   size=(32, 24), corrupt_image_at: float | None = None):
    """Write a bag at ``path``; ``episodes``: (instruction, start s, end s, success); the bag lasts
    until the last end + 0.1 s. ``corrupt_image_at``: a base camera image there has too few bytes."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = _store()
    types = ts.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    end = max(e[2] for e in episodes) + 0.1
    messages = []  # (t, topic, msgtype, msg)
    for k in range(int(end * 50) + 1):
        t = k / 50
        positions = [arm_position(j, t) for j in range(6)] + [0.0]
        messages.append((t, "/joint_states", "sensor_msgs/msg/JointState", types["sensor_msgs/msg/JointState"](
            header=_header(ts, T0 + t), name=list(ARM) + [GRIPPER], position=np.array(positions),
            velocity=np.array([], float), effort=np.array([], float))))
    width, height = size
    for k in range(int(end * 25) + 1):
        t = k / 25
        pixels = np.full((height, width, 3), (4 * k) % 256, np.uint8)
        for role, topic in CAMERAS.items():
            if compressed:
                import io

                from PIL import Image

                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="PNG")
                msg = types["sensor_msgs/msg/CompressedImage"](header=_header(ts, T0 + t), format="png",
                                                               data=np.frombuffer(buffer.getvalue(), np.uint8))
                messages.append((t, topic + "/compressed", "sensor_msgs/msg/CompressedImage", msg))
                continue
            data = pixels.reshape(-1)
            if corrupt_image_at is not None and role == "base" and abs(t - corrupt_image_at) < 1e-6:
                data = data[:-7]
            msg = types["sensor_msgs/msg/Image"](header=_header(ts, T0 + t), height=height, width=width,
                                                 encoding="rgb8", is_bigendian=0, step=width * 3, data=data)
            messages.append((t, topic, "sensor_msgs/msg/Image", msg))
    point = types["trajectory_msgs/msg/JointTrajectoryPoint"]
    for k in range(int(end * 10) + 1):
        t = k / 10
        for topic, joints, target in (
            ("/scaled_joint_trajectory_controller/joint_trajectory", list(ARM),
             [arm_position(j, t + 0.2) for j in range(6)]),
            ("/gripper_controller/joint_trajectory", [GRIPPER], [gripper_command(t)]),
        ):
            msg = types["trajectory_msgs/msg/JointTrajectory"](
                header=_header(ts, 0.0), joint_names=joints,
                points=[point(positions=np.array(target), velocities=np.array([], float),
                              accelerations=np.array([], float), effort=np.array([], float),
                              time_from_start=_duration(ts, 0.2))])
            messages.append((t, topic, "trajectory_msgs/msg/JointTrajectory", msg))
    string = types["std_msgs/msg/String"]
    for i, (instruction, start, stop, success) in enumerate(episodes):
        messages.append((start, "/pi0/instruction", "std_msgs/msg/String", string(data=instruction)))
        for t, event in ((start, "start"), (stop, "end")):
            marker = {"event": event, "episode": i, "task": "pick", "seed": 7 + i, "instruction": instruction,
                      "success": success if event == "end" else None}
            messages.append((t, "/pi0/episode", "std_msgs/msg/String", string(data=json.dumps(marker))))
    messages.sort(key=lambda m: m[0])
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        conns = {}
        for t, topic, msgtype, msg in messages:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=ts)
            writer.write(conns[topic], int(round((T0 + t) * 1e9)), ts.serialize_cdr(msg, msgtype))
    return path
