"""A MuJoCo physics simulator of ALOHA (bimanual_trossen) behind the sim robot's ROS interfaces.

- `scene`: the gym-aloha MJCF scene mapped onto the embodiment spec (joints, grippers, cameras,
  seeded object poses, task reward), no ROS;
- `ik`: damped-least-squares inverse kinematics on MuJoCo's Jacobians, no ROS;
- `expert`: ACT's scripted end-effector waypoints turned into joint trajectories;
- `robot`: the scene driven through the joint_trajectory_controller followers;
- `node`: the `mujoco_sim` ROS node.
"""
import os

# Offscreen rendering backend, read by mujoco when it is first imported (hence here, before any
# submodule imports it): Mesa's EGL renders on the CPU without a display; MUJOCO_GL=osmesa needs
# libosmesa6; glfw needs a display.
os.environ.setdefault("MUJOCO_GL", "egl")
