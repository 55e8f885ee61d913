"""Run node descriptions (pi0_bringup.robots.describe) in this process, without launch.

Each NodeDescription becomes an instance of the node class behind its executable
(`EXECUTABLES`), built with the same name, namespace, parameters and remappings a launch file
would give it, and all of them spin on one rclpy MultiThreadedExecutor in a background
thread. This is what `pi0 bringup ROBOT` and `pi0 demo` run, and what the tests run.

    with Runner(robots.describe("mobile_trossen")) as runner:
        runner.nodes["pi0_policy"]        # the PolicyNode instance
        runner.add_node(my_probe_node)    # spins with the others
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
import time

#: (package, executable) → "module:Class" of the node class the executable runs. Classes are
#: imported when first needed (the policy pulls in torch). Each takes
#: `__init__(node_name=..., **kwargs)` and passes kwargs to rclpy's Node.
EXECUTABLES = {
    ("pi0_policy", "pi0_policy_node"): "pi0_policy.ros.policy_node:PolicyNode",
    ("pi0_hw_interfaces", "sim_robot"): "pi0_hw_interfaces.sim_robot:SimRobotNode",
    ("pi0_hw_interfaces", "mujoco_sim"): "pi0_hw_interfaces.mujoco_sim.node:MujocoSimNode",
    ("pi0_hw_interfaces", "trajectory_bridge"): "pi0_hw_interfaces.bridge:TrajectoryBridgeNode",
}


def node_class(package: str, executable: str):
    """The node class of `package`/`executable`; KeyError listing the known executables."""
    try:
        target = EXECUTABLES[(package, executable)]
    except KeyError:
        known = ", ".join(f"{p}/{e}" for p, e in EXECUTABLES)
        raise KeyError(f"no in-process node class for {package}/{executable}; known: {known}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def remap_args(remappings) -> list[str] | None:
    """`(from, to)` pairs → rclpy `cli_args` (["--ros-args", "-r", "from:=to", ...]); None if none."""
    args = [x for source, target in remappings for x in ("-r", f"{source}:={target}")]
    return ["--ros-args", *args] if args else None


def node_kwargs(description, context=None) -> dict:
    """rclpy Node keyword arguments equivalent to what launch_ros passes on the command line."""
    from rclpy.parameter import Parameter

    overrides = []
    for name, value in description.parameters.items():
        if isinstance(value, (list, tuple)) and len(value) == 0:
            raise ValueError(
                f"parameter {name!r} of {description.name}: an empty list has no ROS type; leave it out"
            )
        if isinstance(value, tuple):
            value = list(value)
        try:
            overrides.append(Parameter(name, value=value))
        except TypeError as error:
            raise ValueError(f"parameter {name!r} of {description.name}: {value!r} is no ROS value ({error})")
    kwargs = {
        "node_name": description.name,
        "namespace": description.namespace or "",
        "parameter_overrides": overrides,
        "cli_args": remap_args(description.remappings),
    }
    if context is not None:
        kwargs["context"] = context
    return kwargs


#: Seconds stop() waits for a lifecycle transition in progress (a configure loading a model) to
#: end before it shuts the node down: a shutdown cannot start in the middle of a transition.
TRANSITION_TIMEOUT = 300.0


def lifecycle_state(node) -> tuple[int, str] | None:
    """(id, label) of an rclpy lifecycle node's current state, None for other nodes."""
    machine = getattr(node, "_state_machine", None)
    return tuple(machine.current_state) if machine is not None else None


def wait_for_transition(node, timeout: float) -> bool:
    """Wait until `node` is in a primary state (ids 1-4, not "configuring", "activating", ...),
    for two looks 0.1 s apart (autostart chains configure → activate); False after `timeout` s."""
    deadline = time.monotonic() + timeout
    said = False
    stable = 0
    while time.monotonic() < deadline:
        state = lifecycle_state(node)
        if state is None:
            return True
        stable = stable + 1 if state[0] < 10 else 0
        if stable >= 2:
            return True
        if not said and state[0] >= 10:
            print(f"{node.get_name()}: waiting for the {state[1]} transition to end before shutting down "
                  "(loading a model cannot be interrupted)", flush=True)
            said = True
        try:
            time.sleep(0.1)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, shut down as far as possible
            return False
    return False


class Runner:
    """Start the nodes of `descriptions` in this process and spin them until `stop()`.

    With `context=None` the runner initialises an rclpy context of its own (and shuts it down
    on stop); with a given context (tests) it leaves that to the caller. Nodes are created in
    description order; `nodes` maps node name → instance. If creating any node fails, the ones
    already created are destroyed and the error propagates.
    """

    def __init__(self, descriptions, context=None, num_threads: int | None = None,
                 switch_interval: float | None = 0.0005):
        """`num_threads` of the executor: default at least 4, so that a long callback (the
        policy's configure loads and warms up the model) does not starve the others.

        `switch_interval`: while running, the process's GIL switch interval (s; None keeps
        Python's 5 ms). The policy's inference thread releases the GIL at every torch op; with
        the default interval it then waits behind the other nodes' callbacks each time, and
        inference gets several times slower on a busy machine (seen: 10 → 17 chunks in 8 s).
        """
        self.descriptions = list(descriptions)
        self._own_context = context is None
        self.context = context
        self.num_threads = num_threads or max(4, os.cpu_count() or 1)
        self.nodes: dict = {}
        self.executor = None
        self._thread = None
        self._stopping = threading.Event()
        self.switch_interval = switch_interval
        self._saved_switch_interval = None

    def start(self) -> "Runner":
        import rclpy
        from rclpy.context import Context
        from rclpy.exceptions import ParameterException
        from rclpy.executors import MultiThreadedExecutor

        from pi0_bringup.node_parameters import check_description

        if self._own_context:
            import signal

            from rclpy.signals import SignalHandlerOptions

            # No rclpy signal handlers: they would shut the context down before stop() runs, and the
            # policy's shutdown transition could not send its hold. Ctrl-C stays a KeyboardInterrupt
            # (the commands call stop()); SIGTERM becomes one too.
            self.context = Context()
            rclpy.init(args=[], context=self.context, signal_handler_options=SignalHandlerOptions.NO)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, signal.default_int_handler)
        if self.switch_interval is not None:
            self._saved_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval)
        try:
            for description in self.descriptions:
                check_description(description)  # before any node starts: unknown names, wrong types
            self.executor = MultiThreadedExecutor(num_threads=self.num_threads, context=self.context)
            for description in self.descriptions:
                cls = node_class(description.package, description.executable)
                try:
                    node = cls(**node_kwargs(description, self.context))
                except ParameterException as error:  # a value the node's descriptor refuses
                    raise ValueError(f"{description.name}: {error}") from None
                self.nodes[description.name] = node
                self.executor.add_node(node)
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._spin, name="pi0_runner", daemon=True)
        self._thread.start()
        return self

    def _spin(self) -> None:
        # spin_once in a loop with a flag, not executor.spin(): shutting an executor down while
        # another thread is inside its wait loop races with the teardown of its guard condition.
        from rclpy.executors import ExternalShutdownException

        while not self._stopping.is_set() and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                return
            except Exception as error:  # noqa: BLE001 - one failed callback must not stop every node
                # e.g. rclpy's lifecycle service raising RCLError for a transition requested twice
                print(f"pi0 runner: a callback raised {type(error).__name__}: {error}", file=sys.stderr,
                      flush=True)

    def add_node(self, node) -> None:
        """Spin `node` (created on `self.context`) with the others; it is destroyed on stop()."""
        self.nodes[node.get_name()] = node
        self.executor.add_node(node)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop spinning, shut lifecycle nodes down (the policy holds the robot and stops its
        worker), destroy every node, and shut down a context the runner created."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self.executor is not None:
            from pi0_hw_interfaces.ros_common import drain_executor

            for error in drain_executor(self.executor):  # callbacks still queued when spinning stopped
                print(f"pi0 runner: a callback raised {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            self.executor.shutdown(timeout_sec=5.0)
        for node in reversed(list(self.nodes.values())):
            if hasattr(node, "trigger_shutdown"):
                wait_for_transition(node, TRANSITION_TIMEOUT)
                if (lifecycle_state(node) or (0,))[0] == 4:  # already finalized (e.g. pi0 lifecycle NODE shutdown)
                    continue
                try:
                    node.trigger_shutdown()
                except Exception as error:  # noqa: BLE001 - already finalized, or a failed callback
                    node.get_logger().warning(f"shutdown transition failed: {error}")
        for node in reversed(list(self.nodes.values())):
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001 - a node already torn down must not stop the others
                pass
        self.nodes.clear()
        if self._saved_switch_interval is not None:
            sys.setswitchinterval(self._saved_switch_interval)
            self._saved_switch_interval = None
        if self._own_context and self.context is not None and self.context.ok():
            import rclpy

            rclpy.shutdown(context=self.context)

    def __enter__(self) -> "Runner":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
