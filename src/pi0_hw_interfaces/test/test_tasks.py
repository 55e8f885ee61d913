"""Simulated tasks as pure logic: definitions, seeded goals, success, scene images, the expert."""
import json

import numpy as np
import pytest

from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.sim_robot import initial_positions
from pi0_hw_interfaces.tasks import Task, TaskSpec, list_tasks, load_task
from pi0_hw_interfaces.tasks.episode import episode_event, parse_episode_event
from pi0_hw_interfaces.tasks.expert import Expert, expert_chunk
from pi0_hw_interfaces.tasks.host import TaskHost
from pi0_hw_interfaces.tasks.scene import SceneRenderer
from pi0_hw_interfaces.tasks.session import TaskSession
from pi0_hw_interfaces.tasks.task import PALETTE


def make(name):
    spec = load_task(name)
    embodiment = load_embodiment(spec.embodiment)
    return Task(spec, embodiment), dict(zip(embodiment.joint_names, initial_positions(embodiment, []).tolist()))


def test_packaged_tasks_cover_two_embodiment_classes():
    names = list_tasks()
    assert {"ur5e_reach", "bimanual_reach", "bimanual_gripper"} <= set(names)
    embodiments = {load_task(n).embodiment for n in names}
    assert {"ur5e", "bimanual_trossen"} <= embodiments
    with pytest.raises(KeyError, match="unknown task 'nope'; choose one of .*ur5e_reach"):
        load_task("nope")


@pytest.mark.parametrize("name", list_tasks())
def test_same_seed_same_goal_and_image_other_seeds_differ(name):
    task, default = make(name)
    goal, start = task.sample(7, default)
    assert task.sample(7, default) == (goal, start)
    goals = {json.dumps(task.sample(seed, default)[0], sort_keys=True) for seed in range(12)}
    assert len(goals) == 12
    assert {goal["colour"] for goal in (task.sample(s, default)[0] for s in range(12))} == set(task.spec.colours)
    assert goal["instruction"] == task.spec.instruction.format(colour=goal["colour"])
    renderer = SceneRenderer(task, 64, 48)
    image = renderer.render(goal, start)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, SceneRenderer(task, 64, 48).render(*task.sample(7, default)))
    for target in goal["targets"]:  # each target's colour at its centre
        x, y = round(target["u"] * 63), round(target["v"] * 47)
        assert tuple(image[y, x]) == PALETTE[target["colour"]], target
    other, _ = task.sample(8, default)
    assert not np.array_equal(image, renderer.render(other, start))


@pytest.mark.parametrize("name", list_tasks())
def test_success_at_the_expert_goal_not_at_the_start_nor_at_the_other_target(name):
    task, default = make(name)
    for seed in range(20):
        goal, start = task.sample(seed, default)
        assert task.evaluate(goal, start)[0] is False, f"seed {seed}: starts in the goal"
        reached, reward = task.evaluate(goal, task.goal_positions(goal, start))
        assert reached and reward == pytest.approx(1.0), f"seed {seed}"
        wrong = dict(goal, colour=next(c for c in task.spec.colours if c != goal["colour"]))
        assert task.evaluate(goal, task.goal_positions(wrong, start))[0] is False, f"seed {seed}: wrong target"
        assert task.wrong_instruction(goal) == task.spec.instruction.format(colour=wrong["colour"])


def test_session_succeeds_only_after_holding_the_goal():
    task, default = make("ur5e_reach")
    session = TaskSession(task, 3, default, now=100.0, request_id="a")
    at_goal = task.goal_positions(session.goal, session.start)
    assert session.step(100.1, session.start) is False and not session.in_goal
    assert session.step(100.2, at_goal) is False and session.in_goal and not session.success
    assert session.step(100.2 + task.spec.hold_s / 2, session.start) is False  # left: the hold restarts
    assert session.step(101.0, at_goal) is False
    assert session.step(101.0 + task.spec.hold_s, at_goal) is True
    state = session.state(101.0 + task.spec.hold_s)
    assert state["success"] and state["id"] == "a" and state["seed"] == 3
    assert state["success_time"] == pytest.approx(1.0 + task.spec.hold_s)
    assert session.step(102.0, session.start) is False and session.success  # latched


def test_host_rejects_bad_requests_with_the_reason():
    host = TaskHost(load_embodiment("ur5e"))
    _, default = make("ur5e_reach")
    for text, reason in [("{", "not JSON"), ("[1]", "JSON object"), ("{}", "no task named"),
                         ('{"task": "nope"}', "unknown task 'nope'"),
                         ('{"task": "ur5e_reach", "seed": -1}', "seed must be an integer >= 0"),
                         ('{"task": "bimanual_reach"}', "is for embodiment 'bimanual_trossen', not 'ur5e'")]:
        with pytest.raises(ValueError, match=reason):
            host.reset(text, default, 0.0)
        assert reason.split("'")[0] in host.state(0.0)["error"]
    start = host.reset('{"task": "ur5e_reach", "seed": 4, "id": "x"}', default, 0.0)
    assert host.state(0.0)["id"] == "x" and "error" not in host.state(0.0)
    assert start == make("ur5e_reach")[0].sample(4, default)[1]
    assert host.reset('{"seed": 4}', default, 1.0) == start  # the current task again


def test_bad_definitions_name_the_field():
    data = {"name": "t", "embodiment": "ur5e", "kind": "push", "description": "", "instruction": "{colour}",
            "colours": ["red", "blue"], "camera": "base", "image_size": [32, 32], "episode_s": 1, "hold_s": 0.1,
            "margin": 0.1, "min_separation": 0.1, "start_jitter": 0, "expert_speed": 1, "placement": "anywhere",
            "effectors": [{"name": "a", "region": [0, 1], "gripper": "robotiq_85_left_knuckle_joint"}]}
    with pytest.raises(ValueError, match="kind 'push' is not one of"):
        TaskSpec.from_dict(data, "t.yaml")
    with pytest.raises(ValueError, match="colours .*need ≥ 2"):
        TaskSpec.from_dict(dict(data, kind="gripper", colours=["red", "mauve"]), "t.yaml")
    with pytest.raises(ValueError, match="t.yaml: bad task definition"):
        TaskSpec.from_dict({k: v for k, v in data.items() if k != "camera"}, "t.yaml")
    spec = TaskSpec.from_dict(dict(data, kind="gripper"), "t.yaml")
    with pytest.raises(ValueError, match="not grippers of 'franka'|is for embodiment"):
        Task(spec, load_embodiment("franka"))


def test_expert_chunks_start_next_to_the_robot_and_end_at_the_goal():
    path = expert_chunk(np.array([0.0, 1.0]), np.array([0.5, 1.0]), np.array([0.1, 0.1]), 8)
    np.testing.assert_allclose(path[:, 0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(path[:, 1], 1.0)
    task, default = make("bimanual_gripper")
    expert = Expert(task)
    goal, start = task.sample(2, default)
    chunks = expert.chunks(goal, start)
    assert set(chunks) == {c.name for c in task.embodiment.trajectory_controllers}
    spec = task.embodiment
    for controller in spec.trajectory_controllers:
        joints, times, positions = chunks[controller.name]
        assert joints == list(controller.joints) and len(times) == 2 * spec.replan_interval
        np.testing.assert_allclose(times, (np.arange(len(times)) + 1) * spec.dt)
        steps = np.abs(np.diff(np.vstack([[start[j] for j in joints], positions]), axis=0))
        assert steps.max() <= task.spec.expert_speed * spec.dt + 1e-12  # no jump, speed capped


def test_episode_events_follow_the_contract():
    start = json.loads(episode_event("start", 3, "ur5e_reach", 11, "reach the red target"))
    assert start == {"event": "start", "episode": 3, "task": "ur5e_reach", "seed": 11,
                     "instruction": "reach the red target", "success": None}
    end = parse_episode_event(episode_event("end", 3, "ur5e_reach", 11, "reach the red target", True))
    assert end["event"] == "end" and end["success"] is True
    with pytest.raises(ValueError, match="episode event 'stop'"):
        episode_event("stop", 0, "t", 0, "")
    with pytest.raises(ValueError, match="missing \\['seed'"):
        parse_episode_event('{"event": "end", "episode": 0, "task": "t", "instruction": "", "success": true}')
