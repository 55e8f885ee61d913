"""π0 on a Franka FR3/Panda arm with its gripper.

    ros2 launch pi0_bringup franka.launch.py [hardware:=sim|real] [bridge:=true]
        [checkpoint:=DIR] [device:=cuda] [namespace:=NS] [autostart:=false]
        [base_camera:=TOPIC] [left_wrist_camera:=TOPIC] [right_wrist_camera:=TOPIC] [joint_states:=TOPIC]

What starts is pi0_bringup.robots.describe("franka");
`pi0 bringup franka` runs the same in one process, without launch.
"""
from pi0_bringup.launch_helpers import generate


def generate_launch_description():
    return generate("franka")
