"""`mujoco_sim`: the MuJoCo ALOHA simulator behind the same ROS interfaces as `sim_robot`.

For bimanual_trossen (or a YAML of that class). Topics (relative, names from the embodiment spec):
- subscribes `<controller>/joint_trajectory` for the four joint_trajectory controllers, with the
  same JTC semantics, clamping and velocity caps as sim_robot (`follower.GroupFollower`); the
  followers' positions are the targets of the MJCF's position actuators. One addition: a
  trajectory stamped before the last reset (planned in the previous episode, delivered after
  the reset) is rejected, so it cannot move the arms of the new episode;
- publishes `joint_states` at the control rate from the physics (gripper as the follower gripper
  angle, see `aloha.yaml`), each camera's sensor_msgs/Image (rgb8) rendered offscreen at
  `camera_rate_hz`, `~/rejected` (as sim_robot), and `~/task` (std_msgs/String, JSON, reliable,
  transient local: task, seed, episode, time, reward, max_reward, success, prompt, objects,
  lag_s, and sim_robot's episode contract (`tasks/host.py`): id, instruction, goal (privileged:
  instruction and object poses), reset_stamp (s, this node's time), success_time (s after the
  reset); "error" and "error_id" after a bad reset request) at `task_rate_hz`, on reset and on
  success;
- subscribes `~/reset_task` (std_msgs/String JSON `{"task": NAME, "seed": INT, "id": STR}`, as
  sim_robot; "task" left out = the current one): a new seeded episode of that task (the scene is
  reloaded when the task changes), confirmed on `~/task` with the id. A bad request (unknown
  task, a seed that is not an integer >= 0, not JSON) is reported on `~/task` and the current
  episode goes on. This is what `pi0 eval --sim mujoco` (`tasks/driver.py`) drives;
- service `~/reset` (std_srvs/Trigger): a new episode with the `seed` parameter (set it first,
  e.g. `ros2 param set /mujoco_sim seed 7`); the response message is the episode's JSON.

Time, two modes:
- default (`publish_clock` false, `time_scale` 1): the physics follows the node clock in real
  time: each control tick steps it up to now; if it falls more than `max_catchup_s` behind (a
  slow CPU, long renders), the rest is dropped and counted in `lag_s`.
- simulated time (`publish_clock` true, implied by any `time_scale` other than 1): the node owns
  the time. It steps the physics control tick by control tick as fast as `time_scale` simulated
  seconds per wall second asks (and the CPU allows) and publishes rosgraph_msgs/Clock on `/clock`
  from its physics time, so nodes started with `use_sim_time` (the policy node, an evaluation
  driver) follow it. Stamps (joint_states, images, trajectory acceptance) are that simulated
  time; cameras are rendered every 1/`camera_rate_hz` simulated seconds, the physics waiting for
  the render. When the CPU cannot keep up, simulated time runs slower than asked (nothing is
  dropped); the shortfall beyond `max_catchup_s` is counted in `lag_s`. `/clock` never goes
  back: a reset starts a new episode at the current simulated time.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from builtin_interfaces.msg import Time
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from ..embodiment import load_embodiment
from ..ros_common import REJECTED_QOS, Param, declare, now_s, run_node, stamp_msg, trajectory_fields
from ..sim_threads import FairLock, own_groups
from ..tasks.episode import TASK_QOS
from ..tasks.host import parse_reset_request
from ..trajectory import TrajectoryError

PARAMS = (
    Param("embodiment", "bimanual_trossen", "Embodiment class (bimanual_trossen) or a YAML file of it."),
    Param("task", "transfer_cube", "ALOHA sim task: transfer_cube or insertion."),
    Param("seed", 0, "Seed of the episode started at launch and by ~/reset (object poses as gym-aloha)."),
    Param("rate_hz", 0.0, "Control and joint_states rate, Hz; 0 = the spec's control rate."),
    Param("camera_rate_hz", 10.0, "Camera image rate, Hz; 0 = no images."),
    Param("image_width", 0, "Image width, px; 0 = the spec camera's width."),
    Param("image_height", 0, "Image height, px; 0 = the spec camera's height."),
    Param("shadows", False, "Render shadows (as gym-aloha does; 4-7x the render time on a CPU)."),
    Param("task_rate_hz", 10.0, "~/task rate, Hz."),
    Param("max_catchup_s", 0.1, "Most simulated time stepped in one control tick; beyond it time is dropped."),
    Param("publish_clock", False, "Own the time: step the physics at time_scale and publish /clock from it."),
    Param("time_scale", 1.0, "Simulated seconds per wall second (publish_clock mode; != 1 turns it on)."),
)
CLOCK_TOPIC = "/clock"


def _locked(method):
    """Run `method` holding the node's lock on the physics (see `MujocoSimNode`); once the node
    is being destroyed, do nothing (return None): its publishers are gone."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            if self._closed:
                return None
            return method(self, *args, **kwargs)
    return wrapper


class MujocoSimNode(Node):
    """The MuJoCo simulator node (see the module docstring). Parameters: `PARAMS`.

    Threads: each timer (stepping, cameras, ~/task) has a callback group of its own, and the
    trajectory and reset subscriptions and the ~/reset service share one ("commands", in arrival
    order, no timer among them): on a multi-threaded executor a timer that is always due (a
    loaded CPU, renders in the physics tick) cannot starve them (`sim_threads.own_groups`). One
    fair re-entrant lock (`sim_threads.FairLock`) serialises every callback's use of the physics;
    the stepping loop takes it per control tick, so a waiting callback gets in at the next tick."""

    def __init__(self, node_name: str = "mujoco_sim", **kwargs):
        super().__init__(node_name, **kwargs)
        from std_srvs.srv import Trigger

        self._lock = FairLock()
        groups = own_groups("physics", "cameras", "task", "commands")

        from .robot import PhysicsRobot

        p = declare(self, PARAMS)
        for key in ("rate_hz", "camera_rate_hz", "task_rate_hz", "max_catchup_s"):
            if p[key] < 0:
                raise ValueError(f"{key} must be >= 0, got {p[key]}")
        if p["task_rate_hz"] == 0:
            raise ValueError("task_rate_hz must be > 0, got 0")
        if not p["time_scale"] > 0:
            raise ValueError(f"time_scale must be > 0 (simulated seconds per wall second), got {p['time_scale']}")
        self.time_scale = float(p["time_scale"])
        self.publish_clock = bool(p["publish_clock"]) or self.time_scale != 1.0
        self.spec = spec = load_embodiment(p["embodiment"])
        self.robot = PhysicsRobot(spec, p["task"], p["seed"])
        self.scene = self.robot.scene
        self.max_catchup_steps = max(1, int(p["max_catchup_s"] / self.scene.model.opt.timestep))
        self.shadows = bool(p["shadows"])
        self.rejected: list[str] = []
        self.episode = 0
        self.lag_s = 0.0
        self._t0 = now_s(self)
        self.request_id = self.error = self.error_id = ""
        self.success_time: float | None = None
        # publish_clock mode: the simulated clock (s, never reset; starts at the wall time of now) and
        # its anchor to the wall clock: simulated target = sim_anchor + time_scale * (wall - wall_anchor).
        self.sim_now = self._sim_anchor = time.time()
        self._wall_anchor: float | None = None  # set by the first wall tick (construction is not lag)
        self._ticks = 0
        for c in spec.trajectory_controllers:
            self.create_subscription(JointTrajectory, c.topic, self._on_trajectory_cb(c.name), 10,
                                     callback_group=groups["commands"])
        self.joint_pub = self.create_publisher(JointState, spec.joint_state_topic, 10)
        self.rejected_pub = self.create_publisher(String, "~/rejected", REJECTED_QOS)
        self.task_pub = self.create_publisher(String, "~/task", TASK_QOS)
        self.create_subscription(String, "~/reset_task", self._on_reset_task, 10, callback_group=groups["commands"])
        self.cameras = []
        for cam in spec.cameras:
            w, h = p["image_width"] or cam.width, p["image_height"] or cam.height
            self.cameras.append((cam, self.create_publisher(Image, cam.topic, 2), w, h))
        # (w, h) → scene.Cameras. A GL context is current in one thread only, and a multi-threaded
        # executor runs callbacks in any thread: all GL work happens in this one worker thread.
        self._renderers = {}
        self._gl_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujoco_gl")
        self._closed = False
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=groups["commands"])
        period = 1.0 / (p["rate_hz"] or spec.control_rate_hz)
        self._camera_timer = None
        self._cameras_on = p["camera_rate_hz"] > 0 and bool(self.cameras)
        if self.publish_clock:
            from rclpy.clock import Clock, ClockType
            from rosgraph_msgs.msg import Clock as ClockMsg

            self._clock_msg = ClockMsg
            self.clock_pub = self.create_publisher(ClockMsg, CLOCK_TOPIC, 10)
            self.period = period
            self.camera_every = max(1, round(1.0 / (p["camera_rate_hz"] * period))) if self._cameras_on else 0
            self.max_catchup_ticks = max(1, int(p["max_catchup_s"] / period))
            # stepped on the wall clock (steady), whatever the node's own clock (it may use /clock itself)
            self.create_timer(max(1e-3, period / max(1.0, self.time_scale)), self._on_wall_tick,
                              clock=Clock(clock_type=ClockType.STEADY_TIME), callback_group=groups["physics"])
        else:
            self.create_timer(period, self._on_control, callback_group=groups["physics"])
            if self._cameras_on:
                self._camera_timer = self.create_timer(1.0 / p["camera_rate_hz"], self._on_camera,
                                                       callback_group=groups["cameras"])
        self.reset_stamp = self.now()
        self.create_timer(1.0 / p["task_rate_hz"], self._publish_task, callback_group=groups["task"])
        clock = f"; /clock at {self.time_scale:g}x wall time" if self.publish_clock else ""
        self.get_logger().info(f"MuJoCo ALOHA {self.scene.task}, seed {self.scene.seed}: {len(self.cameras)} "
                               f"cameras at {p['camera_rate_hz']:g} Hz{clock}")

    def now(self) -> float:
        """The simulator's time now, s: simulated (publish_clock) or the node clock's."""
        return self.sim_now if self.publish_clock else now_s(self)

    # ------------------------------------------------------------------ episode
    def episode_info(self) -> dict:
        scene = self.scene
        prompt = scene.task_config["prompt"]
        objects = [pose.round(6).tolist() for pose in scene.objects]
        info = {"task": scene.task, "seed": scene.seed, "episode": self.episode, "id": self.request_id,
                "time": round(scene.time, 6), "reward": scene.reward(), "max_reward": scene.best_reward,
                "success": scene.success, "prompt": prompt, "instruction": prompt, "lag_s": round(self.lag_s, 6),
                "objects": objects, "goal": {"instruction": prompt, "objects": objects},
                "reset_stamp": self.reset_stamp,
                "success_time": None if self.success_time is None else round(self.success_time, 4)}
        if self.error:
            info.update(error=self.error, error_id=self.error_id)
        return info

    @_locked
    def reset(self, seed: int, task: str | None = None, request_id: str = "") -> dict:
        """A new episode of `task` (default: the current one) from `seed`; its `~/task` JSON."""
        if task is not None and task != self.scene.task:
            self._load_task(task, seed)
        self.robot.reset(seed)
        self.episode += 1
        self.lag_s = 0.0
        self._t0 = now_s(self)
        self.reset_stamp = self.now()
        self.success_time = None
        self.request_id, self.error, self.error_id = str(request_id), "", ""
        if self.publish_clock:
            self._wall_anchor = None  # re-anchored at the next tick: the reset's time is not lag
        info = self.episode_info()
        self._publish_task()
        return info

    def _load_task(self, task: str, seed: int) -> None:
        """Another task's scene (its own MJCF): new physics; the renderers of the old model closed."""
        from .robot import PhysicsRobot

        self._gl_thread.submit(self._close_renderers).result()
        self.robot = PhysicsRobot(self.spec, task, seed)
        self.scene = self.robot.scene

    @_locked
    def _on_reset_task(self, msg: String):
        from .scene import resolve_task

        try:
            name, seed, request_id = parse_reset_request(msg.data, self.scene.task, example="transfer_cube")
            task = resolve_task(name)  # ValueError naming the choices
        except ValueError as err:
            self.error = err.args[0] if err.args else str(err)
            try:
                self.error_id = str(json.loads(msg.data).get("id", ""))
            except (ValueError, AttributeError):
                self.error_id = ""
            self.get_logger().warning(f"{self.error}; episode {self.episode} goes on")
            self._publish_task()
            return
        info = self.reset(seed, task, request_id)
        self.get_logger().info(f"episode {info['episode']}: {info['task']} seed {info['seed']}")

    def _check_success(self, now: float) -> None:
        """Latch the time of the episode's first maximal reward and report it at once."""
        if self.success_time is None and self.scene.success:
            self.success_time = now - self.reset_stamp
            self._publish_task()

    def _on_reset(self, request, response):
        try:
            info = self.reset(int(self.get_parameter("seed").value))
        except (ValueError, TypeError) as err:
            response.success, response.message = False, f"reset failed: {err}"
            return response
        self.get_logger().info(f"episode {info['episode']}: {info['task']} seed {info['seed']}")
        response.success, response.message = True, json.dumps(info)
        return response

    @_locked
    def _publish_task(self):
        self.task_pub.publish(String(data=json.dumps(self.episode_info())))

    # ------------------------------------------------------------------ callbacks
    def _on_trajectory_cb(self, controller: str):
        def callback(msg: JointTrajectory):
            names, times, positions, stamp = trajectory_fields(msg)
            try:
                with self._lock:
                    if self._closed:
                        return
                    if 0 < stamp < self.reset_stamp:
                        raise TrajectoryError(f"stamped {self.reset_stamp - stamp:.3f} s before the last reset: "
                                              "planned for the previous episode")
                    self.robot.accept(controller, names, times, positions, stamp, self.now())
            except TrajectoryError as err:
                text = f"{controller}: {err}"
                self.rejected.append(text)
                self.get_logger().warning(f"rejected trajectory for {text}")
                self.rejected_pub.publish(String(data=text))
        return callback

    @_locked
    def _on_control(self):
        now = now_s(self)
        self.robot.control(now)
        steps = int((now - self._t0 - self.scene.time) / self.scene.model.opt.timestep + 1e-9)
        if steps > self.max_catchup_steps:  # behind real time: drop the excess
            dropped = (steps - self.max_catchup_steps) * self.scene.model.opt.timestep
            self._t0 += dropped
            self.lag_s += dropped
            steps = self.max_catchup_steps
        if steps > 0:
            self.robot.advance(steps)
        self._check_success(now)
        self._publish_joint_states(now)

    def _on_wall_tick(self):
        """publish_clock mode: control ticks up to time_scale x the wall time elapsed (see the module doc)."""
        if self._closed:
            return
        with self._lock:
            if self._wall_anchor is None:
                self._sim_anchor, self._wall_anchor = self.sim_now, time.monotonic()
            target = self._sim_anchor + self.time_scale * (time.monotonic() - self._wall_anchor)
            ticks = int((target - self.sim_now) / self.period + 1e-9)
            if ticks > self.max_catchup_ticks:  # the CPU is behind: simulated time runs slower than asked
                behind = (ticks - self.max_catchup_ticks) * self.period
                self._sim_anchor -= behind
                self.lag_s += behind
                ticks = self.max_catchup_ticks
        for _ in range(ticks):
            with self._lock:  # per tick: resets and trajectories get in between
                if self._closed:  # destroy_node ran while this callback was still stepping
                    return
                self._tick()

    def _tick(self):
        """One control tick of simulated time (publish_clock mode; the lock is held)."""
        self.sim_now += self.period
        self.robot.control(self.sim_now)
        self.robot.advance(max(1, round(self.period / self.scene.model.opt.timestep)))
        self._check_success(self.sim_now)
        sec = int(self.sim_now)
        self.clock_pub.publish(self._clock_msg(clock=Time(sec=sec, nanosec=int((self.sim_now - sec) * 1e9))))
        self._publish_joint_states(self.sim_now)
        self._ticks += 1
        if self.camera_every and self._ticks % self.camera_every == 0:
            self._on_camera()

    def _publish_joint_states(self, now: float):
        msg = JointState()
        msg.header.stamp = stamp_msg(now)
        msg.name = list(self.spec.joint_names)
        msg.position, msg.velocity = self.scene.positions().tolist(), self.scene.velocities().tolist()
        self.joint_pub.publish(msg)

    def render(self, role: str, width: int, height: int):
        """The current (height, width, 3) uint8 image of camera `role` (None once the node is destroyed)."""
        return self._gl_thread.submit(self._render, role, width, height).result()

    def _render(self, role: str, width: int, height: int):
        from .scene import Cameras

        if self._closed:  # no new GL context after destroy_node closed them all
            return None
        if (width, height) not in self._renderers:
            self._renderers[(width, height)] = Cameras(self.scene.model, width, height, self.shadows)
        return self._renderers[(width, height)].render(self.scene.data, role)

    @_locked
    def _on_camera(self):
        if self._closed:
            return
        stamp = stamp_msg(self.now())
        for cam, pub, w, h in self.cameras:
            try:
                img = self.render(cam.role, w, h)
            except Exception as err:  # no GL (EGL/OSMesa missing, no display): the robot keeps running
                if self._closed:  # the GL thread was shut down under this callback: not a GL failure
                    return
                self.get_logger().error(
                    f"camera rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: {err!r}; cameras "
                    "disabled (install Mesa EGL: apt-get install libegl1 libegl-mesa0, or MUJOCO_GL=osmesa "
                    "with libosmesa6)")
                if self._camera_timer is not None:
                    self._camera_timer.cancel()
                self.camera_every = 0
                return
            if img is None:
                return
            msg = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3)
            msg.header.stamp = stamp
            msg.header.frame_id = f"{cam.role}_camera"
            msg.data = img.tobytes()
            pub.publish(msg)

    def _close_renderers(self):
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def destroy_node(self):
        with self._lock:  # after a running tick, before the next
            self._closed = True
        self._gl_thread.submit(self._close_renderers).result()
        self._gl_thread.shutdown()
        return super().destroy_node()


def main(args=None):
    return run_node(MujocoSimNode, "mujoco_sim", args)


if __name__ == "__main__":
    sys.exit(main())
