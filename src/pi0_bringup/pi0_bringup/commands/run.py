"""`pi0 run "fold the towel" --timeout 60`: run the policy on an instruction through the policy
node's ExecuteInstruction action, with feedback, until it ends; Ctrl-C cancels (the robot holds).

Several instructions run one after another (`pi0 run "open the drawer" "take the cup"`), each
for at most `--timeout` seconds. `--until chunks:N` ends each step after N chunks instead (it
then times out if the timeout comes first); without it a step runs for its whole timeout.

Exit status: 0 succeeded; 1 timed out, cancelled, preempted, fault, rejected or no server within
`--wait` seconds; 2 bad arguments.
"""
import argparse
import time

OUTCOMES = {0: "succeeded", 1: "timed out", 2: "cancelled", 3: "fault", 4: "preempted"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run instruction(s) through the policy node's ExecuteInstruction action",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("instructions", nargs="+", help='instruction(s), e.g. "fold the towel"')
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per instruction (default 60)")
    parser.add_argument("--until", default="", help="stop condition per instruction: chunks:N (default: none)")
    parser.add_argument("--node", default="/pi0_policy", help="the policy node's full name (default /pi0_policy)")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the action server (default 10)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pi0_policy.ros.execute_action import parse_stop_condition

    from pi0_bringup.commands.instruct import topic_problem

    if not args.timeout > 0:
        print(f"pi0 run: --timeout {args.timeout} must be > 0 seconds")
        return 2
    try:
        parse_stop_condition(args.until)
    except ValueError as e:
        print(f"pi0 run: --until: {e}")
        return 2
    problem = topic_problem(args.node, full=True)
    if problem:
        print(f"pi0 run: --node {args.node!r}: {problem}")
        return 2
    from pi0_msgs.action import ExecuteInstruction
    from pi0_msgs.msg import InstructionStep
    from rclpy.action import ActionClient

    from pi0_bringup.cli_node import cli_node

    with cli_node("pi0_run") as (node, executor):
        name = f"{args.node.rstrip('/')}/execute_instruction"
        client = ActionClient(node, ExecuteInstruction, name)
        handle = None

        def spin_until(done, timeout):
            deadline = time.monotonic() + timeout
            while not done() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            return done()

        try:
            if not spin_until(client.server_is_ready, args.wait):
                print(f"pi0 run: no action server {name} after {args.wait:.1f} s. Is pi0_policy_node configured "
                      "(pi0 lifecycle), with the same ROS_DOMAIN_ID?")
                return 1
            goal = ExecuteInstruction.Goal(steps=[
                InstructionStep(instruction=text, max_duration=args.timeout, stop_condition=args.until)
                for text in args.instructions])
            shown = {"step": -1}

            def on_feedback(msg):
                fb = msg.feedback
                if fb.step != shown["step"]:
                    shown["step"] = fb.step
                    print(f"pi0 run: step {fb.step + 1}/{len(goal.steps)}: {fb.instruction!r}", flush=True)
                for fault in fb.faults:
                    print(f"pi0 run: fault: {fault}", flush=True)

            sent = client.send_goal_async(goal, feedback_callback=on_feedback)
            spin_until(sent.done, args.wait)
            handle = sent.result() if sent.done() else None
            if handle is None or not handle.accepted:
                print("pi0 run: the goal was rejected (see the policy node's log)")
                return 1
            result_future = handle.get_result_async()
            spin_until(result_future.done, float("inf"))
            result = result_future.result().result
            print(f"pi0 run: {OUTCOMES.get(result.outcome, result.outcome)}: {result.message} "
                  f"({result.steps_completed}/{len(goal.steps)} steps, {result.chunks_executed} chunks, "
                  f"{result.elapsed:.1f} s)")
            return 0 if result.outcome == ExecuteInstruction.Result.SUCCEEDED else 1
        except KeyboardInterrupt:
            if handle is not None and handle.accepted:
                cancel = handle.cancel_goal_async()
                spin_until(cancel.done, 5.0)
                print("pi0 run: cancelled; the robot holds")
            return 1
