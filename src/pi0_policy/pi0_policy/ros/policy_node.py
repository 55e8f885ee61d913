"""The pi0 policy lifecycle node: cameras, joint states and an instruction in; action chunks out.

Lifecycle (standard services ``~/change_state``, ``~/get_state``):
- configure: read and validate parameters, load the embodiment spec, adapter and checkpoint,
  warm up, create subscriptions, publishers, timers and ``~/set_instruction``. A missing or bad
  checkpoint (or parameter) → FAILURE; the reason is logged and in PolicyStatus.faults.
- activate: the control loop runs. deactivate: no new chunks; a hold trajectory at the measured
  position and a zero twist are sent, so the robot holds. cleanup: everything is released.

Control loop (a timer at the embodiment's control rate, on the executor): when inputs are fresh,
mutually close and an instruction is set, it hands a planning job to the inference worker thread
every ``replan_interval`` actions. The job encodes the observation (adapter), runs the policy,
decodes (delta → absolute, grippers, clamping), drops the actions that passed while it ran (see
policy/chunking.py), caps the first steps by the joint velocity limits and publishes one
JointTrajectory per trajectory controller, the ActionChunk and the status. A base gets a Twist
(or TwistStamped) every tick; zero while holding. Any fault (stale, missing or malformed input,
NaN, policy error) or an empty instruction → no chunk; a running chunk is replaced by a hold.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from pi0_msgs.msg import PolicyStatus
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from pi0_policy.policy.chunking import cap_step_velocity, schedule_chunk, temporal_ensemble
from pi0_policy.ros import commands, qos
from pi0_policy.ros.inputs import InputTracker
from pi0_policy.ros.parameters import declare_parameters, read_parameters
from pi0_policy.ros.status import StatusReport, to_diagnostics_msg, to_status_msg
from pi0_policy.ros.worker import InferenceWorker

MAX_INSTRUCTION_CHARS = 500
MAX_ENSEMBLE_CHUNKS = 8  # temporal ensembling: earlier chunks kept (50 actions / replan 4 → ~12 overlap)
_STATES = {1: "unconfigured", 2: "inactive", 3: "active", 4: "finalized", 10: "configuring"}


def load_pi0_policy(params):
    """Default policy factory: the ``backend`` parameter's (local checkpoint or remote server)."""
    from pi0_policy.policy.factory import make_policy

    return make_policy(params)


class PolicyNode(LifecycleNode):
    """Runs a policy on one robot. ``policy_factory(params) -> BasePolicy`` replaces the π0
    checkpoint loader (e.g. a remote policy, or the bench's zero policy); other kwargs go to
    rclpy's Node (namespace, parameter_overrides, cli_args)."""

    def __init__(self, node_name: str = "pi0_policy", *, policy_factory=None, **kwargs):
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self._policy_factory = policy_factory or load_pi0_policy
        self._lock = threading.RLock()
        self._state = (1, "unconfigured")
        self._config_fault = ""
        self._built = []  # subscriptions, publishers, services, timers of configure; cleanup destroys them
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", qos.REPORT)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos.REPORT)
        self._reset_run_state()
        self.params = self.spec = self.adapter = self.policy = self.tracker = self.worker = None
        self._last_status_key = None
        if self.get_parameter("autostart").value or self.get_parameter("autoconfigure").value:
            self._autostart_timer = self.create_timer(0.01, self._autostart)

    # ---- lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        self._set_state(10)  # "configuring": the CLI shows "loading checkpoint …" meanwhile
        try:
            self._configure()
        except (ValueError, KeyError, OSError, RuntimeError, ImportError) as e:
            return self._fail_configure(str(e).strip("'\""))
        except Exception as e:  # noqa: BLE001 - a bug, not a bad configuration: ERROR, then on_error
            self.get_logger().error(f"configure raised {e!r}")
            self._config_fault = f"configure error: {type(e).__name__}: {e}"
            return TransitionCallbackReturn.ERROR
        self._config_fault = ""
        self._set_state(2)
        self.get_logger().info(f"configured: {self.spec.name}, checkpoint {self.params.checkpoint}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        with self._lock:
            self._reset_run_state()
            self._active = True
        self._set_state(3)
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        with self._lock:
            self._active = False
        self.worker.wait_idle(timeout=30.0)
        self._hold(self._now(), "deactivated")
        self._set_state(2)
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self._set_state(1)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        with self._lock:
            self._active = False
        if self.worker is not None:
            self._hold(self._now(), "shutdown")
        self._release()
        self._set_state(4)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self._release()
        self._set_state(1)
        return TransitionCallbackReturn.SUCCESS

    def _autostart(self):
        self._autostart_timer.cancel()
        self.destroy_timer(self._autostart_timer)
        configured = self.trigger_configure() == TransitionCallbackReturn.SUCCESS
        if configured and self.get_parameter("autostart").value:
            self.trigger_activate()

    # ---- configure ---------------------------------------------------------------------------
    def _configure(self):
        from pi0_hw_interfaces.embodiment import load_embodiment

        from pi0_policy.policy.adapters import EmbodimentAdapter, load_adapter_config
        from pi0_policy.ros.conversions import make_bridge

        self.params = p = read_parameters(self)
        self.spec = spec = load_embodiment(p.embodiment)
        self.policy = self._policy_factory(p)
        meta = self.policy.metadata
        # the checkpoint's convention profile (pi0ros when it records none); a mismatch is an error
        self.adapter = EmbodimentAdapter(spec, load_adapter_config(spec.name, p.adapter_file or None),
                                         profile=meta.get("profile"))
        if meta.get("image_keys"):  # a remote (openpi) server may not tell its keys
            self.adapter.check_image_keys(meta["image_keys"])
        if meta.get("state_dim", spec.state_dim) != spec.state_dim or meta.get("action_dim", spec.action_dim) \
                < spec.action_dim:  # a remote (openpi) server may not tell its dims
            raise ValueError(f"checkpoint {p.checkpoint} has state_dim {meta['state_dim']} and action_dim "
                             f"{meta['action_dim']}; embodiment {spec.name} needs {spec.state_dim} and "
                             f"{spec.action_dim}")
        self.replan_interval = p.replan_interval or spec.replan_interval
        self._action_names = list(self.adapter.action_names)
        self._joint_cols = [i for i, d in enumerate(spec.action_dims) if d.kind != "base"]
        self._joint_names = [self._action_names[i] for i in self._joint_cols]
        self._max_velocity = spec.limits(self._joint_names)[2]
        self._base_cols = {d.name: i for i, d in enumerate(spec.action_dims) if d.kind == "base"}
        if p.warmup:
            self._warmup()
        self.tracker = InputTracker(joints=spec.joint_names, joint_topic=p.joint_state_topic
                                    or spec.joint_state_topic, max_age=p.max_input_age,
                                    max_skew=p.max_input_skew, bridge=make_bridge(),
                                    known_joints=tuple(spec.base.wheel_joints) if spec.base else ())
        self._create_endpoints()
        self.worker = InferenceWorker(on_error=self._on_worker_error)

    def _warmup(self):
        blank = {c.role: np.zeros((c.height, c.width, 3), np.uint8) for c in self.spec.cameras}
        positions = {j.name: float(np.clip(0.0, j.lower, j.upper)) for j in self.spec.joints}
        obs = self.adapter.encode({"images": blank, "positions": positions, "prompt": "warm up"})
        self.policy.infer(obs)

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
        self._keep(self.create_subscription(JointState, tracker.joint_topic,
                                            lambda m: tracker.on_joint_state(m, self._now()), qos.SENSOR))
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
        self._set_state(1)
        return TransitionCallbackReturn.FAILURE

    def _release(self):
        if self.worker is not None:
            self.worker.stop(timeout=30.0)
        for entity in reversed(self._built):
            self._destroy(entity)
        self._built.clear()
        if hasattr(self.policy, "close"):  # a remote policy's connection
            self.policy.close()
        self.params = self.spec = self.adapter = self.policy = self.worker = self.tracker = None
        self._reset_run_state()

    # ---- runtime -----------------------------------------------------------------------------
    def _reset_run_state(self):
        self._active = False
        self._chunk = None            # the ScheduledChunk being executed
        self._history = []            # recent chunks, for temporal ensembling
        self._next_plan = -math.inf   # time of the next planning job
        self._sequence = 0
        self._chunks_published = 0
        self._policy_fault = ""
        self._input_faults = []
        self._latency = {}

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

    def _tick(self):
        """Control-rate timer: fault checks, holds, base velocity stream, planning jobs."""
        now = self._now()
        with self._lock:
            if not self._active:
                return
            faults = self.tracker.faults(now)
            self._input_faults = faults
            if faults or not self.tracker.instruction:
                if self._chunk is not None:
                    self._hold(now, "; ".join(faults) or "empty instruction")
            elif now >= self._next_plan and not self.worker.busy:
                self.worker.submit(self._plan)
            chunk = self._chunk
        if self._twist_pub and not self.params.dry_run:
            vel = commands.base_velocity_at(chunk, self._base_cols, now)
            self._twist_pub.publish(commands.twist(vel, self._twist_stamped, now))
        self._publish_status()

    def _hold(self, now: float, reason: str):
        """Replace any running chunk by a hold at the measured position, and stop the base."""
        with self._lock:
            was_running, self._chunk, self._history = self._chunk is not None, None, []
            self._next_plan = -math.inf
        if self.params is None or self.params.dry_run or self.tracker is None:
            return
        if was_running:
            self.get_logger().warning(f"holding: {reason}")
        positions = self.tracker.current_positions()
        for joints, pub in self._traj_pubs:
            msg = commands.hold_trajectory(joints, positions, self.spec.dt)
            if msg is not None:
                pub.publish(msg)
        if self._twist_pub:
            zero = {axis: 0.0 for axis in self._base_cols}
            self._twist_pub.publish(commands.twist(zero, self._twist_stamped, now))

    def _plan(self):
        """Worker thread: one chunk from the latest inputs, published if still active and valid."""
        t_start = time.perf_counter()
        snap, faults = self.tracker.snapshot(self._now())
        if snap is None or not snap.prompt:
            return
        robot_obs = {"images": snap.images, "positions": snap.positions, "prompt": snap.prompt}
        try:
            obs = self.adapter.encode(robot_obs)
            t_encoded = time.perf_counter()
            out = self.policy.infer(obs)
            t_inferred = time.perf_counter()
            actions = self.adapter.decode(out["actions"], snap.positions)
        except ValueError as e:
            with self._lock:
                self._policy_fault = f"policy: {e}"
            self._hold(self._now(), self._policy_fault)
            return
        now = self._now()
        chunk = schedule_chunk(actions, snap.obs_time, now, self.spec.dt)
        with self._lock:
            if not self._active or not self.tracker.instruction or self.tracker.faults(now):
                return  # deactivated, cleared or faulted while the model ran: the tick holds
            if not len(chunk.actions):
                self._policy_fault = (f"policy: inference took {now - snap.obs_time:.2f} s, longer than the "
                                      f"whole chunk; holding")
                self._hold(now, self._policy_fault)
                return
            if self.params.execution_mode == "temporal_ensemble":
                # ACT: blend with the raw predictions of earlier chunks still covering the future
                self._history = [c for c in self._history if c.end > now][-MAX_ENSEMBLE_CHUNKS:]
                raw, chunk = chunk, temporal_ensemble(self._history, chunk, self.params.ensemble_decay)
                self._history.append(raw)
            chunk = self._cap_velocity(chunk, self.tracker.current_positions())
            self._chunk, self._policy_fault = chunk, ""
            self._next_plan = snap.obs_time + self.replan_interval * self.spec.dt
            sequence, self._sequence = self._sequence, self._sequence + 1
            if not self.params.dry_run:  # under the lock: a hold from the tick cannot interleave
                for joints, pub in self._traj_pubs:
                    pub.publish(commands.joint_trajectory(joints, self._action_names, chunk))
        timing = out.get("timing", {})
        done = time.perf_counter()
        with self._lock:  # recorded before the ActionChunk goes out, so readers see this chunk's numbers
            self._chunks_published += 1
            self._latency = {
                "preprocess": timing.get("preprocess", 0.0) + (t_encoded - t_start),
                "observation_forward": timing.get("observation_forward", 0.0),
                "action_steps": timing.get("action_steps", 0.0),
                "postprocess": timing.get("postprocess", 0.0) + (done - t_inferred),
                "server": timing.get("server", 0.0),    # remote backend only
                "network": timing.get("network", 0.0),  # remote backend only
                "total": self._now() - snap.newest_time,
            }
            latency = dict(self._latency)
        self._chunk_pub.publish(commands.action_chunk(
            chunk, embodiment=self.spec.name, action_names=self._action_names, obs_time=snap.obs_time,
            sequence=sequence, instruction=snap.prompt, inference_latency=done - t_start, latency=latency))

    def _cap_velocity(self, chunk, positions):
        """Limit every step, from the measured position on, to the joints' velocity limits."""
        if any(j not in positions for j in self._joint_names):
            return chunk
        current = np.array([positions[j] for j in self._joint_names])
        actions = np.array(chunk.actions, dtype=np.float64)
        actions[:, self._joint_cols] = cap_step_velocity(current, actions[:, self._joint_cols],
                                                         self._max_velocity, chunk.dt)
        actions = self.adapter.clamp(actions)  # a measured position may lie just outside a limit
        return type(chunk)(start=chunk.start, first=chunk.first, actions=actions,
                           times_from_start=chunk.times_from_start, dt=chunk.dt)

    def _on_worker_error(self, exc: BaseException):
        self.get_logger().error(f"inference job failed: {exc!r}")
        with self._lock:
            self._policy_fault = f"policy: {type(exc).__name__}: {exc}"
        self._hold(self._now(), self._policy_fault)

    # ---- status ------------------------------------------------------------------------------
    def _set_state(self, state_id: int):
        self._state = (state_id, _STATES[state_id])
        self._publish_status(force=True)

    def status_report(self) -> StatusReport:
        now = self._now()
        with self._lock:
            faults = ([self._config_fault] if self._config_fault else []) + list(self._input_faults)
            faults += [self._policy_fault] if self._policy_fault else []
            instruction = self.tracker.instruction if self.tracker else ""
            return StatusReport(
                node_name=self.get_fully_qualified_name(), lifecycle_state_id=self._state[0],
                lifecycle_state=self._state[1], embodiment=self.spec.name if self.spec else "",
                checkpoint=(self.params.checkpoint or self.params.server_uri) if self.params else "", instruction=instruction,
                holding=self._chunk is None or now > self._chunk.end,
                chunks_published=self._chunks_published, latency=dict(self._latency),
                input_ages=self.tracker.ages(now) if self.tracker else [], faults=faults,
                dry_run=bool(self.params and self.params.dry_run))

    def _publish_status(self, force: bool = False):
        report = self.status_report()
        if not force and report.key() == self._last_status_key:
            return
        self._last_status_key = report.key()
        now = self._now()
        self._status_pub.publish(to_status_msg(report, now))
        self._diag_pub.publish(to_diagnostics_msg(report, now))


def main(args=None):
    """Console script ``pi0_policy_node``: spin the node on a multi-threaded executor."""
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)
    node = PolicyNode()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # On SIGINT rclpy has already shut the context down, so no shutdown transition can run:
        # stop the inference thread before the entities it publishes with are destroyed.
        if node.worker is not None:
            node.worker.stop(timeout=30.0)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
