"""A MuJoCo physics simulator of ALOHA (bimanual_trossen) behind the sim robot's ROS interfaces.

- `scene`: the gym-aloha MJCF scene mapped onto the embodiment spec (joints, grippers, cameras,
  seeded object poses, task reward), no ROS;
- `ik`: damped-least-squares inverse kinematics on MuJoCo's Jacobians, no ROS;
- `expert`: ACT's scripted end-effector waypoints turned into joint trajectories;
- `robot`: the scene driven through the joint_trajectory_controller followers;
- `node`: the `mujoco_sim` ROS node.
"""
