"""Tasks over real DDS: the sim robot resets a task from a seed, the scripted expert succeeds
through ROS, success is detected, an agent that does nothing fails, episode events follow the
contract."""
import json
import re

import numpy as np
import pytest
from hw_test_support import BackgroundSpin, params, wait
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from pi0_hw_interfaces.sim_robot import SimRobotNode, initial_positions
from pi0_hw_interfaces.tasks import load_task
from pi0_hw_interfaces.tasks.driver import EpisodeDriver
from pi0_hw_interfaces.tasks.episode import EPISODE_QOS, EPISODE_TOPIC, parse_episode_event


@pytest.fixture
def world(ros_context):
    """Start(embodiment) → (sim, driver) spinning on a multi-threaded executor in a thread."""
    spin = BackgroundSpin(ros_context)

    def start(embodiment, **sim_params):
        values = {"embodiment": embodiment, "image_width": 48, "image_height": 48, **sim_params}
        sim = SimRobotNode(context=ros_context, parameter_overrides=params(**values))
        driver = EpisodeDriver(sim.spec, context=ros_context)
        spin.add(sim, driver)
        spin.start()
        driver.wait_for_sim()
        return sim, driver

    yield start
    spin.close()


def test_reset_from_a_seed_is_reproducible_in_goal_state_and_image(world):
    sim, driver = world("ur5e")
    images = []
    driver.create_subscription(Image, sim.spec.cameras[0].topic, images.append, qos_profile_sensor_data)
    assert sim.spec.cameras[0].role == load_task("ur5e_reach").camera

    def reset(seed, request):
        driver.reset_pub.publish(String(data=json.dumps({"task": "ur5e_reach", "seed": seed, "id": request})))
        wait(lambda: driver.state().get("id") == request, what=f"reset {request}")
        count = len(images)
        wait(lambda: len(images) > count + 1, what="fresh images")
        image = images[-1]
        return driver.state(), np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3)

    state_a, image_a = reset(5, "a")
    state_b, image_b = reset(6, "b")
    state_c, image_c = reset(5, "c")
    assert state_a["goal"] == state_c["goal"] and state_a["goal"] != state_b["goal"]
    assert state_a["instruction"] == state_a["goal"]["instruction"] and not state_a["success"]
    np.testing.assert_array_equal(image_a, image_c)  # nothing moved: same seed, same picture
    assert not np.array_equal(image_a, image_b)
    assert state_c["seed"] == 5 and state_c["task"] == "ur5e_reach"
    # a bad request is reported on ~/task and the episode keeps its goal
    driver.reset_pub.publish(String(data='{"task": "bimanual_gripper", "seed": 1}'))
    wait(lambda: "error" in driver.state(), what="the error state")
    assert "is for embodiment 'bimanual_trossen', not 'ur5e'" in driver.state()["error"]
    with pytest.raises(ValueError, match="is for embodiment 'bimanual_trossen', not 'ur5e'"):
        driver.run_episode("bimanual_gripper", 0)
    with pytest.raises(KeyError, match="unknown task 'nope'"):
        driver.run_episode("nope", 0)


@pytest.mark.parametrize("embodiment, tasks", [
    ("ur5e", ["ur5e_reach"]),
    ("bimanual_trossen", ["bimanual_reach", "bimanual_gripper"])])
def test_expert_succeeds_and_episode_events_follow_the_contract(world, embodiment, tasks):
    sim, driver = world(embodiment)
    events = []
    driver.create_subscription(String, EPISODE_TOPIC, lambda m: events.append(parse_episode_event(m.data)),
                               EPISODE_QOS)
    results = [driver.run_episode(task, seed, agent="expert") for task in tasks for seed in (0, 1, 2)]
    for r in results:
        assert r["success"], r
        assert r["commands"] > 0 and r["instruction"] == r["goal_instruction"]
        assert 0 < r["success_time"] < load_task(r["task"]).episode_s
    wait(lambda: len(events) == 2 * len(results), what="all episode events")
    for i, r in enumerate(results):
        start, end = events[2 * i], events[2 * i + 1]
        assert (start["event"], end["event"]) == ("start", "end")
        assert start["episode"] == end["episode"] == i
        assert start["task"] == r["task"] and start["seed"] == r["seed"]
        assert start["instruction"] == r["instruction"] and start["success"] is None and end["success"] is True
    # Every expert command is well-formed: the only rejections allowed are the simulator refusing a
    # trajectory that reached it after its own end (delivery on this in-process, multi-threaded test
    # executor was seen to stall for up to 1.6 s on the 2-core CI machine, around resets); never
    # unknown joints, bad shapes or limits, and few of them.
    late = [r for r in sim.rejected if re.search(r"trajectory ends \d+\.\d+ s in the past$", r)]
    assert late == sim.rejected, sim.rejected
    assert len(late) <= 0.1 * sum(r["commands"] for r in results), (len(late), sim.rejected)


def test_an_agent_that_does_nothing_fails(world):
    sim, driver = world("bimanual_trossen")
    result = driver.run_episode("bimanual_gripper", 4, agent="external", episode_s=1.5, hold_s=0.0)
    assert result["success"] is False and result["commands"] == 0
    assert result["duration"] >= 1.5
    state = driver.state()
    assert state["seed"] == 4 and state["in_goal"] is False and state["reward"] < 1.0
    # the wrong instruction names the other colour
    wrong = driver.run_episode("bimanual_gripper", 4, agent="external", episode_s=0.2, hold_s=0.0,
                               instruction=lambda goal: "close the gripper by the "
                               + ("blue" if goal["colour"] == "red" else "red") + " marker")
    assert wrong["instruction"] != wrong["goal_instruction"]


def test_a_task_started_by_parameter_is_latched_on_the_task_topic(world):
    sim, driver = world("bimanual_trossen", task="bimanual_reach", task_seed=9)
    wait(lambda: driver.state().get("seed") == 9, what="the latched task state")
    state = driver.state()
    default = dict(zip(sim.spec.joint_names, initial_positions(sim.spec, []).tolist()))
    expected, _ = sim.task_host.task.sample(9, default)
    assert state["task"] == "bimanual_reach" and state["goal"]["targets"] == expected["targets"]
    assert state["goal"]["colour"] == expected["colour"] and state["success"] is False
    assert {t["effector"] for t in state["goal"]["targets"]} == {"left", "right"}
