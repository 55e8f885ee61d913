"""`mujoco_sim` behind the sim robot's episode contract, over real DDS, driven by the episode
driver that `pi0 eval --sim mujoco` uses (`tasks/driver.py` with the mujoco task catalog): a
reset with a seed reproduces the seeded object poses (reported on ~/task and in the physics), a
reset names another task (or an alias) and the scene changes, a bad reset request is
reported on ~/task with its id while the running episode goes on, and a chunk planned before a
reset is rejected.

As in `pi0 eval`, the simulator owns the time (`publish_clock`) and the driver follows /clock.
Tolerance: an untouched object settles on the table by < 1 mm in the 0.6 s after a reset
(measured ~0.1 mm); asserted within 5 mm of its seeded x, y.
"""
import json

import numpy as np
import pytest
from hw_test_support import BackgroundSpin, params, trajectory, wait
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from pi0_hw_interfaces.mujoco_sim.node import MujocoSimNode
from pi0_hw_interfaces.mujoco_sim.scene import sample_objects
from pi0_hw_interfaces.ros_common import stamp_msg
from pi0_hw_interfaces.tasks.catalog import task_catalog
from pi0_hw_interfaces.tasks.driver import EpisodeDriver

SETTLE_ATOL = 0.005
BODIES = {"transfer_cube": ["box"], "insertion": ["peg", "socket"]}


@pytest.fixture
def world(ros_context):
    """(sim, driver): mujoco_sim on its own /clock and a driver with the mujoco catalog, spinning
    on a multi-threaded executor in a thread (the driver's run_episode blocks)."""
    spin = BackgroundSpin(ros_context)
    sim = MujocoSimNode(context=ros_context, parameter_overrides=params(camera_rate_hz=0.0, publish_clock=True))
    driver = EpisodeDriver(sim.spec, catalog=task_catalog("mujoco"), context=ros_context,
                           parameter_overrides=params(use_sim_time=True))
    spin.add(sim, driver)
    spin.start()
    driver.wait_for_sim()
    yield sim, driver
    spin.close()


def idle_episode(driver, task, seed):
    """An episode nobody acts in (the eval path: reset, confirm, start/end events); (record, the
    ~/task state that confirmed it)."""
    record = driver.run_episode(task, seed, agent="external", episode_s=0.2, hold_s=0.0)
    return record, driver.state()


def test_reset_through_the_driver_reproduces_the_seeded_object_poses(world):
    sim, driver = world
    first, state_a = idle_episode(driver, "transfer_cube", 7)
    box = sim.scene.body_pose("box")[0]
    other, state_b = idle_episode(driver, "transfer_cube", 8)
    again, state_c = idle_episode(driver, "transfer_cube", 7)
    expected = [p.round(6).tolist() for p in sample_objects("transfer_cube", 7)]
    assert state_a["goal"]["objects"] == state_c["goal"]["objects"] == expected
    assert state_b["goal"]["objects"] != expected
    np.testing.assert_allclose(box[:2], expected[0][:2], atol=SETTLE_ATOL)  # the physics put it there
    np.testing.assert_allclose(sim.scene.body_pose("box")[0][:2], expected[0][:2], atol=SETTLE_ATOL)
    for record, seed in ((first, 7), (other, 8), (again, 7)):
        assert (record["task"], record["seed"], record["success"], record["max_reward"]) == \
            ("transfer_cube", seed, False, 0)
        assert record["instruction"] == record["goal_instruction"] == "Transfer cube"
    assert state_c["episode"] - state_a["episode"] == 2 and state_c["reset_stamp"] > state_a["reset_stamp"]
    # another task by its gym id: the scene is reloaded and the poses are that task's
    switched, state = idle_episode(driver, "AlohaInsertion-v0", 3)
    assert switched["task"] == state["task"] == sim.scene.task == "insertion"
    assert state["goal"]["objects"] == [p.round(6).tolist() for p in sample_objects("insertion", 3)]
    assert switched["instruction"] == "Insert the peg into the socket"
    for body, pose in zip(BODIES["insertion"], state["goal"]["objects"]):
        np.testing.assert_allclose(sim.scene.body_pose(body)[0][:2], pose[:2], atol=SETTLE_ATOL)
    assert sim.rejected == []


def test_bad_reset_requests_are_reported_and_the_episode_goes_on(world):
    sim, driver = world
    _, before = idle_episode(driver, "transfer_cube", 2)
    joints = []
    driver.create_subscription(JointState, "joint_states", joints.append, 10)
    cases = [({"task": "stack", "seed": 1, "id": "bad-task"},
              "unknown task 'stack'; choose one of transfer_cube, insertion"),
             ({"task": "transfer_cube", "seed": "x", "id": "bad-seed"}, "seed must be an integer >= 0, got 'x'"),
             ({"task": "transfer_cube", "seed": 2.5, "id": "float-seed"}, "seed must be an integer >= 0, got 2.5"),
             ({"task": ["transfer_cube"], "id": "bad-name"}, "task must be a task name (a string)")]
    for request, message in cases:
        driver.reset_pub.publish(String(data=json.dumps(request)))
        wait(lambda: driver.state().get("error_id") == request["id"], what=f"the error for {request}")
        state = driver.state()
        assert message in state["error"] and len(state["error"].splitlines()) == 1, state["error"]
        assert (state["episode"], state["id"], state["seed"]) == (before["episode"], before["id"], 2)
    driver.reset_pub.publish(String(data="not json"))
    wait(lambda: "not JSON" in driver.state().get("error", ""), what="the error for text that is not JSON")
    count = len(joints)
    wait(lambda: len(joints) > count + 5, what="joint_states after the bad requests")  # the node runs on
    with pytest.raises(KeyError, match="unknown task 'nope'; choose one of transfer_cube, insertion"):
        driver.run_episode("nope", 0)
    record, state = idle_episode(driver, "transfer_cube", 5)  # a good request clears the error
    assert "error" not in state and record["seed"] == state["seed"] == 5
    assert state["episode"] == before["episode"] + 1
    # a chunk planned in the previous episode and delivered after the reset does not move the arms
    controller = sim.spec.trajectory_controllers[0]
    stale = trajectory(controller.joints, [0.5], [[0.3] * len(controller.joints)],
                       stamp=stamp_msg(state["reset_stamp"] - 0.2))
    driver.trajectory_pubs[controller.name].publish(stale)
    wait(lambda: sim.rejected, what="the stale chunk's rejection")
    assert sim.rejected == [f"{controller.name}: stamped 0.200 s before the last reset: planned for the "
                            "previous episode"]
