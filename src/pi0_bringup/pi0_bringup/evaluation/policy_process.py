"""The policy node in a process of its own, as on a robot: `python -m pi0_policy.ros.policy_node`
(what the `pi0_policy_node` console script runs) with a ROS parameter file, talking over DDS.

    with PolicyProcess(params, folder) as policy:   # writes folder/pi0_policy.yaml, logs to
        ...                                         # folder/pi0_policy.log; SIGINT on exit
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from pi0_bringup.robots import POLICY_NODE


def check_checkpoint(checkpoint: str, spec) -> dict:
    """The checkpoint's config.json; ValueError if its dimensions do not fit `spec`."""
    path = Path(checkpoint) / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {checkpoint!r} has no config.json") from None
    dims = (config.get("state_dim"), config.get("action_dim"))
    if None not in dims and dims != (spec.state_dim, spec.action_dim):
        raise ValueError(f"checkpoint {checkpoint!r} has state/action dims {dims[0]}/{dims[1]}; embodiment "
                         f"{spec.name} needs {spec.state_dim}/{spec.action_dim}")
    return config


def checkpoint_preset(config: dict, default: str) -> str:
    """The preset a checkpoint's config.json names (`source.preset` or `preset`), else `default`."""
    return (config.get("source") or {}).get("preset") or config.get("preset") or default


class PolicyProcess:
    """Start the policy node (parameters `params`) in a child process; stop it with SIGINT."""

    def __init__(self, params: dict, folder: Path, node_name: str = POLICY_NODE[2]):
        self.params, self.folder, self.node_name = dict(params), Path(folder), node_name
        self.process: subprocess.Popen | None = None
        self.log_path = self.folder / f"{node_name}.log"

    def start(self) -> "PolicyProcess":
        self.folder.mkdir(parents=True, exist_ok=True)
        param_file = self.folder / f"{self.node_name}.yaml"
        param_file.write_text(yaml.safe_dump({self.node_name: {"ros__parameters": self.params}}))
        command = [sys.executable, "-m", "pi0_policy.ros.policy_node", "--ros-args",
                   "-r", f"__node:={self.node_name}", "--params-file", str(param_file)]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self.process = None

    def __enter__(self) -> "PolicyProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
