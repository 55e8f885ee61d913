"""What `pi0 bringup` and `pi0 demo` check before and while the policy node starts.

- `check_device`: a CUDA device asked of a CPU-only torch fails at once, with the fix, instead
  of after the node has loaded the model (read from torch's installed version, no torch import).
- `state_text`: the policy's state for people ("loading checkpoint …" while it configures).
- `configure_failure`: the reason a configure failed, from the policy's status (an
  unconfigured node reports faults only when its configure failed).
"""
from __future__ import annotations

import os
import shutil

ACTIVATE_HINT = ("activate it with `pi0 lifecycle {node} activate` "
                 "(or `ros2 lifecycle set {node} activate` on a ROS 2 install)")


def nvidia_driver_present() -> bool:
    """True where an NVIDIA driver is installed (nvidia-smi on PATH or /proc/driver/nvidia)."""
    return shutil.which("nvidia-smi") is not None or os.path.isdir("/proc/driver/nvidia")


def torch_build() -> str:
    """The installed torch's version, e.g. "2.13.0+cpu" ("" if torch is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return ""


def check_device(device: str) -> None:
    """ValueError (one line, with the fix) for a CUDA `device` this machine cannot give."""
    if not str(device).strip().startswith("cuda"):
        return
    version = torch_build()
    if version.endswith("+cpu"):
        raise ValueError(
            f"device {device!r}: the installed torch {version} is the CPU build. Use --device cpu, or on a "
            "machine with an NVIDIA GPU install the CUDA build: PI0_TORCH=cuda scripts/setup.sh")
    if not nvidia_driver_present():
        raise ValueError(f"device {device!r}: no NVIDIA driver found on this machine (no nvidia-smi, no "
                         "/proc/driver/nvidia); use --device cpu")


def state_text(summary: dict, checkpoint: str = "") -> str:
    """The policy's lifecycle state, in words: "starting" before its first status,
    "loading checkpoint DIR …" while it configures."""
    state = summary["lifecycle_state"]
    if state == "unknown":
        return "starting"
    if state == "configuring":
        return f"loading checkpoint {checkpoint} …" if checkpoint else "loading the checkpoint …"
    return state


def policy_summary(runner, monitor, name: str) -> dict:
    """`monitor.snapshot()` with the lifecycle state and faults read from the policy node itself
    when it runs in this process (its status messages are not latched: one sent before the
    monitor was discovered, e.g. a configure that failed at once, would be missed)."""
    summary = monitor.snapshot()
    node = runner.nodes.get(name)
    if node is not None and hasattr(node, "status_report"):
        report = node.status_report()
        summary["lifecycle_state"], summary["faults"] = report.lifecycle_state, list(report.faults)
    return summary


def configure_failure(summary: dict) -> str | None:
    """Why the policy's configure failed, or None (not failed, or no status yet)."""
    if summary["lifecycle_state"] == "unconfigured" and summary["faults"]:
        return "; ".join(summary["faults"])
    return None
