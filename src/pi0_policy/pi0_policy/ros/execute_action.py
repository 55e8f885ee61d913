"""The ``~/execute_instruction`` action server (pi0_msgs/action/ExecuteInstruction): π0 as a skill
with a goal, feedback, cancel and a result, for behaviour trees and task managers.

A goal is a sequence of steps (instruction, max_duration, optional stop condition). Each step
sets the node's instruction through the same code path as the instruction topic and the
``~/set_instruction`` service; the node's control-rate tick drives the goal (`tick`), so the
server never blocks the executor: the execute callback awaits a future that `tick` completes.

Step end: with no stop condition the step is done after ``max_duration``; with ``chunks:N`` it
is done after N chunks, and reaching ``max_duration`` first ends the goal TIMED_OUT. The goal
SUCCEEDS when its last step is done. Cancel → CANCELLED, a new goal → the running one is
PREEMPTED, the node leaving ``active`` or a policy/configuration fault → FAULT; in each case (and
on success) the instruction is cleared and the robot holds.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from pi0_msgs.action import ExecuteInstruction

Result = ExecuteInstruction.Result
_CHUNKS = re.compile(r"^chunks:(\d+)$")


def parse_stop_condition(text: str) -> int | None:
    """"" → None (run for the duration), "chunks:N" → N (N >= 1); anything else: ValueError."""
    text = text.strip()
    if not text:
        return None
    match = _CHUNKS.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"stop_condition {text!r} is not understood: use '' (run for max_duration) or "
                         "'chunks:N' (N >= 1)")
    return int(match.group(1))


def check_goal(goal, max_chars: int) -> list[tuple[str, float, int | None]]:
    """The goal's steps as (instruction, max_duration, chunks or None); ValueError names a bad one."""
    if not goal.steps:
        raise ValueError("the goal has no steps: give at least one (instruction, max_duration)")
    steps = []
    for i, step in enumerate(goal.steps):
        text = step.instruction.strip()
        if not text or len(text) > max_chars or not text.isprintable():
            raise ValueError(f"step {i}: instruction {step.instruction[:40]!r} must be printable, non-empty "
                             f"and at most {max_chars} characters")
        if not step.max_duration > 0:
            raise ValueError(f"step {i}: max_duration {step.max_duration!r} must be > 0 s")
        steps.append((text, float(step.max_duration), parse_stop_condition(step.stop_condition)))
    return steps


@dataclass
class _Goal:
    handle: object
    steps: list
    started: float
    future: object
    step: int = 0
    step_started: float = 0.0
    chunks_at_goal: int = 0
    chunks_at_step: int = 0
    ended: bool = False
    result: object = field(default=None)


class InstructionActionServer:
    """Serves ``~/execute_instruction`` on ``node`` (a PolicyNode: `_set_instruction`, `_now`,
    `status_report`, `hold`); ``tick(now)`` is called from the node's control timer."""

    def __init__(self, node, max_chars: int):
        from rclpy.action import ActionServer, CancelResponse, GoalResponse

        self._node, self._max_chars = node, max_chars
        self._lock = threading.Lock()
        self._goal: _Goal | None = None
        self._goal_response = GoalResponse
        self._server = ActionServer(
            node, ExecuteInstruction, "~/execute_instruction", execute_callback=self._execute,
            goal_callback=self._on_goal, handle_accepted_callback=self._on_accepted,
            cancel_callback=lambda handle: CancelResponse.ACCEPT)

    def close(self) -> None:
        with self._lock:
            goal = self._goal
        if goal is not None:
            self._end(goal, Result.FAULT, "the node was cleaned up")
        self._server.destroy()

    # ---- action server callbacks -------------------------------------------------------------
    def _on_goal(self, request):
        try:
            check_goal(request, self._max_chars)
        except ValueError as e:
            self._node.get_logger().warning(f"execute_instruction goal rejected: {e}")
            return self._goal_response.REJECT
        return self._goal_response.ACCEPT

    def _on_accepted(self, handle):
        with self._lock:
            running = self._goal
        if running is not None:
            self._end(running, Result.PREEMPTED, "preempted by a new goal")
        handle.execute()

    async def _execute(self, handle):
        from rclpy.task import Future

        now = self._node._now()
        goal = _Goal(handle, check_goal(handle.request, self._max_chars), now, Future(), step_started=now)
        goal.chunks_at_goal = goal.chunks_at_step = self._node.status_report().chunks_published
        with self._lock:
            self._goal = goal
        self._node._set_instruction(goal.steps[0][0])
        result = await goal.future
        if result.outcome == Result.SUCCEEDED:
            handle.succeed()
        elif result.outcome == Result.CANCELLED and handle.is_cancel_requested:
            handle.canceled()
        else:
            handle.abort()
        return result

    # ---- driven by the node --------------------------------------------------------------------
    def tick(self, now: float, active: bool) -> None:
        with self._lock:
            goal = self._goal
        if goal is None or goal.ended:
            return
        report = self._node.status_report()
        chunks = report.chunks_published
        if goal.handle.is_cancel_requested:
            return self._end(goal, Result.CANCELLED, "cancelled")
        policy_faults = [f for f in report.faults if f.startswith(("policy", "configure"))]
        if not active or policy_faults:
            reason = "; ".join(policy_faults) or f"the node is {report.lifecycle_state}, not active"
            return self._end(goal, Result.FAULT, reason)
        text, duration, need_chunks = goal.steps[goal.step]
        step_elapsed = now - goal.step_started
        done = need_chunks is not None and chunks - goal.chunks_at_step >= need_chunks
        if not done and step_elapsed >= duration:
            if need_chunks is not None:
                return self._end(goal, Result.TIMED_OUT, f"step {goal.step} ({text!r}) ran {duration:g} s "
                                 f"without its stop condition chunks:{need_chunks}")
            done = True
        if done:
            if goal.step + 1 == len(goal.steps):
                goal.step += 1
                return self._end(goal, Result.SUCCEEDED, f"{len(goal.steps)} step(s) done")
            goal.step, goal.step_started, goal.chunks_at_step = goal.step + 1, now, chunks
            self._node._set_instruction(goal.steps[goal.step][0])
            text = goal.steps[goal.step][0]
        feedback = ExecuteInstruction.Feedback(
            step=goal.step, instruction=text, chunks_executed=chunks - goal.chunks_at_goal,
            elapsed=now - goal.started, latency=float(report.latency.get("total", 0.0)),
            faults=list(report.faults))
        goal.handle.publish_feedback(feedback)

    def _end(self, goal: _Goal, outcome: int, message: str) -> None:
        with self._lock:
            if goal.ended:
                return
            goal.ended = True
            if self._goal is goal:
                self._goal = None
        now = self._node._now()
        report = self._node.status_report()
        self._node._set_instruction("")
        self._node.hold_now(message)
        goal.future.set_result(Result(
            outcome=outcome, message=message, steps_completed=min(goal.step, len(goal.steps)),
            chunks_executed=report.chunks_published - goal.chunks_at_goal, elapsed=now - goal.started))
        self._node.get_logger().info(f"execute_instruction ended: {message}")
