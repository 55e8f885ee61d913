"""A stand-in for openpi's own ALOHA policy server (``scripts/serve_policy.py`` with a pi0_aloha
config), at its boundary: a real websocket server speaking openpi's protocol with the project's
msgpack codec (metadata first, then one binary reply per observation, a text traceback on error).

What it checks is what openpi's ``AlohaInputs`` requires of a request (openpi/src/openpi/policies/
aloha_policy.py): ``state`` float[14]; ``images`` a dict of uint8 [3, H, W] under
``cam_high`` (required), ``cam_low``, ``cam_left_wrist``, ``cam_right_wrist``, nothing else; an optional
``prompt`` string. Like openpi's server (AlohaOutputs after AbsoluteActions) it returns absolute
robot-space actions ``float32[horizon, 14]`` (grippers in aloha_real's normalised [0 closed,
1 open]): a straight ramp from the received state to ``target``. Every request is kept in
``received``; a malformed one is kept in ``errors`` and answered with a text message.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from pi0_policy.policy import codec

ALOHA_CAMERAS = ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")  # AlohaInputs.EXPECTED_CAMERAS


def check_aloha_request(obs) -> None:
    """Raise ``ValueError`` where ``obs`` is not what openpi's AlohaInputs accepts."""
    if not isinstance(obs, dict) or set(obs) - {"state", "images", "prompt"}:
        raise ValueError(f"unexpected keys {sorted(obs) if isinstance(obs, dict) else type(obs)}")
    state = obs["state"]
    if not isinstance(state, np.ndarray) or state.shape != (14,) or state.dtype.kind != "f":
        raise ValueError(f"state must be float[14], got {getattr(state, 'shape', type(state))}")
    images = obs["images"]
    if not isinstance(images, dict) or "cam_high" not in images or set(images) - set(ALOHA_CAMERAS):
        raise ValueError(f"images must hold cam_high and only {ALOHA_CAMERAS}, got {sorted(images)}")
    for key, image in images.items():
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"image {key} must be uint8 [3, H, W], got {image.dtype} {image.shape}")
    if not isinstance(obs.get("prompt", ""), str):
        raise ValueError("prompt must be a string")


class OpenpiAlohaStandin:
    """Serves on 127.0.0.1 (a free port) from a thread; ``stop()`` closes it."""

    def __init__(self, target: np.ndarray, horizon: int = 50, metadata: dict | None = None):
        from websockets.sync.server import serve

        self.target = np.asarray(target, dtype=np.float32)
        self.horizon, self.metadata = horizon, dict(metadata or {})
        self.received: list[dict] = []
        self.errors: list[str] = []
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _handle(self, ws):
        from websockets.exceptions import ConnectionClosed

        ws.send(codec.packb(self.metadata))
        try:
            for message in ws:
                start = time.perf_counter()
                try:
                    obs = codec.unpackb(message)
                    check_aloha_request(obs)
                except (ValueError, KeyError, TypeError) as e:
                    self.errors.append(str(e))
                    ws.send(f"Traceback (stand-in openpi server):\nValueError: {e}")
                    continue
                self.received.append(obs)
                ramp = np.linspace(0.0, 1.0, self.horizon, dtype=np.float32)[:, None]
                state = np.resize(obs["state"].astype(np.float32), self.target.shape)  # a wrong-width server
                actions = state + ramp * (self.target - state)
                infer_ms = (time.perf_counter() - start) * 1000.0
                ws.send(codec.packb({"actions": actions, "policy_timing": {"infer_ms": infer_ms},
                                     "server_timing": {"infer_ms": infer_ms}}))
        except ConnectionClosed:
            pass

    def stop(self):
        self._server.shutdown()
        self._thread.join(10)
