"""A simulated clock for evaluation slower (or faster) than real time.

`ScaledClock` publishes rosgraph_msgs/Clock on `/clock`: simulated time = `scale` × wall time
elapsed since the start. Nodes started with `use_sim_time: true` (the sim robot, the policy node,
the episode driver) then run their timers, stamps and staleness checks on it, so a model whose
inference is slower than the robot's control rate is evaluated as if the computer were
1/scale times faster. Published from a thread of its own at `rate_hz` wall-clock ticks.
"""
from __future__ import annotations

import threading
import time

from rclpy.node import Node

CLOCK_TOPIC = "/clock"


class ScaledClock(Node):
    def __init__(self, scale: float, rate_hz: float = 200.0, node_name: str = "pi0_eval_clock", **kwargs):
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        super().__init__(node_name, start_parameter_services=False, **kwargs)
        from rosgraph_msgs.msg import Clock

        self.scale, self.period = float(scale), 1.0 / rate_hz
        self._msg_type = Clock
        self._pub = self.create_publisher(Clock, CLOCK_TOPIC, 10)
        self._origin = time.time()  # simulated time starts at the wall time of now
        self._wall0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pi0_eval_clock", daemon=True)
        self._thread.start()

    def sim_time(self) -> float:
        return self._origin + self.scale * (time.monotonic() - self._wall0)

    def _run(self) -> None:
        from builtin_interfaces.msg import Time

        while not self._stop.is_set() and self.context.ok():
            t = self.sim_time()
            sec = int(t)
            try:
                self._pub.publish(self._msg_type(clock=Time(sec=sec, nanosec=int((t - sec) * 1e9))))
            except Exception:  # noqa: BLE001 - the context went down while stopping
                return
            time.sleep(self.period)

    def destroy_node(self):
        self._stop.set()
        self._thread.join(timeout=2.0)
        return super().destroy_node()
