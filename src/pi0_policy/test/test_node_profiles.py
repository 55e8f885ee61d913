"""The policy node applies the checkpoint's convention profile; one that does not fit the
embodiment fails configure with the profiles that do (the node stays up, unconfigured)."""
import pytest
from node_support import RosWorld, make_checkpoint
from pi0_hw_interfaces.embodiment import load_embodiment
from rclpy.parameter import Parameter

from pi0_policy.policy.profiles import record_profile
from pi0_policy.ros.policy_node import PolicyNode


@pytest.fixture(scope="module")
def world():
    w = RosWorld()
    yield w
    w.close()


def configure(world, name, checkpoint):
    overrides = [Parameter("embodiment", value="ur5e"), Parameter("checkpoint", value=str(checkpoint))]
    node = world.add(PolicyNode(name, context=world.context, parameter_overrides=overrides))
    node.trigger_configure()
    return node


def test_profile_mismatch_fails_configure_and_a_fitting_one_is_applied(world, tmp_path):
    checkpoint = make_checkpoint(tmp_path / "ur5e", load_embodiment("ur5e"))
    record_profile(checkpoint, "openpi_droid")
    node = configure(world, "droid_on_ur5e", checkpoint)
    report = node.status_report()
    assert report.lifecycle_state == "unconfigured"
    assert "profile 'openpi_droid' is for ['franka'], not embodiment 'ur5e'" in report.faults[0]
    assert "['openpi_ur5', 'pi0ros', 'pi0ros_absolute_base']" in report.faults[0]

    record_profile(checkpoint, "openpi_ur5")
    node = configure(world, "ur5_on_ur5e", checkpoint)
    assert node.status_report().lifecycle_state == "inactive"
    assert node.adapter.profile.name == "openpi_ur5" and node.policy.profile.image_resize == "antialias"
    assert node.adapter.delta_mask.tolist() == [True] * 6 + [False]
