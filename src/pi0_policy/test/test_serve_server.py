"""The policy server's behaviour under load and abuse, in process (a `PolicyServer` on a thread,
real tiny π0, real websockets over loopback): inference off the event loop, batching of
concurrent clients, and refused requests (malformed, oversized, pickled, wrong key) that leave
the server serving."""
import http.client
import pickle
import threading

import msgpack
import numpy as np
import pytest
from serve_support import ACTION_DIM, HORIZON, ThreadServer, make_aloha_checkpoint, raw_observation
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from pi0_policy.policy import codec
from pi0_policy.serve.batching import infer_batch

BATCH_ATOL = 1e-4  # float32 matmuls over a batch of 2 vs 1 may sum in another order (CPU)
KEY = "k3y"


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    import torch

    from pi0_policy.policy.local import Pi0Policy

    torch.set_num_threads(1)
    ckpt = make_aloha_checkpoint(tmp_path_factory.mktemp("server") / "aloha")
    return Pi0Policy.from_checkpoint(ckpt, num_steps=2)


class Gate:
    """A batch function that holds every batch until released: inference "takes" as long as the
    test wants, deterministically. It records the batch sizes it ran."""

    def __init__(self):
        self.open = threading.Event()
        self.entered = threading.Event()
        self.sizes = []

    def __call__(self, policy, observations):
        self.entered.set()
        assert self.open.wait(60), "gate never opened"
        self.sizes.append(len(observations))
        return infer_batch(policy, observations)


def healthz(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    return response.status, response.read()


def client(uri, key=KEY, **kwargs):
    ws = connect(uri, additional_headers={"Authorization": f"Api-Key {key}"} if key else None, legacy=True,
                 **kwargs)
    return ws, codec.unpackb(ws.recv(timeout=10))


def ask(ws, obs, timeout=120):
    ws.send(codec.packb(obs))
    reply = ws.recv(timeout=timeout)
    return reply if isinstance(reply, str) else codec.unpackb(reply)


def test_health_and_other_clients_answered_during_inference_and_waiting_requests_batched(policy):
    gate = Gate()
    srv = ThreadServer(policy, api_key=KEY, max_batch=4, batch_fn=gate)
    try:
        first, _ = client(srv.uri)
        first.send(codec.packb(raw_observation(0)))
        assert gate.entered.wait(60)  # the first inference is running (held)
        # meanwhile: health checks, new connections with their metadata, and two more requests
        assert healthz(srv.port) == (200, b"OK\n")
        others = [client(srv.uri) for _ in range(2)]
        assert all(meta["state_dim"] == 14 for _, meta in others)
        for k, (ws, _) in enumerate(others):
            ws.send(codec.packb(raw_observation(k + 1)))
        while srv.server._queue.qsize() < 2:  # both wait in the queue behind the running batch
            threading.Event().wait(0.01)
        gate.open.set()
        replies = [codec.unpackb(ws.recv(timeout=120)) for ws in (first, *[ws for ws, _ in others])]
        assert [r["actions"].shape for r in replies] == [(HORIZON, ACTION_DIM)] * 3
        assert gate.sizes == [1, 2]  # the two that waited ran as one batch
        assert [r["server_timing"]["batch_size"] for r in replies] == [1, 2, 2]
        assert replies[1]["server_timing"]["queue_ms"] > 0
        for ws in (first, *[ws for ws, _ in others]):
            ws.close()
    finally:
        gate.open.set()
        srv.stop()


def test_batched_results_equal_single_results(policy):
    observations = [raw_observation(k, noise=True) for k in range(3)]
    bad = dict(raw_observation(9), state=np.zeros(5, np.float32))
    batched = infer_batch(policy, [observations[0], bad, *observations[1:]])
    assert isinstance(batched[1], ValueError) and "state has shape (5,)" in str(batched[1])
    for obs, out in zip(observations, [batched[0], *batched[2:]]):
        single = policy.infer(obs)["actions"]
        np.testing.assert_allclose(out["actions"], single, atol=BATCH_ATOL)
        assert out["timing"]["batch_size"] == 3


@pytest.fixture(scope="module")
def server(policy):
    srv = ThreadServer(policy, api_key=KEY, max_message_bytes=2**20)
    yield srv
    srv.stop()


def still_serving(srv):
    assert healthz(srv.port) == (200, b"OK\n")
    ws, _ = client(srv.uri)
    out = ask(ws, raw_observation(1, size=64))
    ws.close()
    assert out["actions"].shape == (HORIZON, ACTION_DIM)


def bad_array():  # 13 floats of data for a shape of 14
    return msgpack.packb({"state": {b"__ndarray__": True, b"data": bytes(52), b"dtype": "<f4", b"shape": [14]}})


MALFORMED = {
    "not msgpack": (b"\xc1\xc1\xc1 definitely not msgpack", "not a valid msgpack message"),
    "truncated msgpack": (codec.packb(raw_observation(0, size=8))[:-7], "not a valid msgpack message"),
    "text frame": ("hello", "expected a binary msgpack message"),
    "not a map": (msgpack.packb([1, 2, 3]), "observation must be a map"),
    "array size does not match its shape": (bad_array(), "needs 56 bytes, got 52"),
    "object dtype array": (msgpack.packb({"state": {b"__ndarray__": True, b"data": b"x" * 8, b"dtype": "|O",
                                                    b"shape": [1]}}), "unsupported array dtype '|O'"),
    "unknown camera layout": (codec.packb({"images": {"front": np.zeros((4, 4, 3), np.uint8)}}),
                              "observation layout not recognised"),
    "wrong state size": (codec.packb(dict(raw_observation(0, size=8), state=np.zeros(3, np.float32))),
                         "state has shape (3,), expected (14,)"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_gets_an_error_reply_and_the_server_lives_on(server, case):
    payload, expected = MALFORMED[case]
    ws, _ = client(server.uri)
    ws.send(payload)
    reply = ws.recv(timeout=60)
    assert isinstance(reply, str) and reply.startswith("bad request: ") and expected in reply, reply
    # the same connection still works, and so does the server
    assert ask(ws, raw_observation(0, size=64))["actions"].shape == (HORIZON, ACTION_DIM)
    ws.close()
    still_serving(server)


def test_pickle_is_never_unpickled(server, tmp_path):
    canary = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (open, (str(canary), "w"))

    for payload in (pickle.dumps(Exploit()), msgpack.packb({"state": pickle.dumps(Exploit())})):
        ws, _ = client(server.uri)
        ws.send(payload)
        reply = ws.recv(timeout=60)
        assert isinstance(reply, str) and reply.startswith("bad request: "), reply
        ws.close()
    assert not canary.exists()
    still_serving(server)


def test_oversized_request_closes_that_connection_with_1009(server):
    ws, _ = client(server.uri)
    big = raw_observation(0, size=640)  # 3 × 640×640×3 bytes = 3.7 MB > the 1 MiB limit
    ws.send(codec.packb(big))
    with pytest.raises(ConnectionClosedError) as closed:
        ws.recv(timeout=60)
    assert closed.value.rcvd.code == 1009  # "message too big"
    still_serving(server)


@pytest.mark.parametrize("key", ["wrong", None])
def test_wrong_or_missing_api_key_is_refused(server, key):
    with pytest.raises(InvalidStatus) as refused:
        client(server.uri, key=key)
    assert refused.value.response.status_code == 401
    assert b"API key" in refused.value.response.body
    still_serving(server)


def test_server_refuses_bad_options(policy):
    from pi0_policy.serve.server import PolicyServer

    with pytest.raises(ValueError, match="max_batch must be >= 1, got 0"):
        PolicyServer(policy, max_batch=0)
    with pytest.raises(ValueError, match=r"unknown layout 'robomimic': choose auto, raw or one of \['aloha'"):
        PolicyServer(policy, layout="robomimic")
