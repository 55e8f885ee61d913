"""`pi0 bringup bimanual_trossen --sim mujoco` / `sim:=mujoco`: the policy node runs against the
MuJoCo ALOHA simulator (physics joint states, rendered cameras) exactly as against sim_robot."""
import json

import pytest
from std_msgs.msg import String
from test_bringup_sim import checkpoint_for, small_cameras, start, unique_namespace, wait_for  # noqa: F401

from pi0_bringup import cli, launch_helpers, robots
from pi0_bringup.commands.bringup import publish_instruction


def test_sim_choice_selects_the_simulator_node():
    nodes = robots.describe("bimanual_trossen", sim="mujoco")
    assert [(n.package, n.executable, n.name) for n in nodes][1] == ("pi0_hw_interfaces", "mujoco_sim", "mujoco_sim")
    assert nodes[1].parameters["embodiment"] == "bimanual_trossen"
    launched = launch_helpers.describe_arguments("bimanual_trossen", {"sim": "mujoco"})
    assert [n.executable for n in launched] == ["pi0_policy_node", "mujoco_sim"]
    assert [n.executable for n in robots.describe("bimanual_trossen")] == ["pi0_policy_node", "sim_robot"]
    with pytest.raises(ValueError, match=r"sim mujoco simulates \('bimanual_trossen',\) only, not ur5e"):
        robots.describe("ur5e", sim="mujoco")
    with pytest.raises(ValueError, match=r"sim must be one of \('kinematic', 'mujoco'\), got 'gazebo'"):
        robots.describe("bimanual_trossen", sim="gazebo")


def test_policy_drives_the_mujoco_simulator(ros_context, checkpoint_for, small_cameras):  # noqa: F811
    spec = robots.embodiment_spec("bimanual_trossen")
    runner, monitor, spec = start("bimanual_trossen", ros_context, checkpoint_for(spec),
                                  small_cameras("bimanual_trossen"), sim="mujoco",
                                  sim_parameters={"camera_rate_hz": 10.0})
    namespace = runner.descriptions[0].namespace
    tasks = []
    monitor.create_subscription(String, f"{namespace}/mujoco_sim/task", tasks.append, 10)
    try:
        wait_for(lambda: monitor.snapshot()["lifecycle_state"] == "active", 90, "policy active", monitor)
        publish_instruction(monitor, "transfer the cube")
        wait_for(lambda: monitor.snapshot()["chunks_received"] >= 1, 60, "a chunk from MuJoCo observations", monitor)
        wait_for(lambda: tasks, 10, "the simulator's ~/task")
        assert json.loads(tasks[-1].data)["task"] == "transfer_cube"
        assert runner.nodes["mujoco_sim"].rejected == []
    finally:
        runner.stop()


def test_pi0_bringup_accepts_sim_mujoco(capsys, checkpoint_for, small_cameras):  # noqa: F811
    spec = robots.embodiment_spec("bimanual_trossen")
    namespace = unique_namespace()
    argv = ["bringup", "bimanual_trossen", "--sim", "mujoco", "--checkpoint", checkpoint_for(spec),
            "--duration", "1", "--namespace", namespace, "--param", "num_steps:=2",
            "--param", "warmup:=false", "--embodiment", small_cameras("bimanual_trossen")]
    assert cli.main(argv) == 0
    assert f"starting pi0_hw_interfaces/mujoco_sim as /{namespace}/mujoco_sim" in capsys.readouterr().out


def test_sim_params_are_checked_against_the_mujoco_simulator(capsys):
    argv = ["bringup", "bimanual_trossen", "--sim", "mujoco", "--checkpoint", ".", "--sim-param", "taks:=insertion"]
    assert cli.main(argv) == 2
    assert "mujoco_sim has no parameter 'taks'; did you mean 'task'?" in capsys.readouterr().out
