"""`pi0 lifecycle NODE ACTION`: drive a lifecycle node (the policy node) without ros2cli.

    pi0 lifecycle /pi0_policy get          # print its state
    pi0 lifecycle /pi0_policy activate     # start acting (after `pi0 bringup ... --no-autostart`)
    pi0 lifecycle /pi0_policy deactivate   # stop acting; the robot holds, the model stays loaded

ACTION is get or a transition: configure, activate, deactivate, cleanup, shutdown. It calls the
node's standard lifecycle services (lifecycle_msgs ChangeState, GetState,
GetAvailableTransitions), as `ros2 lifecycle set/get` does, so it works on any ROS 2 lifecycle
node; for a pi0 policy node it also prints the faults of a failed transition (from its status).

Exit status: 0 when done; 1 if the node is not found, the transition is not available from its
state, or it failed; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import time

TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lifecycle",
        help="get the state of, or change, a lifecycle node (e.g. activate the policy)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("node", help="the node's full name, e.g. /pi0_policy or /robot1/pi0_policy")
    parser.add_argument("action", choices=("get", *TRANSITIONS), help="get, or the transition to trigger")
    parser.add_argument("--wait", type=float, default=10.0, metavar="S",
                        help="seconds to wait for the node's services (default 10)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="seconds a transition may take; configure loads the model (default 600)")
    parser.set_defaults(func=run)


def _call(executor, client, request, timeout: float):
    """The response of `client` for `request`, spinning `executor`; None after `timeout` s."""
    future = client.call_async(request)
    executor.spin_until_future_complete(future, timeout_sec=timeout)
    return future.result() if future.done() else None


class LifecycleClient:
    """The standard lifecycle services of one node, called from `node` (a plain rclpy Node that
    `executor` spins)."""

    def __init__(self, node, executor, target: str):
        from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions, GetState

        self.node, self.executor, self.target = node, executor, target
        self.get_state = node.create_client(GetState, f"{target}/get_state")
        self.change_state = node.create_client(ChangeState, f"{target}/change_state")
        self.transitions = node.create_client(GetAvailableTransitions, f"{target}/get_available_transitions")

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for client in (self.get_state, self.change_state, self.transitions):
            if not client.wait_for_service(timeout_sec=max(0.0, deadline - time.monotonic())):
                return False
        return True

    def state(self, timeout: float = 10.0):
        """(id, label) of the node's current state; None if it did not answer."""
        from lifecycle_msgs.srv import GetState

        response = _call(self.executor, self.get_state, GetState.Request(), timeout)
        return None if response is None else (response.current_state.id, response.current_state.label)

    def available(self, timeout: float = 10.0) -> dict:
        """{transition label: id} the node offers from its current state."""
        from lifecycle_msgs.srv import GetAvailableTransitions

        response = _call(self.executor, self.transitions, GetAvailableTransitions.Request(), timeout)
        if response is None:
            return {}
        return {t.transition.label: t.transition.id for t in response.available_transitions}

    def trigger(self, transition_id: int, timeout: float):
        """True/False: the transition succeeded; None: no answer within `timeout` s."""
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = transition_id
        response = _call(self.executor, self.change_state, request, timeout)
        return None if response is None else bool(response.success)


def _policy_faults(executor, statuses: list, wait: float = 1.0, settle: float = 0.3) -> list:
    """Faults of the latest pi0 PolicyStatus received (spinning `settle` s for late ones, and up
    to `wait` s for a first one)."""
    start = time.monotonic()
    while time.monotonic() - start < settle or (not statuses and time.monotonic() - start < wait):
        executor.spin_once(timeout_sec=0.05)
    return list(statuses[-1].faults) if statuses else []


def run(args) -> int:
    target = args.node if args.node.startswith("/") else "/" + args.node
    from pi0_bringup.commands.instruct import topic_problem

    problem = topic_problem(target, full=True)
    if problem:
        print(f"pi0 lifecycle: node name {args.node!r}: {problem}")
        return 2
    from pi0_bringup.cli_node import cli_node

    with cli_node("pi0_lifecycle") as (node, executor):
        try:
            return _run(node, executor, target, args)
        except KeyboardInterrupt:
            return 1


def _run(node, executor, target: str, args) -> int:
    client = LifecycleClient(node, executor, target)
    statuses = []  # a pi0 policy node's status (subscribed first: discovery runs while we wait)
    try:
        from pi0_msgs.msg import PolicyStatus

        from pi0_policy.ros.qos import REPORT

        node.create_subscription(PolicyStatus, f"{target}/status", statuses.append, REPORT)
    except ImportError:  # pi0_msgs not built here: a generic lifecycle node
        pass
    if not client.wait(args.wait):
        print(f"pi0 lifecycle: no lifecycle node {target} found within {args.wait:.0f} s. Is it running, "
              "with the same ROS_DOMAIN_ID and discovery range? (the full name includes its namespace)")
        return 1
    state = client.state()
    if state is None:
        print(f"pi0 lifecycle: {target} did not answer get_state")
        return 1
    if args.action == "get":
        print(f"{target}: {state[1]} [{state[0]}]")
        return 0
    available = client.available()
    if args.action not in available:
        offered = ", ".join(sorted(available)) or "none"
        print(f"pi0 lifecycle: {target} is {state[1]}: it cannot {args.action} now; available: {offered}")
        return 1
    if args.action == "configure":
        print(f"pi0 lifecycle: configuring {target} (a policy node loads its model now: seconds to minutes) …",
              flush=True)
    ok = client.trigger(available[args.action], args.timeout)
    if ok is None:
        print(f"pi0 lifecycle: {target} did not finish {args.action} within {args.timeout:.0f} s (--timeout)")
        return 1
    after = client.state()
    label = after[1] if after else "unknown"
    if not ok:
        del statuses[:-1]  # only the latest status before the reply, and those after it, count
        faults = _policy_faults(executor, statuses)
        print(f"pi0 lifecycle: {args.action} of {target} failed; it is {label}"
              + (f"; faults: {'; '.join(faults)}" if faults else ""))
        return 1
    print(f"{target}: {label}")
    return 0
