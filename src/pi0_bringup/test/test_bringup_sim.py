"""Every robot runs in process over DDS, in simulation, with a real (random, tiny) π0:
the policy node autostarts to active, and after an instruction chunks flow and the simulated
robot moves. Also `pi0 bringup` and `pi0 demo` end to end."""
import time
import uuid
from importlib import resources

import numpy as np
import pytest
import yaml

from pi0_bringup import cli, robots
from pi0_bringup.checkpoints import random_checkpoint
from pi0_bringup.commands.bringup import publish_instruction
from pi0_bringup.monitor import Monitor
from pi0_bringup.runner import Runner

# Keep each robot to a few seconds on 2 cores shared with other test runs: 2 denoising steps,
# and cameras of 64 x 48 pixels (an embodiment file of the robot's class with smaller cameras,
# given with `embodiment=`): full-size images through DDS in one Python process starve it.
# Warm-up stays on: a cold first inference can outlast a chunk.
FAST_POLICY = {"num_steps": 2}
SMALL_CAMERAS = (64, 48)


def wait_for(predicate, timeout, what, monitor=None):
    """Poll `predicate` (the runner spins in its own thread) until true; fail naming `what` and,
    with a `monitor`, the policy's latest status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    if not predicate():
        status = monitor.snapshot()["status"] if monitor is not None else None
        faults = list(status.faults) if status is not None else "no status"
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; policy faults: {faults}")


@pytest.fixture(scope="session")
def checkpoint_for(tmp_path_factory):
    """spec → a random pi0_tiny checkpoint of its dimensions (one per dimension pair per session)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    made = {}

    def get(spec):
        key = (spec.state_dim, spec.action_dim)
        if key not in made:
            made[key] = random_checkpoint(spec, folder / f"{key[0]}x{key[1]}")
        return str(made[key])

    return get


@pytest.fixture(scope="session")
def small_cameras(tmp_path_factory):
    """robot → an embodiment YAML of its class whose cameras are SMALL_CAMERAS (written once)."""
    folder = tmp_path_factory.mktemp("embodiments")

    def get(robot):
        name = robots.embodiment_spec(robot).name
        path = folder / f"{name}.yaml"
        if not path.exists():
            source = resources.files("pi0_hw_interfaces").joinpath("embodiments", f"{name}.yaml")
            data = yaml.safe_load(source.read_text())
            for camera in data["cameras"]:
                camera["width"], camera["height"] = SMALL_CAMERAS
            path.write_text(yaml.safe_dump(data))
        return str(path)

    return get


def unique_namespace():
    """A namespace of its own per test: parallel test runs that share a ROS domain do not mix."""
    return f"t{uuid.uuid4().hex[:10]}"


def start(robot, context, checkpoint, embodiment, **kwargs):
    kwargs.setdefault("namespace", unique_namespace())
    descriptions = robots.describe(
        robot, checkpoint=checkpoint, parameters=FAST_POLICY, embodiment=embodiment, **kwargs
    )
    runner = Runner(descriptions, context=context).start()
    spec = robots.embodiment_spec(robot, embodiment)
    monitor = Monitor(spec, context=context, namespace=runner.descriptions[0].namespace, keep_images=False)
    runner.add_node(monitor)
    return runner, monitor, spec


@pytest.mark.parametrize("robot", robots.list_robots())
def test_robot_in_simulation_reaches_active_and_moves_on_instruction(
    robot, ros_context, checkpoint_for, small_cameras
):
    spec = robots.embodiment_spec(robot)
    runner, monitor, spec = start(robot, ros_context, checkpoint_for(spec), small_cameras(robot))
    try:
        wait_for(lambda: monitor.snapshot()["lifecycle_state"] == "active", 60, f"{robot}: policy active")
        before = monitor.snapshot()
        assert before["chunks_received"] == 0, "no chunk before an instruction"
        publish_instruction(monitor, "pick up the red cube")
        chunks, moved = (lambda: monitor.snapshot()["chunks_received"] >= 2,
                         lambda: monitor.snapshot()["joint_max_displacement"] > 1e-3)
        wait_for(chunks, 60, f"{robot}: two action chunks", monitor)
        wait_for(moved, 30, f"{robot}: joints moving", monitor)
        snap = monitor.snapshot()
        sequences = [c[1] for c in snap["chunks"]]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
        assert all(latency > 0 for _, _, latency, _ in snap["chunks"])
        chunk = snap["last_chunk"]  # in the spec's action space, from the robot's embodiment
        assert chunk.embodiment == spec.name and chunk.action_dim == spec.action_dim
        assert list(chunk.action_names) == [d.name for d in spec.action_dims]
        assert len(chunk.actions) == chunk.horizon * chunk.action_dim > 0
        status = snap["status"]
        assert (status.embodiment, status.instruction) == (spec.name, "pick up the red cube")
        assert status.chunks_published >= 1  # status is periodic: it may lag the chunks
        positions = snap["joint_positions"]
        assert positions.shape[1] == len(spec.joint_names) and np.isfinite(positions[-1]).all()
        lower, upper, _ = spec.limits(spec.joint_names)
        assert (positions[-1] >= lower - 1e-6).all() and (positions[-1] <= upper + 1e-6).all()
        ages = {a.name: a for a in snap["status"].input_ages}
        for camera in spec.cameras:  # the policy receives every camera of the simulated robot
            assert 0 <= ages[camera.role].age < 1.0 and ages[camera.role].topic.endswith(camera.topic)
    finally:
        runner.stop()


def test_autostart_false_leaves_the_policy_inactive(ros_context, checkpoint_for, small_cameras):
    """autostart:=false: the policy is configured (model loaded) but inactive: no chunk moves the
    robot until it is activated."""
    from lifecycle_msgs.srv import GetState

    spec, namespace = robots.embodiment_spec("ur5e"), unique_namespace()
    runner, monitor, _ = start("ur5e", ros_context, checkpoint_for(spec), small_cameras("ur5e"),
                               autostart=False, namespace=namespace)
    try:
        client = monitor.create_client(GetState, f"/{namespace}/pi0_policy/get_state")
        assert client.wait_for_service(timeout_sec=10.0)

        def state():
            future = client.call_async(GetState.Request())
            wait_for(future.done, 10, "get_state reply")
            return future.result().current_state.label

        wait_for(lambda: state() == "inactive", 60, "the policy configured and inactive")
        publish_instruction(monitor, "wave")
        wait_for(lambda: len(monitor.snapshot()["joint_times"]) >= 5, 10, "joint states from the sim robot")
        time.sleep(1.0)
        assert monitor.snapshot()["chunks_received"] == 0
        assert state() == "inactive"
    finally:
        runner.stop()


def test_camera_remapping_reaches_the_policy_and_the_simulated_robot(
    ros_context, checkpoint_for, small_cameras
):
    spec, namespace = robots.embodiment_spec("franka"), unique_namespace()
    elsewhere = f"/{namespace}_elsewhere/base_image"
    runner, monitor, _ = start("franka", ros_context, checkpoint_for(spec), small_cameras("franka"),
                               camera_topics={"base": elsewhere}, namespace=namespace)
    try:
        wait_for(lambda: monitor.snapshot()["lifecycle_state"] == "active", 60, "policy active")
        assert monitor.count_publishers(elsewhere) == 1 and monitor.count_subscribers(elsewhere) == 1
        assert monitor.count_publishers(f"/{namespace}/{spec.cameras[0].topic}") == 0
        publish_instruction(monitor, "open the drawer")
        wait_for(lambda: monitor.snapshot()["chunks_received"] >= 1, 30, "a chunk with a remapped camera")
    finally:
        runner.stop()


def test_pi0_bringup_command_runs_for_its_duration(capsys, checkpoint_for, small_cameras):
    spec = robots.embodiment_spec("bimanual_trossen")
    namespace = unique_namespace()
    argv = ["bringup", "bimanual_trossen", "--checkpoint", checkpoint_for(spec), "--duration", "2",
            "--namespace", namespace,
            "--instruction", "fold the towel", "--param", "num_steps:=2", "--param", "warmup:=false",
            "--embodiment", small_cameras("bimanual_trossen")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"starting pi0_policy/pi0_policy_node as /{namespace}/pi0_policy" in out
    assert f"starting pi0_hw_interfaces/sim_robot as /{namespace}/sim_robot" in out
    assert "instruction 'fold the towel' on /pi0/instruction" in out and "stopped" in out


def test_pi0_bringup_no_autostart_says_how_to_activate(capsys, checkpoint_for, small_cameras):
    spec = robots.embodiment_spec("franka")
    namespace = unique_namespace()
    argv = ["bringup", "franka", "--no-autostart", "--checkpoint", checkpoint_for(spec), "--duration", "25",
            "--namespace", namespace, "--param", "warmup:=false", "--embodiment", small_cameras("franka")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert (f"policy configured and inactive (--no-autostart); activate it with "
            f"`pi0 lifecycle /{namespace}/pi0_policy activate`") in out
    assert out.count("activate it with") == 1 and "policy inactive, 0 chunks" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bringup", "ur5"], "unknown robot 'ur5'"),
        (["bringup", "ur5e", "--hardware", "real"], "hardware real needs a checkpoint"),
        (["bringup", "ur5e", "--checkpoint", "/no/such/dir"], "checkpoint directory '/no/such/dir' does not"),
        (["bringup", "ur5e", "--checkpoint", ".", "--remap", "a=b"], "invalid remapping 'a=b'"),
        (["bringup", "ur5e", "--checkpoint", ".", "--param", "num_steps"], "--param 'num_steps': write NAME:=VALUE"),
    ],
)
def test_pi0_bringup_bad_arguments_exit_2_naming_the_value(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().out


def test_pi0_demo_reports_chunks_motion_and_saves_pictures(tmp_path, capsys, small_cameras):
    out = tmp_path / "demo_out"
    argv = ["demo", "--random", "--duration", "5", "--out", str(out), "--param", "num_steps:=2",
            "--namespace", unique_namespace(),
            "--embodiment", small_cameras("mobile_trossen")]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "randomly initialised tiny π0" in text and "not a skill" in text
    assert "chunks received" in text and "mean inference latency" in text and "joint motion" in text
    for name in ("camera_views.png", "joint_positions.png"):
        assert (out / name).stat().st_size > 10_000
    assert (out / "checkpoint" / "model.safetensors").is_file()
