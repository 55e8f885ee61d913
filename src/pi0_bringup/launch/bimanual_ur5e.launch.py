"""π0 on two UR5e arms.

    ros2 launch pi0_bringup bimanual_ur5e.launch.py [hardware:=sim|real] [bridge:=true]
        [checkpoint:=DIR] [device:=cuda] [namespace:=NS] [autostart:=false]
        [base_camera:=TOPIC] [left_wrist_camera:=TOPIC] [right_wrist_camera:=TOPIC] [joint_states:=TOPIC]

What starts is pi0_bringup.robots.describe("bimanual_ur5e");
`pi0 bringup bimanual_ur5e` runs the same in one process, without launch.
"""
from pi0_bringup.launch_helpers import generate


def generate_launch_description():
    return generate("bimanual_ur5e")
