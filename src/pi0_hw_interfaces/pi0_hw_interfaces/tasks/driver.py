"""`EpisodeDriver`: a node that runs task episodes on a simulator over ROS.

One episode (`run_episode`): hold the agent, reset the simulator's task with a seed
(`<sim>/reset_task`), wait for its `<sim>/task` state to confirm, let fresh images
arrive, publish the instruction on `/pi0/instruction` and the `start` event on `/pi0/episode`,
let the agent act until the task reports success or `episode_s` passes, hold, publish `end` with
the result. The simulator and its tasks come from a task catalog (`catalog.py`): the kinematic
`sim_robot` (default) or `mujoco_sim`. Agents:

- `"expert"`: the task's scripted expert (the catalog's), run by this node, reading the
  privileged goal from the task state and publishing JointTrajectory chunks to every controller;
- `"external"`: a policy node elsewhere (its own process) that follows `/pi0/instruction`;
  between episodes the instruction is cleared ("" = hold).

The caller spins the node on an executor in another thread (e.g. `pi0_bringup.runner.Runner`);
`run_episode` blocks and polls. Episode times follow the node's clock, so with `use_sim_time`
(and a slowed /clock) episodes last their simulated time. The task camera's frames can be kept (for GIFs).
"""
from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ..ros_time import sec_to_duration
from .catalog import EpisodeTask, KinematicTasks
from .episode import (EPISODE_QOS, EPISODE_TOPIC, INSTRUCTION_QOS, INSTRUCTION_TOPIC, TASK_QOS,
                      episode_event)

AGENTS = ("expert", "external")
SETTLE_S = 0.4      # after a reset: fresh joint states and images reach every node
HOLD_S = 0.4        # after clearing the instruction: the policy's last chunk is replaced by a hold


class EpisodeError(RuntimeError):
    """An episode could not run (the sim robot did not answer, or reported an error)."""


class EpisodeDriver(Node):
    def __init__(self, embodiment, node_name: str = "pi0_episode_driver", sim_node: str | None = None,
                 frame_every: int = 2, catalog=None, **kwargs):
        """`catalog`: the simulator's tasks (`catalog.task_catalog`; default the kinematic sim
        robot's); `sim_node`: the simulator's node name (default the catalog's)."""
        super().__init__(node_name, start_parameter_services=False, **kwargs)
        self.spec = embodiment
        self.catalog = catalog or KinematicTasks()
        sim_node = sim_node or self.catalog.sim_node
        self.sim_node = sim_node
        self._lock = threading.Lock()
        self._state: dict = {}
        self._positions: dict = {}
        self._frames: list | None = None
        self._frame_count = 0
        self.frame_every = max(1, int(frame_every))
        self._expert = None
        self._goal: dict | None = None
        self._expert_start = 0.0  # the episode's start on this node's clock
        self.episodes_run = 0
        self.reset_pub = self.create_publisher(String, f"{sim_node}/reset_task", 10)
        self.instruction_pub = self.create_publisher(String, INSTRUCTION_TOPIC, INSTRUCTION_QOS)
        self.episode_pub = self.create_publisher(String, EPISODE_TOPIC, EPISODE_QOS)
        self.create_subscription(String, f"{sim_node}/task", self._on_task, TASK_QOS)
        self.create_subscription(JointState, embodiment.joint_state_topic, self._on_joints, qos_profile_sensor_data)
        self.trajectory_pubs = {c.name: self.create_publisher(JointTrajectory, c.topic, 10)
                                for c in embodiment.trajectory_controllers}
        self._commands: int | None = None  # trajectories seen on the controllers during an episode
        for c in embodiment.trajectory_controllers:
            self.create_subscription(JointTrajectory, c.topic, self._on_command, 10)
        self._camera_subs: dict = {}
        # The expert replans every replan_interval control periods (a no-op without an expert).
        self.create_timer(embodiment.replan_interval * embodiment.dt, self._on_expert_tick)

    # ------------------------------------------------------------------ callbacks
    def _on_task(self, msg: String) -> None:
        with self._lock:
            self._state = json.loads(msg.data)

    def _on_joints(self, msg: JointState) -> None:
        with self._lock:
            self._positions = dict(zip(msg.name, msg.position))

    def _on_command(self, msg: JointTrajectory) -> None:
        with self._lock:
            if self._commands is not None:
                self._commands += 1

    def _on_image(self, msg: Image) -> None:
        with self._lock:
            if self._frames is None:
                return
            self._frame_count += 1
            if self._frame_count % self.frame_every == 0:
                self._frames.append(np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3).copy())

    def _on_expert_tick(self) -> None:
        with self._lock:
            expert, goal, positions, start = self._expert, self._goal, dict(self._positions), self._expert_start
        if expert is None or goal is None or not all(n in positions for n in self.spec.joint_names):
            return
        now = self.get_clock().now()
        stamp = now.to_msg()
        for controller, (joints, times, path) in expert.chunks(goal, positions, now.nanoseconds * 1e-9 - start).items():
            msg = JointTrajectory(joint_names=joints)
            msg.header.stamp = stamp
            msg.points = [JointTrajectoryPoint(positions=[float(x) for x in row], time_from_start=sec_to_duration(t))
                          for t, row in zip(times, path)]
            self.trajectory_pubs[controller].publish(msg)

    # ------------------------------------------------------------------ helpers
    def state(self) -> dict:
        with self._lock:
            return dict(self._state)

    def _answer(self, request: str) -> dict | None:
        """The task state that answers reset request `request`: its confirmation, or an error
        (one naming another request in `error_id` is not this one's); None before either."""
        state = self.state()
        if "error" in state:
            return state if state.get("error_id", request) == request else None
        return state if state.get("id") == request else None

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _sleep(self, seconds: float) -> None:
        """Sleep `seconds` of this node's clock (simulated time under use_sim_time)."""
        end = self._now() + seconds
        while self._now() < end and self.context.ok():
            time.sleep(0.01)

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise EpisodeError(f"timed out after {timeout:.0f} s waiting for {what}")

    def wait_for_sim(self, timeout: float = 20.0) -> None:
        """Wait until the simulator listens for resets and for every controller's trajectories
        (each of this node's trajectory publishers matched with a subscriber besides its own: on
        a loaded CPU discovery can take seconds, and an expert's chunks sent before it are lost)
        and publishes joint states."""
        self._wait(lambda: self.reset_pub.get_subscription_count() > 0 and bool(self._positions)
                   and all(pub.get_subscription_count() > 1 for pub in self.trajectory_pubs.values()), timeout,
                   f"the simulator ({self.sim_node}/reset_task and trajectory subscribers, joint_states)")

    def _watch_camera(self, task: EpisodeTask) -> None:
        camera = next(c for c in self.spec.cameras if c.role == task.camera)
        if camera.topic not in self._camera_subs:
            self._camera_subs[camera.topic] = self.create_subscription(
                Image, camera.topic, self._on_image, qos_profile_sensor_data)

    def _set_expert(self, expert, goal: dict | None, start: float = 0.0) -> None:
        with self._lock:
            self._expert, self._goal, self._expert_start = expert, goal, start
        if expert is not None:
            self._on_expert_tick()  # the first chunk at once, then at the replan period

    def publish_instruction(self, text: str) -> None:
        self.instruction_pub.publish(String(data=text))

    # ------------------------------------------------------------------ episodes
    def run_episode(self, task_name: str, seed: int, agent: str = "expert", instruction: str | None = None,
                    episode_s: float | None = None, keep_frames: bool = False, timeout: float = 20.0,
                    after_success_s: float = 0.0, hold_s: float = HOLD_S) -> dict:
        """Run one episode; returns {task, seed, episode, agent, instruction, goal_instruction,
        success, success_time (s after start, or None), reward (final), max_reward (the episode's
        best, where the simulator reports it: mujoco_sim; else None), duration, commands
        (JointTrajectory messages to the controllers during the episode, from any publisher),
        frames (the task camera's images, or None)}.

        `instruction` (a text, or a callable(goal) -> text) replaces the task's (e.g. a wrong
        one, to test that language matters).
        `after_success_s`: keep the agent acting this long after success (demonstrations that
        also show holding at the goal). `hold_s`: with an external agent, the wait between
        clearing the instruction and the reset; longer than the policy's inference, so that no
        chunk planned before the reset arrives after it.
        """
        if agent not in AGENTS:
            raise ValueError(f"agent {agent!r}: choose one of {AGENTS}")
        task = self.catalog.task(task_name, self.spec)  # KeyError / ValueError before anything moves
        task_name = task.name
        if agent == "external":
            self.publish_instruction("")
            self._sleep(hold_s)
        request = uuid.uuid4().hex
        self.reset_pub.publish(String(data=json.dumps({"task": task_name, "seed": int(seed), "id": request})))
        self._wait(lambda: self._answer(request) is not None, timeout,
                   f"{self.sim_node}/task to confirm the reset of {task_name} seed {seed}")
        state = self._answer(request)
        if "error" in state:
            raise EpisodeError(f"{self.sim_node} refused the reset: {state['error']}")
        goal = state["goal"]
        expert = self.catalog.expert(task_name, goal, self.spec) if agent == "expert" else None
        self._sleep(SETTLE_S)
        text = goal["instruction"] if instruction is None else (
            instruction(goal) if callable(instruction) else instruction)
        episode = self.episodes_run
        self.episodes_run += 1
        if keep_frames:
            self._watch_camera(task)
        with self._lock:
            self._frames = [] if keep_frames else None
            self._commands = 0
        self.publish_instruction(text)
        self.episode_pub.publish(String(data=episode_event("start", episode, task_name, seed, text)))
        start = self._now()
        if expert is not None:
            self._set_expert(expert, goal, start)
        limit = task.episode_s if episode_s is None else episode_s
        while self._now() - start < limit and not self.state().get("success") and self.context.ok():
            time.sleep(0.02)
        if self.state().get("success") and after_success_s > 0:
            self._sleep(after_success_s)
        duration = self._now() - start
        if agent == "expert":
            self._set_expert(None, None)
        else:
            self.publish_instruction("")
        final = self.state()
        if final.get("id") != request:
            final = {}
        with self._lock:
            frames, self._frames = self._frames, None
            commands, self._commands = self._commands, None
        success = bool(final.get("success"))
        self.episode_pub.publish(String(data=episode_event("end", episode, task_name, seed, text, success)))
        success_time = None  # seconds from the start event (both clocks are ROS time of one source)
        if success and final.get("success_time") is not None:
            success_time = max(0.0, final["reset_stamp"] + final["success_time"] - start)
            # this node's clock (a subscriber of the simulator's /clock) may trail the simulator's
            # own time by a few ticks when it reads the success: the episode lasted at least this
            duration = max(duration, success_time)
        return {
            "task": task_name, "seed": int(seed), "episode": episode, "agent": agent,
            "instruction": text, "goal_instruction": goal["instruction"], "success": success,
            "success_time": None if success_time is None else round(success_time, 3),
            "reward": final.get("reward"), "max_reward": final.get("max_reward"),
            "duration": round(duration, 3), "commands": commands,
            "frames": frames,
        }
