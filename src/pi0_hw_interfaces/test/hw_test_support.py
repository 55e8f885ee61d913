"""Helpers for the DDS tests of pi0_hw_interfaces (import the `probe` fixture into a test module)."""
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from pi0_hw_interfaces.ros_time import sec_to_duration
from pi0_hw_interfaces.ros_time import time_to_sec as stamp_s  # noqa: F401 - the tests' short name


def trajectory(joints, times, positions, stamp=None) -> JointTrajectory:
    """A JointTrajectory; `stamp` (builtin Time) or zero (start now)."""
    msg = JointTrajectory(joint_names=list(joints))
    if stamp is not None:
        msg.header.stamp = stamp
    msg.points = [JointTrajectoryPoint(positions=[float(v) for v in p], time_from_start=sec_to_duration(t))
                  for t, p in zip(times, positions)]
    return msg


class Probe:
    """A test node that records messages per topic and publishes on demand."""

    def __init__(self, context, executor, name="probe"):
        import rclpy

        self.node = rclpy.create_node(name, context=context)
        executor.add_node(self.node)
        self.received: dict[str, list] = {}
        self.publishers = {}

    def listen(self, msg_type, topic, latched=False):
        self.received[topic] = []
        qos = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL) if latched else 100
        self.node.create_subscription(msg_type, topic, self.received[topic].append, qos)
        return self.received[topic]

    def publisher(self, msg_type, topic):
        if topic not in self.publishers:
            self.publishers[topic] = self.node.create_publisher(msg_type, topic, 10)
        return self.publishers[topic]

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def connected(self, topic) -> bool:
        return self.publishers[topic].get_subscription_count() > 0


def params(**values):
    return [Parameter(k, value=v) for k, v in values.items()]


@pytest.fixture
def probe(ros_context, executor):
    return Probe(ros_context, executor)


def positions_by_name(msg) -> dict:
    return dict(zip(msg.name, msg.position))


def start_node(node_class, context, executor, **values):
    """`node_class` built with parameter overrides `values`, spinning on `executor`."""
    node = node_class(context=context, parameter_overrides=params(**values))
    executor.add_node(node)
    return node


class BackgroundSpin:
    """Nodes spinning on a multi-threaded executor in a thread of its own, for tests whose code
    blocks (e.g. `EpisodeDriver.run_episode`): `add(*nodes)`, `start()`, then `close()` stops the
    thread and destroys the nodes."""

    def __init__(self, context, num_threads: int = 4):
        import threading

        from rclpy.executors import MultiThreadedExecutor

        self.executor = MultiThreadedExecutor(num_threads=num_threads, context=context)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=lambda: [self.executor.spin_once(0.05) for _ in iter(self._stop.is_set, True)], daemon=True)

    def add(self, *nodes) -> None:
        for node in nodes:
            self.executor.add_node(node)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        from pi0_hw_interfaces.ros_common import drain_executor

        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        drain_executor(self.executor)  # callbacks still queued: run them before anything is destroyed
        for node in list(self.executor.get_nodes()):
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()


def wait(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (another thread spins) until it holds; fail the test after `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")
