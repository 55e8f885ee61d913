"""`mujoco_sim`: the MuJoCo ALOHA simulator behind the same ROS interfaces as `sim_robot`.

For bimanual_trossen (or a YAML of that class). Topics (relative, names from the embodiment spec):
- subscribes `<controller>/joint_trajectory` for the four joint_trajectory controllers, with the
  same JTC semantics, clamping and velocity caps as sim_robot (`follower.GroupFollower`); the
  followers' positions are the targets of the MJCF's position actuators;
- publishes `joint_states` at the control rate from the physics (gripper as the follower gripper
  angle, see `aloha.yaml`), each camera's sensor_msgs/Image (rgb8) rendered offscreen at
  `camera_rate_hz`, `~/rejected` (as sim_robot), and `~/task` (std_msgs/String, JSON: task,
  seed, episode, time, reward, max_reward, success, prompt, objects, lag_s) at `task_rate_hz`;
- service `~/reset` (std_srvs/Trigger): a new episode with the `seed` parameter (set it first,
  e.g. `ros2 param set /mujoco_sim seed 7`); the response message is the episode's JSON.

The physics follows the node clock in real time: each control tick steps it up to now; if it
falls more than `max_catchup_s` behind (a slow CPU, long renders), the rest is dropped and
counted in `lag_s`.
"""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from ..embodiment import load_embodiment
from ..ros_common import REJECTED_QOS, Param, declare, now_s, run_node, stamp_msg, trajectory_fields
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
)


class MujocoSimNode(Node):
    """The MuJoCo simulator node (see the module docstring). Parameters: `PARAMS`."""

    def __init__(self, node_name: str = "mujoco_sim", **kwargs):
        super().__init__(node_name, **kwargs)
        from std_srvs.srv import Trigger

        from .robot import PhysicsRobot

        p = declare(self, PARAMS)
        for key in ("rate_hz", "camera_rate_hz", "task_rate_hz", "max_catchup_s"):
            if p[key] < 0:
                raise ValueError(f"{key} must be >= 0, got {p[key]}")
        if p["task_rate_hz"] == 0:
            raise ValueError("task_rate_hz must be > 0, got 0")
        self.spec = spec = load_embodiment(p["embodiment"])
        self.robot = PhysicsRobot(spec, p["task"], p["seed"])
        self.scene = self.robot.scene
        self.max_catchup_steps = max(1, int(p["max_catchup_s"] / self.scene.model.opt.timestep))
        self.shadows = bool(p["shadows"])
        self.rejected: list[str] = []
        self.episode = 0
        self.lag_s = 0.0
        self._t0 = now_s(self)
        for c in spec.trajectory_controllers:
            self.create_subscription(JointTrajectory, c.topic, self._on_trajectory_cb(c.name), 10)
        self.joint_pub = self.create_publisher(JointState, spec.joint_state_topic, 10)
        self.rejected_pub = self.create_publisher(String, "~/rejected", REJECTED_QOS)
        self.task_pub = self.create_publisher(String, "~/task", 10)
        self.cameras = []
        for cam in spec.cameras:
            w, h = p["image_width"] or cam.width, p["image_height"] or cam.height
            self.cameras.append((cam, self.create_publisher(Image, cam.topic, 2), w, h))
        # (w, h) → scene.Cameras. A GL context is current in one thread only, and a multi-threaded
        # executor runs callbacks in any thread: all GL work happens in this one worker thread.
        self._renderers = {}
        self._gl_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujoco_gl")
        self._closed = False
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_timer(1.0 / (p["rate_hz"] or spec.control_rate_hz), self._on_control)
        self._camera_timer = None
        if p["camera_rate_hz"] > 0 and self.cameras:
            self._camera_timer = self.create_timer(1.0 / p["camera_rate_hz"], self._on_camera)
        self.create_timer(1.0 / p["task_rate_hz"], self._publish_task)
        self.get_logger().info(f"MuJoCo ALOHA {self.scene.task}, seed {self.scene.seed}: {len(self.cameras)} "
                               f"cameras at {p['camera_rate_hz']:g} Hz")

    # ------------------------------------------------------------------ episode
    def episode_info(self) -> dict:
        scene = self.scene
        return {"task": scene.task, "seed": scene.seed, "episode": self.episode, "time": round(scene.time, 6),
                "reward": scene.reward(), "max_reward": scene.best_reward, "success": scene.success,
                "prompt": scene.task_config["prompt"], "lag_s": round(self.lag_s, 6),
                "objects": [pose.round(6).tolist() for pose in scene.objects]}

    def reset(self, seed: int) -> dict:
        self.robot.reset(seed)
        self.episode += 1
        self.lag_s = 0.0
        self._t0 = now_s(self)
        info = self.episode_info()
        self._publish_task()
        return info

    def _on_reset(self, request, response):
        try:
            info = self.reset(int(self.get_parameter("seed").value))
        except (ValueError, TypeError) as err:
            response.success, response.message = False, f"reset failed: {err}"
            return response
        self.get_logger().info(f"episode {info['episode']}: {info['task']} seed {info['seed']}")
        response.success, response.message = True, json.dumps(info)
        return response

    def _publish_task(self):
        self.task_pub.publish(String(data=json.dumps(self.episode_info())))

    # ------------------------------------------------------------------ callbacks
    def _on_trajectory_cb(self, controller: str):
        def callback(msg: JointTrajectory):
            names, times, positions, stamp = trajectory_fields(msg)
            try:
                self.robot.accept(controller, names, times, positions, stamp, now_s(self))
            except TrajectoryError as err:
                text = f"{controller}: {err}"
                self.rejected.append(text)
                self.get_logger().warning(f"rejected trajectory for {text}")
                self.rejected_pub.publish(String(data=text))
        return callback

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
        msg = JointState()
        msg.header.stamp = stamp_msg(now)
        msg.name = list(self.spec.joint_names)
        msg.position, msg.velocity = self.scene.positions().tolist(), self.scene.velocities().tolist()
        self.joint_pub.publish(msg)

    def render(self, role: str, width: int, height: int):
        """The current (height, width, 3) uint8 image of camera `role`."""
        return self._gl_thread.submit(self._render, role, width, height).result()

    def _render(self, role: str, width: int, height: int):
        from .scene import Cameras

        if (width, height) not in self._renderers:
            self._renderers[(width, height)] = Cameras(self.scene.model, width, height, self.shadows)
        return self._renderers[(width, height)].render(self.scene.data, role)

    def _on_camera(self):
        if self._closed:
            return
        stamp = stamp_msg(now_s(self))
        for cam, pub, w, h in self.cameras:
            try:
                img = self.render(cam.role, w, h)
            except Exception as err:  # no GL (EGL/OSMesa missing, no display): the robot keeps running
                self.get_logger().error(
                    f"camera rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: {err!r}; cameras "
                    "disabled (install Mesa EGL: apt-get install libegl1 libegl-mesa0, or MUJOCO_GL=osmesa "
                    "with libosmesa6)")
                self._camera_timer.cancel()
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
        self._closed = True
        self._gl_thread.submit(self._close_renderers).result()
        self._gl_thread.shutdown()
        return super().destroy_node()


def main(args=None):
    return run_node(MujocoSimNode, "mujoco_sim", args)


if __name__ == "__main__":
    sys.exit(main())
