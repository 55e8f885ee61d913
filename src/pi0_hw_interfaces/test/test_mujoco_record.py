"""`pi0 record --embodiment bimanual_trossen` records the MuJoCo simulator's topics over real DDS
(the same topics as the kinematic sim robot), and `pi0 dataset convert` reads the bag back:
frames at 50 Hz with the three rendered cameras, the physics' joint states and the commands.

(pi0_bringup's recorder and pi0_policy's converter are imported inside the test: this is an
end-to-end check of the simulator with the data tools, not a dependency of pi0_hw_interfaces.)
"""
import json
import threading

import numpy as np
from hw_test_support import params, probe, start_node, trajectory  # noqa: F401
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from pi0_hw_interfaces.mujoco_sim.node import MujocoSimNode

LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
EPISODE_S = 2.0


def test_record_and_convert_the_mujoco_simulator(ros_context, executor, probe, spin_until, tmp_path):
    from pi0_bringup.commands.record import record
    from pi0_policy.data.convert import convert_bags
    from pi0_policy.data.lerobot import read_dataset
    from pi0_policy.policy.adapters import EmbodimentAdapter

    sim = start_node(MujocoSimNode, ros_context, executor, camera_rate_hz=10.0, image_width=64, image_height=48)
    episode = probe.node.create_publisher(String, "/pi0/episode", LATCHED)
    instruction = probe.node.create_publisher(String, "/pi0/instruction", LATCHED)
    commands = {c.name: probe.publisher(JointTrajectory, c.topic) for c in sim.spec.trajectory_controllers}
    arm = commands["follower_left_arm_controller"]
    states = probe.listen(JointState, "joint_states")
    bag, result = tmp_path / "bag", {}
    thread = threading.Thread(target=lambda: result.update(
        record(bag, "bimanual_trossen", duration=60.0, episodes=1, context=ros_context, log=lambda *_: None)))
    thread.start()
    try:
        spin_until(executor, lambda: episode.get_subscription_count() > 0
                   and all(pub.get_subscription_count() > 1 for pub in commands.values())
                   and sim.count_subscribers(sim.spec.cameras[0].topic) > 0 and states, 30.0,
                   "the recorder's subscriptions")
        instruction.publish(String(data="Transfer cube"))
        marker = {"event": "start", "episode": 0, "task": "transfer_cube", "seed": 0, "instruction": "Transfer cube",
                  "success": None}
        episode.publish(String(data=json.dumps(marker)))
        t0 = probe.now()
        start = dict(zip(sim.spec.joint_names, sim.scene.start_positions().tolist()))
        for c in sim.spec.trajectory_controllers:  # every controller commanded (convert reads them all)
            goal = [0.4, -0.6, 0.8, 0.3, -0.1, 0.5] if c.name == "follower_left_arm_controller" \
                else [start[j] for j in c.joints]
            commands[c.name].publish(trajectory(c.joints, [1.0], [goal]))
        spin_until(executor, lambda: probe.now() > t0 + EPISODE_S, 30.0, "the episode")
        episode.publish(String(data=json.dumps({**marker, "event": "end", "success": False})))
        spin_until(executor, lambda: not thread.is_alive(), 30.0, "the recorder to stop")
    finally:
        thread.join(timeout=30)
    assert result["episodes"][0]["success"] is False

    summary = convert_bags([bag], tmp_path / "ds", "bimanual_trossen", progress=False)
    data = read_dataset(tmp_path / "ds")
    assert summary["episodes"] == 1 and summary["tasks"] == ["Transfer cube"]
    assert sorted(data.video_keys) == [f"observation.images.{c.role}" for c in sorted(sim.spec.cameras,
                                                                                          key=lambda c: c.role)]
    # frames at 50 Hz from the first moment every camera (10 Hz) has an image to the end marker
    assert 0.5 * EPISODE_S * 50 <= len(data) <= EPISODE_S * 50 + 5 and data.state.shape[1] == 14
    adapter = EmbodimentAdapter(sim.spec)
    waist = adapter.state_names.index("follower_left_waist")
    # the physics moved the left waist towards the commanded 0.4 rad; the recorded commands say 0.4 at the end
    assert data.state[0, waist] < 0.2 and data.state[-1, waist] > 0.3
    assert abs(data.action[-1, waist] - 0.4) < 1e-3
    right_waist = adapter.state_names.index("follower_right_waist")
    assert np.abs(data.state[:, right_waist]).max() < 0.05  # the other arm held still
    assert sim.rejected == []
