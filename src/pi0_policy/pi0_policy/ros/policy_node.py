"""The pi0 policy lifecycle node: cameras, joint states and an instruction in; action chunks out.

Lifecycle (standard services ``~/change_state``, ``~/get_state``):
- configure: read and validate parameters, load the embodiment spec, adapter and checkpoint,
  warm up, create subscriptions, publishers, timers and ``~/set_instruction``. A missing or bad
  checkpoint (or parameter) → FAILURE; the reason is logged and in PolicyStatus.faults.
- activate: the control loop runs. deactivate and shutdown: no new chunks; a hold trajectory
  at the measured position (clamped into the joint limits) and a zero twist are sent, so the
  robot holds. cleanup: everything is released. The console script does the same on SIGINT and
  SIGTERM before it exits (see `main`).

Control loop (a timer at the embodiment's control rate): when inputs are fresh, mutually close
and an instruction is set, it hands a planning job to the inference worker thread every
``replan_interval`` actions. The job encodes the observation (adapter), runs the policy, decodes
it, and plans the chunk with the pure `pi0_policy.policy.chunking.plan_chunk` (late actions
dropped, optional ensembling, velocity cap, clamp), then publishes one JointTrajectory per
trajectory controller, the ActionChunk and the status. A base gets a Twist (or TwistStamped)
every tick; zero while holding. ``execution_mode`` rtc (real-time chunking) passes the executing
chunk to the policy as guidance (`pi0_policy.ros.realtime_chunking`), so the next chunk continues
it. ``~/execute_instruction`` (`pi0_policy.ros.execute_action`) runs instruction sequences as an
action; it sets the same instruction state as the topic and the service. Any fault (stale, future-stamped, missing or malformed input,
an impossible joint state, NaN, policy error) or an empty instruction → no chunk; a running chunk
is replaced by a hold.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State
from pi0_msgs.msg import PolicyStatus
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from pi0_policy.policy.chunking import plan_chunk
from pi0_policy.ros import commands, configuration, qos
from pi0_policy.ros.inputs import InputTracker
from pi0_policy.ros.parameters import declare_parameters, read_parameters
from pi0_policy.ros.status import StatusReport, to_diagnostics_msg, to_status_msg
from pi0_policy.ros.worker import InferenceWorker

MAX_INSTRUCTION_CHARS = 500
MAX_ENSEMBLE_CHUNKS = 8  # temporal ensembling: earlier chunks kept (50 actions / replan 4 → ~12 overlap)
HOLD_ACK_TIMEOUT_S = 1.0  # shutdown: how long to wait for the controllers to acknowledge the hold
_LABELS = {State.PRIMARY_STATE_UNCONFIGURED: "unconfigured", State.PRIMARY_STATE_INACTIVE: "inactive",
           State.PRIMARY_STATE_ACTIVE: "active", State.PRIMARY_STATE_FINALIZED: "finalized",
           State.TRANSITION_STATE_CONFIGURING: "configuring"}


def load_pi0_policy(params):
    """Default policy factory: the ``backend`` parameter's (local checkpoint or remote server;
    ``num_steps`` None = the checkpoint's own)."""
    from pi0_policy.policy.factory import make_policy

    return make_policy(params)


@dataclass
class RunState:
    """Everything that changes while the node runs, in one place (guarded by the node's lock)."""

    active: bool = False
    chunk: object = None          # the ScheduledChunk being executed
    history: tuple = ()           # recent raw chunks, for temporal ensembling
    next_plan: float = -math.inf  # time of the next planning job
    sequence: int = 0
    chunks_published: int = 0
    policy_fault: str = ""
    input_faults: list = field(default_factory=list)
    latency: dict = field(default_factory=dict)


class PolicyNode(LifecycleNode):
    """Runs a policy on one robot. ``policy_factory(params) -> BasePolicy`` replaces the π0
    checkpoint loader (e.g. a remote policy, or the bench's zero policy); other kwargs go to
    rclpy's Node (namespace, parameter_overrides, cli_args)."""

    def __init__(self, node_name: str = "pi0_policy", *, policy_factory=None, **kwargs):
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self._policy_factory = policy_factory or load_pi0_policy
        self._lock = threading.RLock()
        self._state_id = State.PRIMARY_STATE_UNCONFIGURED
        self._config_fault = ""
        self._built = []  # subscriptions, publishers, services, timers of configure; cleanup destroys them
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", qos.REPORT)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos.REPORT)
        self.run = RunState()
        self._action = None  # the ~/execute_instruction server (pi0_policy.ros.execute_action)
        self._rtc = None  # execution_mode rtc: pi0_policy.ros.realtime_chunking.RealtimeChunking
        self.params = self.spec = self.adapter = self.policy = self.tracker = self.worker = None
        self._last_status_key = None
        if self.get_parameter("autostart").value or self.get_parameter("autoconfigure").value:
            self._autostart_timer = self.create_timer(0.01, self._autostart)

    # ---- lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        self._set_state(State.TRANSITION_STATE_CONFIGURING)  # "configuring": the CLI shows "loading checkpoint …" meanwhile
        try:
            self._configure()
        except (ValueError, KeyError, OSError, RuntimeError, ImportError) as e:
            return self._fail_configure(str(e).strip("'\""))
        except Exception as e:  # noqa: BLE001 - a bug, not a bad configuration: ERROR, then on_error
            self.get_logger().error(f"configure raised {e!r}")
            self._config_fault = f"configure error: {type(e).__name__}: {e}"
            return TransitionCallbackReturn.ERROR
        self._config_fault = ""
        self._set_state(State.PRIMARY_STATE_INACTIVE)
        self.get_logger().info(f"configured: {self.spec.name}, checkpoint {self.params.checkpoint}, "
                               f"{self.policy.metadata.get('num_steps', '?')} flow steps")
        if getattr(self.policy, "runtime", None) is not None:
            self.get_logger().info(f"inference runtime: {self.policy.runtime.describe()}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        with self._lock:
            self.run = RunState(active=True)
        self._set_state(State.PRIMARY_STATE_ACTIVE)
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.stop_and_hold("deactivated", stop_worker=False)
        self._set_state(State.PRIMARY_STATE_INACTIVE)
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self._set_state(State.PRIMARY_STATE_UNCONFIGURED)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.stop_and_hold("shutdown")
        self._release()
        self._set_state(State.PRIMARY_STATE_FINALIZED)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self._release()
        self._set_state(State.PRIMARY_STATE_UNCONFIGURED)
        return TransitionCallbackReturn.SUCCESS

    def _autostart(self):
        # Cancelled, not destroyed: destroying a timer inside its own callback races with an
        # executor that already made a task for it ("cannot use Destroyable" at exit).
        self._autostart_timer.cancel()
        configured = self.trigger_configure() == TransitionCallbackReturn.SUCCESS
        if configured and self.get_parameter("autostart").value:
            self.trigger_activate()

    def stop_and_hold(self, reason: str, stop_worker: bool = True) -> None:
        """No new chunks; wait for (or stop) the inference job; send a hold at the measured
        position and a zero twist, and wait (up to HOLD_ACK_TIMEOUT_S) until the controllers
        acknowledged it. Safe to call in any state and more than once."""
        with self._lock:
            self.run.active = False
        if self.worker is None:
            return
        if stop_worker:
            self.worker.stop(timeout=30.0)
        else:
            self.worker.wait_idle(timeout=30.0)
        self._hold(self._now(), reason, always=True)
        if self.context.ok() and self.params is not None and not self.params.dry_run:
            for _, pub in self._traj_pubs:
                pub.wait_for_all_acked(rclpy.duration.Duration(seconds=HOLD_ACK_TIMEOUT_S))

    # ---- configure ---------------------------------------------------------------------------
    def _configure(self):
        from pi0_hw_interfaces.embodiment import load_embodiment

        from pi0_policy.ros.conversions import make_bridge

        self.params = p = read_parameters(self)
        self.spec = spec = load_embodiment(p.embodiment)
        self.policy = self._policy_factory(p)
        meta = self.policy.metadata
        self.adapter = configuration.make_adapter(spec, p, meta)
        layout = configuration.command_layout(spec, p, self.adapter, MAX_ENSEMBLE_CHUNKS)
        self.replan_interval, self._plan_settings = layout.replan_interval, layout.plan
        self._action_names, self._joint_names = layout.action_names, layout.joint_names
        self._limits, self._base_cols = layout.limits, layout.base_cols
        self._rtc = configuration.realtime_chunking(p, self.policy, self.adapter, spec, meta)
        if p.warmup:
            configuration.warm_up(self.policy, self.adapter, spec)
        self.tracker = InputTracker(joints=spec.joint_names, joint_topic=p.joint_state_topic
                                    or spec.joint_state_topic, max_age=p.max_input_age,
                                    max_skew=p.max_input_skew, bridge=make_bridge(),
                                    known_joints=tuple(spec.base.wheel_joints) if spec.base else (),
                                    limits=self._limits, limit_tolerance=p.joint_limit_tolerance,
                                    max_future=p.max_future_stamp)
        self._create_endpoints()
        self.worker = InferenceWorker(on_error=self._on_worker_error)

    def _create_endpoints(self):
        from geometry_msgs.msg import Twist, TwistStamped
        from pi0_msgs.msg import ActionChunk
        from pi0_msgs.srv import SetInstruction
        from sensor_msgs.msg import CompressedImage, Image, JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        p, spec, tracker = self.params, self.spec, self.tracker
        for cam in spec.cameras:
            topic = p.camera_topics.get(cam.role) or cam.topic
            compressed = p.camera_compressed.get(cam.role, False)
            width, height = p.camera_sizes.get(cam.role, (0, 0))
            tracker.add_camera(cam.role, topic, (width or cam.width, height or cam.height), compressed)
            cb = (lambda msg, role=cam.role: tracker.on_image(role, msg, self._now()))
            msg_type = CompressedImage if compressed else Image
            self._keep(self.create_subscription(msg_type, topic, cb, qos.SENSOR))
        self._keep(self.create_subscription(JointState, tracker.joint_topic, self._on_joint_state, qos.SENSOR))
        self._keep(self.create_subscription(String, p.instruction_topic,
                                            lambda m: self._set_instruction(m.data), qos.INSTRUCTION))
        self._keep(self.create_service(SetInstruction, "~/set_instruction", self._on_set_instruction))
        self._traj_pubs = [
            (c.joints, self._keep(self.create_publisher(JointTrajectory, c.topic, qos.COMMAND)))
            for c in spec.trajectory_controllers]
        base = spec.base_controller
        self._twist_stamped = bool(base and base.msg_type.endswith("TwistStamped"))
        self._twist_pub = base and self._keep(self.create_publisher(
            TwistStamped if self._twist_stamped else Twist, base.topic, qos.COMMAND))
        self._chunk_pub = self._keep(self.create_publisher(ActionChunk, "~/action_chunk", qos.REPORT))
        from pi0_policy.ros.execute_action import InstructionActionServer

        self._action = InstructionActionServer(self, MAX_INSTRUCTION_CHARS)
        self._keep(self.create_timer(spec.dt, self._tick))
        self._keep(self.create_timer(1.0 / p.status_rate, lambda: self._publish_status(force=True)))

    def _keep(self, entity):
        self._built.append(entity)
        return entity

    def _destroy(self, entity):
        for destroy in (self.destroy_subscription, self.destroy_publisher, self.destroy_service,
                        self.destroy_timer):
            if destroy(entity):
                return

    def _fail_configure(self, reason: str) -> TransitionCallbackReturn:
        self._release()
        self._config_fault = f"configure failed: {reason}"
        self.get_logger().error(self._config_fault)
        self._set_state(State.PRIMARY_STATE_UNCONFIGURED)
        return TransitionCallbackReturn.FAILURE

    def _release(self):
        if self.worker is not None:
            self.worker.stop(timeout=30.0)
        if self._action is not None:
            self._action.close()
            self._action = None
        for entity in reversed(self._built):
            self._destroy(entity)
        self._built.clear()
        if hasattr(self.policy, "close"):  # a remote policy's connection
            self.policy.close()
        self.params = self.spec = self.adapter = self.policy = self.worker = self.tracker = None
        with self._lock:
            self.run = RunState()

    # ---- runtime -----------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _set_instruction(self, text: str) -> None:
        if self.tracker is not None and self.tracker.set_instruction(text, self._now()):
            text = text.strip()
            self.get_logger().info(f"instruction: {text!r}" if text else "instruction cleared: hold")
            self._publish_status()

    def _on_set_instruction(self, request, response):
        text = request.instruction
        if len(text) > MAX_INSTRUCTION_CHARS or not text.isprintable():
            response.accepted = False
            response.message = (f"rejected: instruction of {len(text)} characters must be printable and at "
                                f"most {MAX_INSTRUCTION_CHARS} long")
            return response
        self._set_instruction(text)
        response.accepted, response.message = True, ("holding" if not text.strip() else "accepted")
        return response

    def _on_joint_state(self, msg):
        """Store the joint state; a planning job that is due starts now, on the newest measurement,
        rather than up to a control period later on the next tick."""
        now = self._now()
        self.tracker.on_joint_state(msg, now)
        with self._lock:
            run = self.run
            if (run.active and now >= run.next_plan and not self.worker.busy and self.tracker.instruction
                    and not self.tracker.faults(now)):
                self.worker.submit(self._plan)

    def _tick(self):
        """Control-rate timer: fault checks, holds, base velocity stream, planning jobs."""
        now = self._now()
        if self._action is not None:
            self._action.tick(now, self.run.active)
        with self._lock:
            run = self.run
            if not run.active:
                return
            faults = self.tracker.faults(now)
            run.input_faults = faults
            if faults or not self.tracker.instruction:
                if run.chunk is not None:
                    self._hold(now, "; ".join(faults) or "empty instruction")
            elif now >= run.next_plan and not self.worker.busy:
                self.worker.submit(self._plan)
            chunk = run.chunk
        if self._twist_pub and not self.params.dry_run:
            vel = commands.base_velocity_at(chunk, self._base_cols, now)
            self._twist_pub.publish(commands.twist(vel, self._twist_stamped, now))
        self._publish_status()

    def hold_now(self, reason: str) -> None:
        """Send a hold at the measured position now (an action goal ended, was cancelled or preempted)."""
        self._hold(self._now(), reason, always=True)

    def _hold(self, now: float, reason: str, always: bool = False):
        """Replace any running chunk by a hold at the measured position (clamped into the joint
        limits), and stop the base. Sent when a chunk runs, or ``always``."""
        with self._lock:
            run = self.run
            was_running, run.chunk, run.history, run.next_plan = run.chunk is not None, None, (), -math.inf
        if self.params is None or self.params.dry_run or self.tracker is None or not self.context.ok():
            return
        if not (was_running or always):
            return
        if was_running and not always:
            self.get_logger().warning(f"holding: {reason}")
        elif always:
            self.get_logger().info(f"hold sent: {reason}")
        positions = self.tracker.current_positions()
        for joints, pub in self._traj_pubs:
            msg = commands.hold_trajectory(joints, positions, self.spec.dt, self._limits)
            if msg is not None:
                pub.publish(msg)
        if self._twist_pub:
            zero = {axis: 0.0 for axis in self._base_cols}
            self._twist_pub.publish(commands.twist(zero, self._twist_stamped, now))

    def _plan(self):
        """Worker thread: one chunk from the latest inputs, published if still active and valid."""
        t_start, cpu_start = time.perf_counter(), time.thread_time()
        snap, faults = self.tracker.snapshot(self._now())
        if snap is None or not snap.prompt:
            return
        robot_obs = {"images": snap.images, "positions": snap.positions, "prompt": snap.prompt}
        try:
            obs = self.adapter.encode(robot_obs)
            if self._rtc is not None:  # real-time chunking: continue the chunk that executes now
                with self._lock:
                    executing = self.run.chunk
                obs["rtc"] = self._rtc.guide(executing, snap.obs_time, snap.positions)
            t_encoded = time.perf_counter()
            out = self.policy.infer(obs)
            t_inferred = time.perf_counter()
            actions = self.adapter.decode(out["actions"], snap.positions)
        except ValueError as e:
            with self._lock:
                self.run.policy_fault = f"policy: {e}"
            self._hold(self._now(), f"policy: {e}")
            return
        with self._lock:
            run, now = self.run, self._now()
            if not run.active or not self.tracker.instruction or self.tracker.faults(now):
                return  # deactivated, cleared or faulted while the model ran: the tick holds
            if self.tracker.instruction != snap.prompt:
                return  # a new instruction (e.g. an action goal's next step) arrived: replan now
            positions = self.tracker.current_positions()
            current = (np.array([positions[j] for j in self._joint_names])
                       if all(j in positions for j in self._joint_names) else None)
            plan = plan_chunk(actions, snap.obs_time, now, current, run.history, self._plan_settings)
            if self._rtc is not None:
                self._rtc.measured(now + self._plan_settings.lead - snap.obs_time)
            if plan.chunk is None:
                run.policy_fault = f"policy: {plan.reason}; holding"
                self._hold(now, run.policy_fault)
                return
            run.chunk, run.history, run.policy_fault = plan.chunk, plan.history, ""
            run.next_plan = snap.obs_time + self.replan_interval * self.spec.dt
            sequence, run.sequence = run.sequence, run.sequence + 1
            if not self.params.dry_run:  # under the lock: a hold from the tick cannot interleave
                for joints, pub in self._traj_pubs:
                    pub.publish(commands.joint_trajectory(joints, self._action_names, plan.chunk))
            timing = out.get("timing", {})
            done = time.perf_counter()
            run.chunks_published += 1  # recorded before the ActionChunk goes out: readers see its numbers
            run.latency = {
                "preprocess": timing.get("preprocess", 0.0) + (t_encoded - t_start),
                "observation_forward": timing.get("observation_forward", 0.0),
                "action_steps": timing.get("action_steps", 0.0),
                "postprocess": timing.get("postprocess", 0.0) + (done - t_inferred),
                "server": timing.get("server", 0.0),    # remote backend only
                "network": timing.get("network", 0.0),  # remote backend only
                "total": self._now() - snap.newest_time,
                "job_cpu": time.thread_time() - cpu_start,  # this thread's CPU time (load-independent)
            }
            latency = dict(run.latency)
        self._chunk_pub.publish(commands.action_chunk(
            plan.chunk, embodiment=self.spec.name, action_names=self._action_names, obs_time=snap.obs_time,
            sequence=sequence, instruction=snap.prompt, inference_latency=done - t_start, latency=latency))

    def _on_worker_error(self, exc: BaseException):
        if not self.context.ok():
            return  # shutting down: a publish from the last job may fail; nothing to hold any more
        self.get_logger().error(f"inference job failed: {exc!r}")
        with self._lock:
            self.run.policy_fault = f"policy: {type(exc).__name__}: {exc}"
        self._hold(self._now(), self.run.policy_fault)

    # ---- status ------------------------------------------------------------------------------
    def _set_state(self, state_id: int):
        self._state_id = state_id
        self._publish_status(force=True)

    def status_report(self) -> StatusReport:
        now = self._now()
        with self._lock:
            run = self.run
            faults = ([self._config_fault] if self._config_fault else []) + list(run.input_faults)
            faults += [run.policy_fault] if run.policy_fault else []
            instruction = self.tracker.instruction if self.tracker else ""
            return StatusReport(
                node_name=self.get_fully_qualified_name(), lifecycle_state_id=self._state_id,
                lifecycle_state=_LABELS[self._state_id], embodiment=self.spec.name if self.spec else "",
                checkpoint=(self.params.checkpoint or self.params.server_uri) if self.params else "",
                instruction=instruction, holding=run.chunk is None or now > run.chunk.end,
                chunks_published=run.chunks_published, latency=dict(run.latency),
                input_ages=self.tracker.ages(now) if self.tracker else [], faults=faults,
                dry_run=bool(self.params and self.params.dry_run))

    def _publish_status(self, force: bool = False):
        if not self.context.ok():
            return
        report = self.status_report()
        if not force and report.key() == self._last_status_key:
            return
        self._last_status_key = report.key()
        now = self._now()
        self._status_pub.publish(to_status_msg(report, now))
        self._diag_pub.publish(to_diagnostics_msg(report, now))


def main(args=None):
    """Console script ``pi0_policy_node``: spin the node until SIGINT or SIGTERM, then hold.

    rclpy's own signal handlers would shut the context down at once, after which nothing can be
    published; so the node is spun until the signal with the context kept valid, then stops its
    inference job and sends a hold (waiting for the controllers' acknowledgement), and only then
    is destroyed and rclpy shut down. One executor thread serves every callback (the node's
    callbacks are mutually exclusive anyway); inference runs on the worker thread.
    """
    import sys

    from pi0_hw_interfaces.ros_common import spin_until_signal
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    sys.setswitchinterval(0.0005)  # the worker thread gets the GIL back quickly between torch ops
    node = PolicyNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    reason = "exit"
    try:
        reason = spin_until_signal(executor) or reason
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if rclpy.ok():
            node.stop_and_hold(f"{reason}: stopping")
            node.get_logger().info(f"{reason}: hold sent, exiting")
        elif node.worker is not None:
            node.worker.stop(timeout=30.0)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
