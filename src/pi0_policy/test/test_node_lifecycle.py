"""Policy node lifecycle over real DDS: transitions through /<node>/change_state and get_state,
configure FAILURE with the reason on a bad checkpoint, parameters schema vs. the YAML file."""
from pathlib import Path

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from node_support import checkpoint, world  # noqa: F401 - module fixtures
from node_support import Recorder, change_state, get_state
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from pi0_msgs.msg import PolicyStatus
from pi0_policy.ros import parameters as schema
from pi0_policy.ros.policy_node import PolicyNode

CONFIG = Path(__file__).parents[1] / "config" / "pi0_policy.yaml"


def make_node(world, name, **params):
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return world.add(PolicyNode(name, context=world.context, parameter_overrides=overrides))


def test_transitions_through_the_lifecycle_services(world, checkpoint):
    node = make_node(world, "lc_policy", embodiment="ur5e", checkpoint=str(checkpoint), num_steps=2)
    client = world.add(__import__("rclpy").create_node("lc_client", context=world.context))
    status = Recorder(client, PolicyStatus, "/lc_policy/status")

    assert get_state(world, client, "lc_policy") == (State.PRIMARY_STATE_UNCONFIGURED, "unconfigured")
    assert change_state(world, client, "lc_policy", Transition.TRANSITION_CONFIGURE)
    assert get_state(world, client, "lc_policy") == (State.PRIMARY_STATE_INACTIVE, "inactive")
    assert node.policy is not None and node.policy.metadata["action_dim"] == 7
    world.spin_until(lambda: status.last is not None and status.last.lifecycle_state == "inactive",
                     what="status 'inactive'")
    assert status.last.embodiment == "ur5e" and status.last.checkpoint == str(checkpoint)
    assert status.last.holding and not status.last.faults

    assert change_state(world, client, "lc_policy", Transition.TRANSITION_ACTIVATE)
    assert get_state(world, client, "lc_policy") == (State.PRIMARY_STATE_ACTIVE, "active")
    world.spin_until(lambda: status.last.lifecycle_state == "active", what="status 'active'")
    assert status.last.lifecycle_state_id == State.PRIMARY_STATE_ACTIVE
    # no inputs yet: the faults say what is missing, and the robot holds
    world.spin_until(lambda: any("no image received" in f for f in status.last.faults), what="input faults")
    assert status.last.holding and status.last.chunks_published == 0

    assert change_state(world, client, "lc_policy", Transition.TRANSITION_DEACTIVATE)
    assert get_state(world, client, "lc_policy")[1] == "inactive"
    assert change_state(world, client, "lc_policy", Transition.TRANSITION_CLEANUP)
    assert get_state(world, client, "lc_policy")[1] == "unconfigured"
    assert node.policy is None  # the model is released
    # and it can be configured again
    assert change_state(world, client, "lc_policy", Transition.TRANSITION_CONFIGURE)
    assert change_state(world, client, "lc_policy", Transition.TRANSITION_INACTIVE_SHUTDOWN)
    assert get_state(world, client, "lc_policy")[1] == "finalized"


@pytest.mark.parametrize("checkpoint_value, reason", [
    ("/nonexistent/ckpt", "nonexistent"),
    ("", "parameter checkpoint is empty"),
])
def test_bad_checkpoint_fails_configure_with_the_reason_in_status(world, checkpoint_value, reason):
    name = f"bad_policy_{len(checkpoint_value)}"
    make_node(world, name, embodiment="ur5e", checkpoint=checkpoint_value)
    client = world.add(__import__("rclpy").create_node(f"{name}_client", context=world.context))
    status = Recorder(client, PolicyStatus, f"/{name}/status")
    diagnostics = Recorder(client, DiagnosticArray, "/diagnostics")
    world.spin_until(lambda: client.count_publishers(f"/{name}/status") > 0, what="status publisher")
    assert not change_state(world, client, name, Transition.TRANSITION_CONFIGURE)
    assert get_state(world, client, name)[1] == "unconfigured"
    world.spin_until(lambda: status.last is not None and status.last.faults, what="status with fault")
    assert status.last.faults[0].startswith("configure failed:")
    assert reason in status.last.faults[0]

    def ours():
        return [s for m in diagnostics.all() for s in m.status if s.name == f"pi0_policy: /{name}"]

    world.spin_until(lambda: any(s.level == DiagnosticStatus.ERROR for s in ours()), what="ERROR diagnostics")
    error = next(s for s in ours() if s.level == DiagnosticStatus.ERROR)
    assert reason in error.message
    assert {kv.key: kv.value for kv in error.values}["lifecycle_state"] == "unconfigured"


def test_unknown_embodiment_and_dim_mismatch_fail_configure(world, checkpoint):
    node = make_node(world, "mismatch_policy", embodiment="mobile_trossen", checkpoint=str(checkpoint))
    node.trigger_configure()
    assert node.status_report().lifecycle_state == "unconfigured"
    assert "needs 14 and 16" in node.status_report().faults[0]
    node = make_node(world, "unknown_policy", embodiment="robot_x", checkpoint=str(checkpoint))
    node.trigger_configure()
    assert "unknown embodiment 'robot_x'" in node.status_report().faults[0]


def test_autostart_configures_and_activates(world, checkpoint):
    node = make_node(world, "auto_policy", embodiment="ur5e", checkpoint=str(checkpoint), autostart=True,
                     num_steps=1)
    world.spin_until(lambda: node.status_report().lifecycle_state == "active", 60.0, "autostart")


def test_parameter_file_matches_the_schema():
    data = yaml.safe_load(CONFIG.read_text())
    params = data["pi0_policy"]["ros__parameters"]

    def flatten(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flatten(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    flat = dict(flatten(params))
    assert set(flat) == {p.name for p in schema.SCHEMA}
    for p in schema.SCHEMA:
        assert type(flat[p.name]) is type(p.default), p.name


def test_parameter_validation_names_the_value():
    values = {p.name: p.default for p in schema.SCHEMA}
    values.update(embodiment="ur5e", checkpoint="/ckpt")
    assert schema.validate(values).replan_interval == 0
    with pytest.raises(ValueError, match="execution_mode='chunky'.*open_loop"):
        schema.validate({**values, "execution_mode": "chunky"})
    with pytest.raises(ValueError, match="max_input_age=-1.0: must be >= "):
        schema.validate({**values, "max_input_age": -1.0})
    with pytest.raises(ValueError, match="parameter embodiment is empty"):
        schema.validate({**values, "embodiment": " "})


def test_executable_autostarts_and_exits_cleanly_on_sigint(world, checkpoint):
    """``pi0_policy_node`` (main()) in its own process: active after autostart, clean SIGINT exit."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "pi0_policy.ros.policy_node", "--ros-args", "-r", "__node:=exe_policy",
         "-p", "embodiment:=ur5e", "-p", f"checkpoint:={checkpoint}", "-p", "autostart:=true",
         "-p", "num_steps:=1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = world.add(__import__("rclpy").create_node("exe_client", context=world.context))
        status = Recorder(client, PolicyStatus, "/exe_policy/status")
        world.spin_until(lambda: status.last is not None and status.last.lifecycle_state == "active", 60.0,
                         "the executable's node to be active")
        assert get_state(world, client, "exe_policy") == (State.PRIMARY_STATE_ACTIVE, "active")
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Traceback" not in output


def test_an_unexpected_configure_exception_is_an_error_that_returns_to_unconfigured(world):
    def broken_factory(params):
        raise TypeError("a bug in the policy backend")

    node = world.add(PolicyNode("err_policy", context=world.context, policy_factory=broken_factory,
                                parameter_overrides=[Parameter("embodiment", value="ur5e"),
                                                     Parameter("checkpoint", value="/ckpt")]))
    assert node.trigger_configure() == TransitionCallbackReturn.ERROR
    report = node.status_report()
    assert report.lifecycle_state == "unconfigured"   # on_error cleaned up
    assert report.faults == ["configure error: TypeError: a bug in the policy backend"]
    assert node.trigger_configure() == TransitionCallbackReturn.ERROR   # and it can be retried


def test_autoconfigure_loads_the_model_and_stays_inactive(world, checkpoint):
    node = make_node(world, "autoconf_policy", embodiment="ur5e", checkpoint=str(checkpoint), autoconfigure=True,
                     num_steps=1)
    world.spin_until(lambda: node.status_report().lifecycle_state == "inactive", 60.0, "autoconfigure")
    world.spin_for(0.5)
    assert node.status_report().lifecycle_state == "inactive"
    assert node.policy is not None, "configured: the model is loaded and ready to activate"
