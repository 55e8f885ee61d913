"""π0 on a mobile Fibocom robot (two ARX arms on a holonomic base).

    ros2 launch pi0_bringup mobile_fibocom.launch.py [hardware:=sim|real] [bridge:=true]
        [checkpoint:=DIR] [device:=cuda] [namespace:=NS] [autostart:=false]
        [base_camera:=TOPIC] [left_wrist_camera:=TOPIC] [right_wrist_camera:=TOPIC] [joint_states:=TOPIC]

What starts is pi0_bringup.robots.describe("mobile_fibocom");
`pi0 bringup mobile_fibocom` runs the same in one process, without launch.
"""
from pi0_bringup.launch_helpers import generate


def generate_launch_description():
    return generate("mobile_fibocom")
