"""Rewards of the ALOHA sim tasks from the geoms in contact (gym-aloha tasks/sim.py, ACT sim_env.py).

`pairs` is a set of frozenset({geom_a, geom_b}) names in contact. Both tasks reward 0..4;
4 is success (gym-aloha: `is_success = reward == 4`).
"""
from __future__ import annotations

LEFT_FINGER = "vx300s_left/10_left_gripper_finger"
RIGHT_FINGER = "vx300s_right/10_right_gripper_finger"
SOCKET = ("socket-1", "socket-2", "socket-3", "socket-4")


def _touch(pairs, a, b) -> bool:
    return frozenset((a, b)) in pairs


def transfer_cube_reward(pairs) -> int:
    """1 right gripper touches the cube, 2 lifted by it, 3 left gripper touches it, 4 transferred (lifted by the left)."""
    right = _touch(pairs, "red_box", RIGHT_FINGER)
    left = _touch(pairs, "red_box", LEFT_FINGER)
    table = _touch(pairs, "red_box", "table")
    reward = 0
    if right:
        reward = 1
    if right and not table:
        reward = 2
    if left:
        reward = 3
    if left and not table:
        reward = 4
    return reward


def insertion_reward(pairs) -> int:
    """1 both grippers touch (peg right, socket left), 2 both lifted, 3 peg touches socket in the air, 4 peg touches the pin."""
    right = _touch(pairs, "red_peg", RIGHT_FINGER)
    left = any(_touch(pairs, s, LEFT_FINGER) for s in SOCKET)
    peg_table = _touch(pairs, "red_peg", "table")
    socket_table = any(_touch(pairs, s, "table") for s in SOCKET)
    peg_socket = any(_touch(pairs, "red_peg", s) for s in SOCKET)
    reward = 0
    if left and right:
        reward = 1
    if left and right and not peg_table and not socket_table:
        reward = 2
    if peg_socket and not peg_table and not socket_table:
        reward = 3
    if _touch(pairs, "red_peg", "pin"):
        reward = 4
    return reward


REWARDS = {"transfer_cube": transfer_cube_reward, "insertion": insertion_reward}


def reward(task: str, pairs) -> int:
    return REWARDS[task](pairs)
