"""π0 on a bimanual Trossen robot (ALOHA).

    ros2 launch pi0_bringup bimanual_trossen.launch.py [hardware:=sim|real] [sim:=kinematic|mujoco] [bridge:=true]
        [checkpoint:=DIR] [device:=cuda] [namespace:=NS] [autostart:=false]
        [base_camera:=TOPIC] [left_wrist_camera:=TOPIC] [right_wrist_camera:=TOPIC] [joint_states:=TOPIC]

What starts is pi0_bringup.robots.describe("bimanual_trossen");
`pi0 bringup bimanual_trossen` runs the same in one process, without launch.
"""
from pi0_bringup.launch_helpers import generate


def generate_launch_description():
    return generate("bimanual_trossen")
