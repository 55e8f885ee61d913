"""Shared pieces of the serving tests: a tiny random ALOHA-sized checkpoint, `pi0 serve` as a
subprocess, and an in-process `PolicyServer` on a thread (for tests that stop and restart it or
hold an inference open). Everything is real: the π0 network (pi0_tiny) runs its forward passes,
clients and server talk over loopback TCP websockets.
"""
from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
OPENPI_CLIENT_PYTHON = ROOT / ".venv-openpi-client" / "bin" / "python"
STATE_DIM = ACTION_DIM = 14  # ALOHA
HORIZON = 50                 # pi0_tiny's action horizon
CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")


def make_aloha_checkpoint(path: Path) -> Path:
    from pi0_policy.policy.checkpoint import make_random_checkpoint

    return make_random_checkpoint(path, preset="pi0_tiny", state_dim=STATE_DIM, action_dim=ACTION_DIM, seed=0)


def raw_observation(seed: int = 0, size: int = 224, noise: bool = False) -> dict:
    """An observation in the project's layout (what Pi0Policy.infer takes)."""
    rng = np.random.default_rng(seed)
    obs = {"images": {key: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for key in CAMERAS},
           "state": rng.normal(size=STATE_DIM).astype(np.float32), "prompt": "fold the towel"}
    if noise:
        obs["noise"] = rng.normal(size=(HORIZON, 32)).astype(np.float32)
    return obs


class CliServer:
    """``pi0 serve CHECKPOINT --port 0 ...`` as a subprocess; ``port`` once it printed its address."""

    def __init__(self, checkpoint: Path, *args: str, timeout: float = 120.0):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PI0_API_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pi0_bringup.cli", "serve", str(checkpoint), "--host", "127.0.0.1",
             "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        ready: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        try:
            self.port = ready.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"pi0 serve did not start within {timeout} s:\n" + "".join(self.lines))
        if self.port is None:
            raise AssertionError("pi0 serve exited:\n" + "".join(self.lines))

    def _read(self, ready):
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("serving on ws://"):
                ready.put(int(line.split()[2].rsplit(":", 1)[1]))
        ready.put(None)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ThreadServer:
    """A `PolicyServer` serving on its own event loop thread; ``stop()`` closes it (and its port)."""

    def __init__(self, policy, port: int = 0, **kwargs):
        from pi0_policy.serve.server import PolicyServer

        self.server = PolicyServer(policy, host="127.0.0.1", port=port, **kwargs)
        self._ready: queue.Queue = queue.Queue()
        self._loop = self._stop = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self.port = self._ready.get(timeout=30)
        if isinstance(self.port, BaseException):
            raise self.port

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        try:
            await self.server.run(self._ready.put, self._stop)
        except BaseException as e:  # noqa: BLE001 - handed to the constructor
            self._ready.put(e)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self):
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
            self._thread.join(30)
