"""`PolicyServer`: a websocket policy server speaking openpi's protocol.

Protocol (openpi's ``WebsocketPolicyServer`` / openpi-client's ``WebsocketClientPolicy``):
- connect to ``ws://host:port`` (header ``Authorization: Api-Key KEY`` when the server has a key;
  a wrong or missing key is refused with HTTP 401 before the websocket opens);
- the server sends the policy's metadata (one binary msgpack message);
- then, per request, the client sends an observation (binary msgpack, numpy arrays as in
  `codec`) and gets ``{"actions": float32[H, D], "policy_timing": {...}, "server_timing": {...}}``
  back (times in milliseconds);
- a bad request (not msgpack, a malformed array, an unknown layout, a wrong state size ...) gets a
  text message ``"bad request: ..."`` and the connection stays open (openpi-client raises it as
  ``RuntimeError``); a message over ``max_message_bytes`` closes that connection with code 1009
  (message too big). The server keeps serving everyone else in both cases;
- ``GET /healthz`` answers ``200 OK`` (no key needed).

Inference runs on one worker thread, so the event loop keeps answering health checks and
other clients while the model runs. Requests that wait while a batch runs are taken together
(at most ``max_batch``) into the next forward pass (see `batching`).
"""
from __future__ import annotations

import asyncio
import hmac
import http
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from pi0_policy.policy import codec
from pi0_policy.serve.batching import STAGES, infer_batch
from pi0_policy.serve.layouts import load_layouts, to_model_space

logger = logging.getLogger("pi0.serve")
HEALTH_PATH = "/healthz"
DEFAULT_MAX_MESSAGE_BYTES = 32 * 2**20  # 3 cameras at 480×640 RGB are 2.8 MB
MAX_QUEUED = 4  # received messages buffered per connection while its request runs


def _ms(seconds: float) -> float:
    return seconds * 1000.0


class PolicyServer:
    """Serves ``policy`` (a `Pi0Policy`, or anything with ``infer``/``metadata``) on ``host:port``.

    ``batch_fn(policy, observations) -> results`` runs one batch (default `infer_batch` when the
    policy has ``preprocess``/``model``; else one ``policy.infer`` per observation).
    """

    def __init__(self, policy, host: str = "0.0.0.0", port: int = 8000, api_key: str | None = None,
                 max_batch: int = 4, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 layout: str = "auto", batch_fn: Callable | None = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if layout != "auto" and layout != "raw" and layout not in load_layouts():
            raise ValueError(f"unknown layout {layout!r}: choose auto, raw or one of {sorted(load_layouts())}")
        self.policy, self.host, self.port = policy, host, port
        self.api_key = api_key or None
        self.max_batch, self.max_message_bytes, self.layout = max_batch, max_message_bytes, layout
        self._batch_fn = batch_fn or (infer_batch if hasattr(policy, "preprocess") else _one_by_one)
        self._image_keys = list(policy.metadata.get("image_keys", []))
        self.metadata = dict(policy.metadata, server="pi0-ros", max_batch=max_batch,
                             layouts=["raw", *sorted(load_layouts())])
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pi0_serve_infer")
        self._queue: asyncio.Queue | None = None
        self.bound_port: int | None = None
        self.stats = {"requests": 0, "batches": 0, "errors": 0}

    # ---- connection ---------------------------------------------------------------------------
    def _process_request(self, connection, request):
        if request.path == HEALTH_PATH:
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self.api_key is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Api-Key {self.api_key}".encode()):
                logger.warning("refused %s: %s API key", connection.remote_address, "wrong" if given else "no")
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong API key\n")
        return None

    async def _handler(self, ws) -> None:
        logger.info("connection from %s", ws.remote_address)
        await ws.send(codec.packb(self.metadata))
        prev_total = None
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                received = time.perf_counter()
                try:
                    obs = to_model_space(codec.unpackb(message), self._image_keys, self.layout)
                except ValueError as e:
                    await self._refuse(ws, f"bad request: {e}")
                    continue
                decoded = time.perf_counter()
                future = loop.create_future()
                await self._queue.put((obs, future, decoded))
                try:
                    result, queued, infer_s = await future
                except ValueError as e:
                    await self._refuse(ws, f"bad request: {e}")
                    continue
                except Exception as e:  # noqa: BLE001 - reported to the client, the server lives on
                    logger.exception("inference failed")
                    await self._refuse(ws, f"server error: {type(e).__name__}: {e}")
                    continue
                timing = result["timing"]
                server_timing = {"infer_ms": _ms(infer_s), "decode_ms": _ms(decoded - received),
                                 "queue_ms": _ms(queued), "batch_size": int(timing.get("batch_size", 1))}
                if prev_total is not None:
                    server_timing["prev_total_ms"] = _ms(prev_total)
                model_s = sum(timing.get(k, 0.0) for k in STAGES)
                policy_timing = {"infer_ms": _ms(model_s), **{f"{k}_ms": _ms(timing[k]) for k in STAGES
                                                              if k in timing}}
                server_timing["total_ms"] = _ms(time.perf_counter() - received)
                reply = {"actions": result["actions"], "policy_timing": policy_timing,
                         "server_timing": server_timing}
                await ws.send(codec.packb(reply))
                prev_total = time.perf_counter() - received
        except ConnectionClosed as e:
            logger.info("connection from %s closed (%s)", ws.remote_address, e)

    async def _refuse(self, ws, text: str) -> None:
        self.stats["errors"] += 1
        logger.warning("%s: %s", ws.remote_address, text)
        await ws.send(text)

    # ---- inference ----------------------------------------------------------------------------
    async def _batcher(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            while len(items) < self.max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._batch_fn, self.policy,
                                                     [obs for obs, _, _ in items])
            except Exception as e:  # noqa: BLE001 - every waiting client gets the error
                results = [e] * len(items)
            infer_s = time.perf_counter() - started
            self.stats["batches"] += 1
            self.stats["requests"] += len(items)
            for (_, future, enqueued), result in zip(items, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result((result, started - enqueued, infer_s))

    async def run(self, ready: Callable[[int], Any] | None = None, stop: asyncio.Future | None = None):
        """Serve until ``stop`` resolves (or forever); ``ready(port)`` once listening."""
        self._queue = asyncio.Queue()
        batcher = asyncio.create_task(self._batcher())
        try:
            # max_queue: a client that sends without reading replies is held back by TCP, so one
            # connection buffers at most MAX_QUEUED messages of max_message_bytes
            async with serve(self._handler, self.host, self.port, compression=None, max_queue=MAX_QUEUED,
                             max_size=self.max_message_bytes, process_request=self._process_request) as server:
                self.bound_port = next(iter(server.sockets)).getsockname()[1]
                if ready is not None:
                    ready(self.bound_port)
                await (stop if stop is not None else asyncio.get_running_loop().create_future())
        finally:
            batcher.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)

    def serve_forever(self, ready: Callable[[int], Any] | None = None) -> None:
        """Run until SIGINT or SIGTERM."""
        async def main():
            stop = asyncio.get_running_loop().create_future()
            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
            await self.run(ready, stop)

        asyncio.run(main())


def _one_by_one(policy, observations):
    results = []
    for obs in observations:
        try:
            results.append(policy.infer(obs))
        except ValueError as e:
            results.append(e)
    return results
