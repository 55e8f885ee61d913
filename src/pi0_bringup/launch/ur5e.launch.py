"""π0 on a UR5e arm with a parallel gripper.

    ros2 launch pi0_bringup ur5e.launch.py [hardware:=sim|real] [bridge:=true]
        [checkpoint:=DIR] [device:=cuda] [namespace:=NS] [autostart:=false]
        [base_camera:=TOPIC] [left_wrist_camera:=TOPIC] [right_wrist_camera:=TOPIC] [joint_states:=TOPIC]

What starts is pi0_bringup.robots.describe("ur5e");
`pi0 bringup ur5e` runs the same in one process, without launch.
"""
from pi0_bringup.launch_helpers import generate


def generate_launch_description():
    return generate("ur5e")
