"""`RemotePolicy`: a `BasePolicy` whose model runs on a policy server (``pi0 serve`` or openpi's).

It speaks openpi's websocket protocol (see `pi0_policy.serve.server`): connect (``Authorization:
Api-Key KEY`` when a key is set), read the server's metadata, then one binary msgpack message
per observation and one reply with ``actions`` and the timings.

Failures never hang the caller and never return actions:
- server unreachable or refusing the connection (HTTP 401 for a wrong key, ...): `RemotePolicyError`
  naming the URI and the reason; the next attempt waits for a backoff (``retry_min`` doubling up
  to ``retry_max`` seconds; ``infer`` sleeps out the rest of it first), then reconnects;
- no reply within ``timeout`` seconds: the connection is dropped (a late reply must not be taken
  for the next request's) and `RemotePolicyError` raised;
- a text reply (the server's error message): `RemotePolicyError`, connection kept.
After a success the backoff starts again from ``retry_min``.

``out["timing"]`` (seconds): the server's model stages (``preprocess``, ``observation_forward``,
``action_steps``, ``postprocess``, when the server reports them; else ``inference``), plus
``server`` (server time outside the model: decoding, queueing, batching) and ``network`` (round
trip minus the server's total time: serialisation and transport both ways).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Mapping

import numpy as np

from pi0_policy.policy.base import BasePolicy
from pi0_policy.policy import codec

STAGES = ("preprocess", "observation_forward", "action_steps", "postprocess")


class RemotePolicyError(RuntimeError):
    """The server could not be reached, did not answer in time, or refused the request."""


class RemotePolicy(BasePolicy):
    """A policy server at ``uri`` (``ws://host:port``); see the module doc."""

    def __init__(self, uri: str, api_key: str | None = None, timeout: float = 5.0, connect_timeout: float = 3.0,
                 retry_min: float = 0.5, retry_max: float = 5.0, connect: bool = True):
        if not uri.startswith(("ws://", "wss://")):
            raise ValueError(f"server_uri {uri!r} must start with ws:// or wss:// (e.g. ws://gpu-box:8000)")
        if timeout <= 0 or connect_timeout <= 0 or not 0 < retry_min <= retry_max:
            raise ValueError(f"timeouts must be > 0 and 0 < retry_min <= retry_max, got timeout={timeout}, "
                             f"connect_timeout={connect_timeout}, retry_min={retry_min}, retry_max={retry_max}")
        self.uri, self.api_key, self.timeout, self.connect_timeout = uri, api_key or None, timeout, connect_timeout
        self.retry_min, self.retry_max = retry_min, retry_max
        self._ws = None
        self._metadata: dict = {}
        self._backoff = retry_min
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        if connect:
            with self._lock:
                self._connect()

    # ---- connection ---------------------------------------------------------------------------
    def _connect(self) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        headers = {"Authorization": f"Api-Key {self.api_key}"} if self.api_key else None
        try:
            ws = connect(self.uri, additional_headers=headers, compression=None, max_size=None,
                         open_timeout=self.connect_timeout, close_timeout=1.0, legacy=True)
            try:
                metadata = codec.unpackb(ws.recv(timeout=self.connect_timeout))
            except BaseException:
                ws.close()
                raise
        except InvalidStatus as e:
            status = e.response.status_code
            body = e.response.body.decode(errors="replace").strip() if e.response.body else ""
            self._failed(f"server {self.uri} refused the connection: HTTP {status} {body}".strip())
        except (OSError, TimeoutError, WebSocketException, ValueError) as e:
            self._failed(f"server {self.uri} unreachable: {type(e).__name__}: {e}")
        if not isinstance(metadata, dict):
            ws.close()
            self._failed(f"server {self.uri} sent no metadata map (got {type(metadata).__name__})")
        self._ws, self._metadata = ws, metadata

    def _failed(self, reason: str):
        delay = self._backoff
        self._retry_at = time.monotonic() + delay
        self._backoff = min(self._backoff * 2, self.retry_max)
        raise RemotePolicyError(f"{reason}; retrying in {delay:.1f} s")

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()

    def close(self) -> None:
        """Close the connection; a waiting ``infer`` returns with `RemotePolicyError`."""
        self._closed.set()
        with self._lock:
            self._drop()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def metadata(self) -> dict[str, Any]:
        """The server's metadata (our server: ``state_dim``, ``action_dim``, ``horizon``, ``image_keys``,
        ``config``; openpi's: whatever its config sets); empty before the first connection."""
        return dict(self._metadata)

    # ---- inference ----------------------------------------------------------------------------
    def infer(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        with self._lock:
            if self._ws is None:
                wait = self._retry_at - time.monotonic()
                if wait > 0 and self._closed.wait(wait):
                    raise RemotePolicyError(f"remote policy {self.uri} closed")
                self._connect()
            try:
                message = codec.packb(dict(obs))
            except (TypeError, ValueError) as e:
                raise ValueError(f"observation cannot be sent: {e}") from None
            start = time.perf_counter()
            try:
                self._ws.send(message)
                reply = self._ws.recv(timeout=self.timeout)
            except TimeoutError:
                self._drop()
                self._failed(f"server {self.uri} did not answer within {self.timeout:.1f} s")
            except (ConnectionClosed, OSError) as e:
                self._drop()
                self._failed(f"server {self.uri} closed the connection: {e}")
            round_trip = time.perf_counter() - start
            self._backoff = self.retry_min
        if isinstance(reply, str):
            raise RemotePolicyError(f"server {self.uri} refused the request: {reply.strip().splitlines()[-1]}")
        try:
            out = codec.unpackb(reply)
            actions = np.asarray(out["actions"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as e:
            raise RemotePolicyError(f"server {self.uri} sent a malformed reply: {e!r}") from None
        return {"actions": actions, "timing": _timing(out, round_trip),
                **{k: v for k, v in out.items() if k != "actions"}}


def _timing(out: Mapping, round_trip: float) -> dict[str, float]:
    """Seconds: the model's stages, the server's own time around them, the network's."""
    policy_ms = out.get("policy_timing") or {}
    server_ms = out.get("server_timing") or {}
    timing = {k: policy_ms[f"{k}_ms"] / 1000.0 for k in STAGES if f"{k}_ms" in policy_ms}
    model = sum(timing.values()) if timing else float(policy_ms.get("infer_ms", 0.0)) / 1000.0
    if not timing:
        timing["inference"] = model
    server_total = float(server_ms.get("total_ms", server_ms.get("infer_ms", model * 1000.0))) / 1000.0
    timing["server"] = max(server_total - model, 0.0)
    timing["network"] = max(round_trip - server_total, 0.0)
    return timing
