"""Shared pieces of the policy-node DDS tests: a module-scoped rclpy context and executor, a tiny
random π0 checkpoint with an embodiment's dims, a robot-input publisher and topic recorders.

Everything is real: Fast DDS between nodes in one process, the π0 network running real forward
passes (preset pi0_tiny). Test modules import what they need from here.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

# Inference is off the executor thread; torch gets one thread so the DDS side keeps a core.
INFER_THREADS = 1


class RosWorld:
    """A context of its own with a SingleThreadedExecutor; ``spin_until`` like the root fixture."""

    def __init__(self):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)

    def add(self, node):
        self.executor.add_node(node)
        return node

    def spin_until(self, predicate, timeout=20.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            self.executor.spin_once(timeout_sec=0.02)
        if not predicate():
            pytest.fail(f"timed out after {timeout:.1f} s waiting for {what}")

    def spin_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self):
        import rclpy

        for node in list(self.executor.get_nodes()):
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        if self.context.ok():
            rclpy.shutdown(context=self.context)


@pytest.fixture(scope="module")
def world():
    """A RosWorld for the test module (import this fixture into the module)."""
    w = RosWorld()
    yield w
    w.close()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random checkpoint with ur5e's dims, for the test module."""
    from pi0_hw_interfaces.embodiment import load_embodiment

    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "ur5e", load_embodiment("ur5e"))


def make_checkpoint(path, spec, **overrides):
    """A seeded random pi0_tiny checkpoint with ``spec``'s state and action dims."""
    import torch

    from pi0_policy.policy.demo_checkpoint import make_random_checkpoint

    torch.set_num_threads(INFER_THREADS)
    return make_random_checkpoint(path, preset="pi0_tiny", state_dim=spec.state_dim,
                                  action_dim=spec.action_dim, seed=0, **overrides)


def mid_positions(spec):
    """Joint positions a third of the way into each joint's range (inside every limit)."""
    return {j.name: j.lower + (j.upper - j.lower) / 3 for j in spec.joints}


class Recorder:
    """Subscribes to ``topic`` and keeps every message (thread-safe list)."""

    def __init__(self, node, msg_type, topic, qos=10):
        self.messages = []
        self._lock = threading.Lock()
        self.sub = node.create_subscription(msg_type, topic, self._cb, qos)

    def _cb(self, msg):
        with self._lock:
            self.messages.append(msg)

    def clear(self):
        with self._lock:
            self.messages.clear()

    def __len__(self):
        with self._lock:
            return len(self.messages)

    @property
    def last(self):
        with self._lock:
            return self.messages[-1] if self.messages else None

    def all(self):
        with self._lock:
            return list(self.messages)


class RobotInputs:
    """Publishes the spec's cameras (rgb8 at the spec's size, or a chosen bad variant) and joint
    states, each stamped with the node clock, from timers on the test executor."""

    def __init__(self, node, spec, positions=None, camera_rate=15.0, joint_rate=50.0, namespace="",
                 compressed=()):
        from sensor_msgs.msg import CompressedImage, Image, JointState
        from std_msgs.msg import String

        from pi0_policy.ros import qos

        self.node, self.spec = node, spec
        self.positions = dict(positions or mid_positions(spec))
        self.cameras_on = True
        self.joints_on = True
        self.image_override = {}   # role -> function(msg) -> msg or None (to corrupt or stop images)
        self.joint_override = None  # function(msg) -> msg or None
        prefix = f"{namespace}/" if namespace else ""
        # roles in `compressed` publish jpeg CompressedImage on "<topic>/compressed" (image_transport's name)
        self.compressed = set(compressed)
        self.image_pubs = {
            c.role: node.create_publisher(CompressedImage, f"{prefix}{c.topic}/compressed", qos.SENSOR)
            if c.role in self.compressed else node.create_publisher(Image, prefix + c.topic, qos.SENSOR)
            for c in spec.cameras}
        self.joint_pub = node.create_publisher(JointState, prefix + spec.joint_state_topic, qos.SENSOR)
        self.instruction_pub = node.create_publisher(String, "/pi0/instruction", qos.INSTRUCTION)
        rng = np.random.default_rng(0)
        self.frames = {c.role: rng.integers(0, 255, (c.height, c.width, 3), dtype=np.uint8)
                       for c in spec.cameras}
        node.create_timer(1.0 / camera_rate, self._publish_images)
        node.create_timer(1.0 / joint_rate, self._publish_joints)

    def instruct(self, text):
        from std_msgs.msg import String

        self.instruction_pub.publish(String(data=text))

    def _publish_images(self):
        from pi0_policy.ros.conversions import rgb_to_compressed, rgb_to_image

        if not self.cameras_on:
            return
        stamp = self.node.get_clock().now().to_msg()
        for role, pub in self.image_pubs.items():
            if role in self.compressed:
                msg = rgb_to_compressed(self.frames[role], "jpeg", stamp=stamp)
            else:
                msg = rgb_to_image(self.frames[role], "rgb8", stamp=stamp)
            if role in self.image_override:
                msg = self.image_override[role](msg)
            if msg is not None:  # an override returning None stops that camera
                pub.publish(msg)

    def _publish_joints(self):
        from sensor_msgs.msg import JointState

        if not self.joints_on:
            return
        msg = JointState()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.name = list(self.positions)
        msg.position = [float(v) for v in self.positions.values()]
        if self.joint_override is not None:
            msg = self.joint_override(msg)
        if msg is not None:  # an override returning None stops the joint states
            self.joint_pub.publish(msg)


def change_state(world, client_node, node_name, transition_id, timeout=60.0):
    """Call ``/<node>/change_state`` from ``client_node``; returns the response's success."""
    from lifecycle_msgs.srv import ChangeState

    client = getattr(client_node, "_change_clients", {}).get(node_name)
    if client is None:
        client = client_node.create_client(ChangeState, f"/{node_name}/change_state")
        client_node._change_clients = {**getattr(client_node, "_change_clients", {}), node_name: client}
    world.spin_until(client.service_is_ready, 30.0, f"/{node_name}/change_state")
    request = ChangeState.Request()
    request.transition.id = transition_id
    future = client.call_async(request)
    world.spin_until(future.done, timeout, f"change_state {transition_id}")
    return future.result().success


def get_state(world, client_node, node_name):
    """``(id, label)`` from ``/<node>/get_state``."""
    from lifecycle_msgs.srv import GetState

    client = client_node.create_client(GetState, f"/{node_name}/get_state")
    world.spin_until(client.service_is_ready, 10.0, f"/{node_name}/get_state")
    future = client.call_async(GetState.Request())
    world.spin_until(future.done, 10.0, "get_state")
    client_node.destroy_client(client)
    state = future.result().current_state
    return state.id, state.label
