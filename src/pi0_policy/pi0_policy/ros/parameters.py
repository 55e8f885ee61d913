"""The policy node's parameters: one schema, declared once, read into a validated dataclass.

Every parameter is declared with its default, a description and (where it has one) its valid
range or choices, from ``SCHEMA``. ``config/pi0_policy.yaml`` lists the same names (a test
checks that they agree). ``read_parameters(node)`` returns :class:`PolicyParams` or raises
``ValueError`` naming the parameter, the bad value and what to set instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from pi0_hw_interfaces.ros_common import Param, declare
from pi0_hw_interfaces.spec_validation import CAMERA_ROLES

from pi0_policy.policy.runtime import COMPILE_MODES, WEIGHT_PACKING
from pi0_policy.ros.topics import INSTRUCTION_TOPIC
from pi0_policy.serve.client_layout import server_layouts

EXECUTION_MODES = ("open_loop", "temporal_ensemble", "rtc")
DTYPES = ("auto", "float32", "bfloat16", "float16")
BACKENDS = ("local", "remote")  # pi0_policy.policy.factory


SCHEMA: tuple[Param, ...] = (
    Param("embodiment", "", "Embodiment class or alias (pi0_hw_interfaces), e.g. mobile_trossen. Required."),
    Param("checkpoint", "", "Checkpoint directory (model.safetensors, config.json, tokenizer.model, "
          "norm_stats.json). Required with backend local."),
    Param("backend", "local", "local: run the checkpoint in this process; remote: send observations to a "
          "policy server (pi0 serve, or openpi's) at server_uri.", choices=BACKENDS),
    Param("server_uri", "", "backend remote: the server, ws://HOST:PORT. Required with backend remote."),
    Param("api_key", "", "backend remote: API key the server requires; empty = none, or $PI0_API_KEY."),
    Param("server_timeout", 5.0, "backend remote: seconds to wait for a reply before the request is a "
          "fault (the robot holds, the node reconnects).", minimum=1e-3),
    Param("server_layout", "pi0ros", "backend remote: pi0ros = pi0 serve (model-space state after the "
          "profile); openpi_<layout> = openpi's own serve_policy.py (raw robot state and cameras under "
          "openpi's keys, robot-space actions back; serve/layouts.yaml).", choices=server_layouts()),
    Param("device", "cpu", "Torch device for the model, e.g. cpu, cuda, cuda:1."),
    Param("dtype", "auto", "Model weights dtype; auto = bfloat16 on CUDA and native-bf16 CPUs (large "
          "models), else float32 (pi0_policy/policy/runtime.py).", choices=DTYPES),
    Param("num_threads", 0, "Torch threads for inference; 0 = chosen from the model size and the cores "
          "this process may use.", minimum=0),
    Param("compile", "none", "torch.compile the model at configure: steps = the Euler steps as one graph, all = "
          "the image encoders and the observation forward too; on CUDA captured as CUDA graphs (the fast "
          "path), on a CPU inductor's kernels. Compiling takes seconds to minutes (warmup pays it).",
          choices=COMPILE_MODES),
    Param("weight_packing", "auto", "Linear weights packed once for oneDNN (the fast CPU path): auto = on a "
          "CPU, not compiled, 5M+ parameters (pi0_policy/policy/runtime.py); packed = always (an error off "
          "the CPU); plain = never.", choices=tuple(WEIGHT_PACKING)),
    Param("num_steps", 0, "Flow-matching integration steps per chunk; 0 = the checkpoint's own value "
          "(its config's num_steps, LeRobot's num_inference_steps; 10 in the paper).", minimum=0),
    Param("adapter_file", "", "Adapter YAML (robot space <-> model space); empty = the packaged one "
          "for the embodiment."),
    *(p for role in CAMERA_ROLES for p in (
        Param(f"cameras.{role}.topic", "", f"Topic of the {role} camera; empty = the spec's topic."),
        Param(f"cameras.{role}.compressed", False,
              f"True if the {role} camera topic carries sensor_msgs/CompressedImage (jpeg/png)."),
        Param(f"cameras.{role}.width", 0, f"Expected width of the {role} camera's images in pixels; other "
              "sizes are a fault. 0 = the spec's.", minimum=0),
        Param(f"cameras.{role}.height", 0, f"Expected height of the {role} camera's images; 0 = the spec's.",
              minimum=0),
    )),
    Param("joint_state_topic", "", "sensor_msgs/JointState topic; empty = the spec's (joint_states)."),
    Param("instruction_topic", INSTRUCTION_TOPIC, "std_msgs/String instruction topic (reliable, "
          "transient local)."),
    Param("replan_interval", 0, "Actions executed per chunk before the next one is computed; 0 = the "
          "spec's (16 at 20 Hz, 25 at 50 Hz).", minimum=0),
    Param("max_input_age", 0.5, "Seconds: an input older than this is stale; no chunk is computed from "
          "stale inputs.", minimum=1e-3),
    Param("max_input_skew", 0.25, "Seconds: the latest samples of all inputs must lie this close "
          "together in time.", minimum=1e-3),
    Param("max_future_stamp", 0.05, "Seconds an input's header stamp may lie ahead of the node's clock; "
          "further ahead is a fault (the clocks disagree): no chunk, hold.", minimum=0.0),
    Param("joint_limit_tolerance", 0.02, "A measured joint position beyond a limit by more than this (rad or "
          "m) is an impossible state: fault, no chunk, hold (commanded inside the limits).", minimum=0.0),
    Param("command_lead", 0.1, "Seconds: actions due within this time of the chunk being ready are "
          "dropped too (publish and delivery time, which reach 0.1 s on a loaded 2-core machine), so "
          "trajectories never start or end in the past; 0 = one control period.", minimum=0.0),
    Param("dry_run", False, "Compute and publish ActionChunk and status, but send no robot commands."),
    Param("execution_mode", "open_loop", "open_loop: execute each chunk as computed (the paper's default);"
          " temporal_ensemble: blend overlapping chunks (the paper found it hurt); rtc: real-time chunking"
          " (the next chunk is guided to continue the executing one; local backend only).",
          choices=EXECUTION_MODES),
    Param("rtc_max_guidance", 5.0, "rtc: the clip β of the guidance weight (Black et al. 2025).", minimum=0.0),
    Param("ensemble_decay", 0.01, "temporal_ensemble: weight exp(-decay * i), i = 0 the oldest chunk "
          "(ACT's m).", minimum=0.0),
    Param("status_rate", 2.0, "Hz of periodic PolicyStatus and /diagnostics (also sent on change).",
          minimum=0.1),
    Param("warmup", True, "Run one inference on blank inputs at configure (first-call latency)."),
    Param("autostart", False, "Configure and activate at start (launch files set it from autostart:=)."),
    Param("autoconfigure", False, "Configure at start (load and warm up the model) but stay inactive "
          "until activated; ignored when autostart is true."),
)

_BY_NAME = {p.name: p for p in SCHEMA}


@dataclass(frozen=True)
class PolicyParams:
    """Validated parameter values (camera settings by role)."""

    embodiment: str
    checkpoint: str
    backend: str
    server_uri: str
    api_key: str
    server_timeout: float
    server_layout: str
    device: str
    dtype: str
    num_threads: int
    compile: str
    weight_packing: str
    num_steps: int | None  # None: the checkpoint's
    adapter_file: str
    camera_topics: dict
    camera_compressed: dict
    camera_sizes: dict
    joint_state_topic: str
    instruction_topic: str
    replan_interval: int
    max_input_age: float
    max_input_skew: float
    max_future_stamp: float
    joint_limit_tolerance: float
    command_lead: float
    dry_run: bool
    execution_mode: str
    ensemble_decay: float
    rtc_max_guidance: float
    status_rate: float
    warmup: bool
    autostart: bool
    autoconfigure: bool


def declare_parameters(node) -> None:
    """Declare every parameter of ``SCHEMA`` on ``node`` (once, in the constructor)."""
    declare(node, SCHEMA)


def validate(values: dict) -> PolicyParams:
    """Check ``{name: value}`` (every name of ``SCHEMA``) and build :class:`PolicyParams`."""
    for name, value in values.items():
        p = _BY_NAME.get(name)
        if p is None:
            raise ValueError(f"unknown parameter {name!r}")
        p.check(value)
    required = ("embodiment", "server_uri" if values.get("backend") == "remote" else "checkpoint")
    for name in required:
        if not str(values[name]).strip():
            raise ValueError(f"parameter {name} is empty: set it (e.g. --ros-args -p {name}:=...)")
    if values.get("server_layout", "pi0ros") != "pi0ros" and values.get("backend") != "remote":
        raise ValueError(f"parameter server_layout={values['server_layout']!r} needs backend remote "
                         f"(backend is {values.get('backend')!r}); set server_layout pi0ros or backend remote")
    return PolicyParams(
        embodiment=values["embodiment"].strip(),
        checkpoint=values["checkpoint"].strip(),
        backend=values["backend"],
        server_uri=values["server_uri"].strip(),
        api_key=values["api_key"],
        server_timeout=float(values["server_timeout"]),
        server_layout=values["server_layout"],
        device=values["device"],
        dtype=values["dtype"],
        num_threads=int(values["num_threads"]),
        compile=values["compile"],
        weight_packing=values["weight_packing"],
        num_steps=int(values["num_steps"]) or None,
        adapter_file=values["adapter_file"],
        camera_topics={r: values[f"cameras.{r}.topic"] for r in CAMERA_ROLES},
        camera_compressed={r: bool(values[f"cameras.{r}.compressed"]) for r in CAMERA_ROLES},
        camera_sizes={r: (int(values[f"cameras.{r}.width"]), int(values[f"cameras.{r}.height"]))
                      for r in CAMERA_ROLES},
        joint_state_topic=values["joint_state_topic"],
        instruction_topic=values["instruction_topic"],
        replan_interval=int(values["replan_interval"]),
        max_input_age=float(values["max_input_age"]),
        max_input_skew=float(values["max_input_skew"]),
        max_future_stamp=float(values["max_future_stamp"]),
        joint_limit_tolerance=float(values["joint_limit_tolerance"]),
        command_lead=float(values["command_lead"]),
        dry_run=bool(values["dry_run"]),
        execution_mode=values["execution_mode"],
        ensemble_decay=float(values["ensemble_decay"]),
        rtc_max_guidance=float(values["rtc_max_guidance"]),
        status_rate=float(values["status_rate"]),
        warmup=bool(values["warmup"]),
        autostart=bool(values["autostart"]),
        autoconfigure=bool(values["autoconfigure"]),
    )


def read_parameters(node) -> PolicyParams:
    """Read the declared parameters of ``node`` and validate them (``ValueError`` on bad values)."""
    return validate({p.name: node.get_parameter(p.name).value for p in SCHEMA})
