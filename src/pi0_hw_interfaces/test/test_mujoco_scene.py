"""The MuJoCo ALOHA scene without ROS: mapping, seeded sampling, rewards, IK, the scripted experts."""
import numpy as np
import pytest

from pi0_hw_interfaces.embodiment import load_embodiment
from pi0_hw_interfaces.mujoco_sim import expert, tasks  # first: sets MUJOCO_GL before mujoco loads
from pi0_hw_interfaces.mujoco_sim.ik import ArmIK
from pi0_hw_interfaces.mujoco_sim.robot import PhysicsRobot, run_plan
from pi0_hw_interfaces.mujoco_sim.scene import AlohaScene, gripper_map, resolve_task, sample_objects

SPEC = load_embodiment("bimanual_trossen")


def test_gripper_mapping_uses_act_constants():
    g = gripper_map()
    assert g.to_finger(1.4910) == pytest.approx(0.05800) and g.to_finger(-0.6213) == pytest.approx(0.01844)
    angles = np.linspace(-0.6213, 1.4910, 7)
    np.testing.assert_allclose(g.to_angle(g.to_finger(angles)), angles, atol=1e-12)
    assert g.normalised(1.4910) == pytest.approx(1.0) and g.normalised(-0.6213) == pytest.approx(0.0)


def test_seeded_object_poses_follow_gym_aloha_sampling():
    # gym_aloha.utils.sample_box_pose(seed): RandomState(seed).uniform([0, .4, .05], [.2, .6, .05])
    rng = np.random.RandomState(7)
    box = sample_objects("transfer_cube", 7)[0]
    np.testing.assert_array_equal(box, np.concatenate([rng.uniform([0.0, 0.4, 0.05], [0.2, 0.6, 0.05]), [1, 0, 0, 0]]))
    peg, socket = sample_objects("insertion", 3)
    assert 0.1 <= peg[0] <= 0.2 and -0.2 <= socket[0] <= -0.1 and peg[2] == socket[2] == 0.05
    assert not np.array_equal(sample_objects("transfer_cube", 8)[0], box)
    with pytest.raises(ValueError, match="unknown task 'stack'; choose one of transfer_cube, insertion"):
        resolve_task("stack")


def test_reset_puts_arms_at_the_start_pose_and_objects_where_sampled():
    scene = AlohaScene(SPEC, "insertion")
    scene.reset(5)
    np.testing.assert_allclose(scene.positions(), scene.start_positions(), atol=1e-12)
    np.testing.assert_allclose(scene.start_positions()[:6], [0, -0.96, 1.16, 0, -0.3, 0])
    peg, _ = scene.body_pose("peg")
    np.testing.assert_allclose(peg, sample_objects("insertion", 5)[0][:3])
    assert scene.reward() == 0 and not scene.success


def test_rewards_from_contacts():
    pair = lambda a, b: frozenset((a, b))  # noqa: E731
    lifted = {pair("red_box", tasks.RIGHT_FINGER)}
    assert tasks.transfer_cube_reward(lifted | {pair("red_box", "table")}) == 1
    assert tasks.transfer_cube_reward(lifted) == 2
    assert tasks.transfer_cube_reward({pair("red_box", tasks.LEFT_FINGER), pair("red_box", "table")}) == 3
    assert tasks.transfer_cube_reward({pair("red_box", tasks.LEFT_FINGER)}) == 4
    both = {pair("red_peg", tasks.RIGHT_FINGER), pair("socket-2", tasks.LEFT_FINGER)}
    assert tasks.insertion_reward(both | {pair("red_peg", "table")}) == 1
    assert tasks.insertion_reward(both) == 2
    assert tasks.insertion_reward(both | {pair("red_peg", "socket-1")}) == 3
    assert tasks.insertion_reward({pair("red_peg", "pin")}) == 4


def test_ik_recovers_a_reachable_pose():
    scene = AlohaScene(SPEC, "transfer_cube")
    joints = [f"vx300s_right/{j}" for j in ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")]
    ik = ArmIK(scene.model, "vx300s_right/gripper_link", joints)
    goal_q = np.array([0.2, -0.5, 0.6, 0.1, 0.4, -0.2])
    pos, quat = ik.forward(goal_q)
    result = ik.solve(pos, quat, scene.start_positions()[7:13])
    assert result.position_error < 1e-4 and result.rotation_error < 1e-3
    np.testing.assert_allclose(ik.forward(result.positions)[0], pos, atol=1e-4)


@pytest.mark.parametrize("task", ["transfer_cube", "insertion"])
def test_scripted_expert_succeeds_through_the_followers(task):
    robot = PhysicsRobot(SPEC, task, seed=0)
    plan = expert.plan(robot.scene)
    assert plan.positions.shape == (400, 14)
    assert plan.max_position_error < 0.01, "IK did not reach ACT's waypoints"
    np.testing.assert_allclose(plan.positions[0], robot.scene.start_positions(), atol=0.05)  # no jump at the start
    out = run_plan(robot, plan)
    assert out["success"] and out["reward"] == 4, out


def test_unknown_spec_joint_is_named():
    spec = SPEC.with_joint_names({"follower_left_waist": "left_waist"})
    with pytest.raises(KeyError, match="spec joint 'left_waist' has no MJCF joint"):
        AlohaScene(spec)
    import mujoco

    assert mujoco.__version__ == "3.8.1"
