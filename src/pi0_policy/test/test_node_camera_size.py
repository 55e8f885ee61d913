"""cameras.<role>.width/height: a node told its cameras' size computes chunks from images of that
size (the model resizes them); a negative size is refused by parameter validation."""
import numpy as np
import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from node_support import Recorder, RobotInputs, RosWorld, change_state, make_checkpoint
from pi0_hw_interfaces.embodiment import load_embodiment
from rclpy.parameter import Parameter

from pi0_msgs.msg import ActionChunk, PolicyStatus
from pi0_policy.ros.conversions import rgb_to_image
from pi0_policy.ros.parameters import SCHEMA, validate
from pi0_policy.ros.policy_node import PolicyNode

SPEC = load_embodiment("ur5e")
WIDTH, HEIGHT = 320, 240


def small_image(msg):
    return rgb_to_image(np.full((HEIGHT, WIDTH, 3), 90, np.uint8), "rgb8", stamp=msg.header.stamp)


def test_configured_camera_size_is_accepted(tmp_path):
    assert (SPEC.cameras[0].width, SPEC.cameras[0].height) != (WIDTH, HEIGHT)
    world = RosWorld()
    try:
        ckpt = make_checkpoint(tmp_path / "ur5e", SPEC)
        params = dict(embodiment="ur5e", checkpoint=str(ckpt), num_steps=2, replan_interval=4)
        for cam in SPEC.cameras:
            params[f"cameras.{cam.role}.width"] = WIDTH
            params[f"cameras.{cam.role}.height"] = HEIGHT
        world.add(PolicyNode(context=world.context,
                             parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
        client = world.add(rclpy.create_node("camera_size_client", context=world.context))
        inputs = RobotInputs(client, SPEC)
        for cam in SPEC.cameras:
            inputs.image_override[cam.role] = small_image
        chunks = Recorder(client, ActionChunk, "/pi0_policy/action_chunk")
        status = Recorder(client, PolicyStatus, "/pi0_policy/status")
        assert change_state(world, client, "pi0_policy", Transition.TRANSITION_CONFIGURE)
        assert change_state(world, client, "pi0_policy", Transition.TRANSITION_ACTIVATE)
        inputs.instruct("wipe the table")
        world.spin_until(lambda: len(chunks) > 1, 30.0, "chunks from 320x240 images")
        assert not any("image is" in f for s in status.all() for f in s.faults)
    finally:
        world.close()


def test_negative_camera_size_is_refused():
    values = {p.name: p.default for p in SCHEMA}
    values.update(embodiment="ur5e", checkpoint="/ckpt")
    values["cameras.base.width"] = -1
    with pytest.raises(ValueError, match=r"cameras.base.width=-1: must be >= 0"):
        validate(values)
    values["cameras.base.width"] = 424
    assert validate(values).camera_sizes["base"] == (424, 0)
