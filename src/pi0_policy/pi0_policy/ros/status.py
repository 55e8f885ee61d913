"""PolicyStatus and /diagnostics messages from a plain snapshot of the node's state."""
from __future__ import annotations

from dataclasses import dataclass, field

from pi0_hw_interfaces.ros_time import sec_to_time

LATENCY_FIELDS = ("preprocess", "observation_forward", "action_steps", "postprocess", "server", "network",
                  "total")


@dataclass
class StatusReport:
    """What PolicyStatus and the diagnostics say; built by the node, turned into messages here."""

    node_name: str
    lifecycle_state_id: int
    lifecycle_state: str
    embodiment: str = ""
    checkpoint: str = ""
    instruction: str = ""
    holding: bool = True
    chunks_published: int = 0
    latency: dict = field(default_factory=dict)
    input_ages: list = field(default_factory=list)  # (name, topic, age, fresh)
    faults: list = field(default_factory=list)
    dry_run: bool = False

    def key(self) -> tuple:
        """What counts as a change worth an immediate status message."""
        # Faults without their numbers ("stale (0.84 s > 0.50 s)" → "stale"), so a growing age
        # is not a change.
        faults = tuple(f.split(" (")[0] for f in self.faults)
        return (self.lifecycle_state_id, self.instruction, self.holding, faults)


def to_status_msg(report: StatusReport, now: float):
    from pi0_msgs.msg import InputAge, LatencyBreakdown, PolicyStatus

    msg = PolicyStatus()
    msg.header.stamp = sec_to_time(now)
    msg.lifecycle_state_id = report.lifecycle_state_id
    msg.lifecycle_state = report.lifecycle_state
    msg.embodiment = report.embodiment
    msg.checkpoint = report.checkpoint
    msg.instruction = report.instruction
    msg.holding = report.holding
    msg.latency = LatencyBreakdown(**{k: float(report.latency.get(k, 0.0)) for k in LATENCY_FIELDS})
    msg.chunks_published = report.chunks_published
    msg.input_ages = [InputAge(name=n, topic=t, age=float(a), fresh=bool(f))
                      for n, t, a, f in report.input_ages]
    msg.faults = list(report.faults)
    return msg


def to_diagnostics_msg(report: StatusReport, now: float):
    """One DiagnosticStatus: ERROR when configuration failed (unconfigured with faults), WARN on
    faults otherwise, OK when none; key-values give latency, input ages and counters."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus()
    status.name = f"pi0_policy: {report.node_name}"
    status.hardware_id = report.embodiment
    if report.faults and report.lifecycle_state in ("unconfigured", "errorprocessing"):
        status.level, status.message = DiagnosticStatus.ERROR, "; ".join(report.faults)
    elif report.faults:
        status.level, status.message = DiagnosticStatus.WARN, "; ".join(report.faults)
    else:
        status.level = DiagnosticStatus.OK
        status.message = "holding" if report.holding else f"executing: {report.instruction}"
    values = [("lifecycle_state", report.lifecycle_state), ("instruction", report.instruction),
              ("holding", str(report.holding)), ("dry_run", str(report.dry_run)),
              ("chunks_published", str(report.chunks_published))]
    values += [(f"latency.{k}", f"{float(report.latency.get(k, 0.0)):.4f}") for k in LATENCY_FIELDS]
    values += [(f"input_age.{n}", f"{a:.3f}") for n, _, a, _ in report.input_ages]
    status.values = [KeyValue(key=k, value=v) for k, v in values]
    msg = DiagnosticArray()
    msg.header.stamp = sec_to_time(now)
    msg.status = [status]
    return msg
