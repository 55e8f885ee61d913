"""`RemotePolicy` against a real `PolicyServer` (tiny π0, loopback websockets): the same actions
as the local policy, a time split into model / server / network, and every failure (server
down, killed, slow, refusing) a `RemotePolicyError` naming the reason, with reconnection and
backoff until the server is back."""
import threading

import numpy as np
import pytest
from serve_support import ACTION_DIM, HORIZON, ThreadServer, make_aloha_checkpoint, raw_observation

from pi0_policy.policy.remote import RemotePolicy, RemotePolicyError
from pi0_policy.serve.batching import infer_batch

REMOTE_ATOL = 1e-5  # same model object, same noise, the bytes travel exactly: only batching order
KEY = "remote-key"


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    import torch

    from pi0_policy.policy.local import Pi0Policy

    torch.set_num_threads(1)
    return Pi0Policy.from_checkpoint(make_aloha_checkpoint(tmp_path_factory.mktemp("remote") / "aloha"),
                                     num_steps=2)


def test_remote_actions_equal_local_and_time_is_split(policy):
    srv = ThreadServer(policy, api_key=KEY)
    try:
        remote = RemotePolicy(srv.uri, api_key=KEY)
        assert remote.metadata["state_dim"] == 14 and remote.metadata["horizon"] == HORIZON
        obs = raw_observation(3, noise=True)
        out = remote.infer(obs)
        np.testing.assert_allclose(out["actions"], policy.infer(obs)["actions"], atol=REMOTE_ATOL)
        assert out["actions"].shape == (HORIZON, ACTION_DIM)
        timing = out["timing"]
        assert set(timing) == {"preprocess", "observation_forward", "action_steps", "postprocess", "server",
                               "network"}
        assert all(v >= 0 for v in timing.values()) and timing["observation_forward"] > 0
        # the parts add up to the server's own total
        server_total = out["server_timing"]["total_ms"] / 1000
        model = sum(timing[k] for k in ("preprocess", "observation_forward", "action_steps", "postprocess"))
        assert model + timing["server"] == pytest.approx(server_total, abs=1e-6)
        remote.close()
    finally:
        srv.stop()


def test_refusals_name_the_reason(policy):
    srv = ThreadServer(policy, api_key=KEY)
    try:
        with pytest.raises(RemotePolicyError, match=r"refused the connection: HTTP 401 missing or wrong API key"):
            RemotePolicy(srv.uri, api_key="nope")
        remote = RemotePolicy(srv.uri, api_key=KEY)
        with pytest.raises(RemotePolicyError, match=r"refused the request: bad request: state has shape \(2,\)"):
            remote.infer(dict(raw_observation(0, size=32), state=np.zeros(2, np.float32)))
        assert remote.infer(raw_observation(0, size=32))["actions"].shape == (HORIZON, ACTION_DIM)
        remote.close()
    finally:
        srv.stop()
    with pytest.raises(ValueError, match="server_uri 'localhost:8000' must start with ws://"):
        RemotePolicy("localhost:8000")


def test_server_killed_then_back_reconnects_with_backoff(policy):
    srv = ThreadServer(policy)
    port = srv.port
    remote = RemotePolicy(srv.uri, retry_min=0.2, retry_max=0.8, connect_timeout=1.0)
    assert remote.infer(raw_observation(0, size=32))["actions"].shape == (HORIZON, ACTION_DIM)
    srv.stop()
    messages = []
    for _ in range(4):
        with pytest.raises(RemotePolicyError) as failed:
            remote.infer(raw_observation(0, size=32))
        messages.append(str(failed.value))
    assert f"ws://127.0.0.1:{port}" in messages[0]
    assert "closed the connection" in messages[0] or "unreachable" in messages[0]
    assert all("unreachable" in m for m in messages[1:])
    # the waits double up to retry_max
    assert [m.rsplit("retrying in ", 1)[1] for m in messages] == ["0.2 s", "0.4 s", "0.8 s", "0.8 s"]
    assert not remote.connected
    srv = ThreadServer(policy, port=port)
    try:
        assert remote.infer(raw_observation(0, size=32))["actions"].shape == (HORIZON, ACTION_DIM)
        assert remote.connected
    finally:
        remote.close()
        srv.stop()


def test_slow_server_times_out_and_the_next_request_reconnects(policy):
    release = threading.Event()

    def slow(pol, observations):
        release.wait(60)
        return infer_batch(pol, observations)

    srv = ThreadServer(policy, batch_fn=slow)
    try:
        remote = RemotePolicy(srv.uri, timeout=0.3, retry_min=0.1)
        with pytest.raises(RemotePolicyError, match=r"did not answer within 0\.3 s; retrying in 0\.1 s"):
            remote.infer(raw_observation(0, size=32))
        assert not remote.connected  # the late reply cannot be taken for the next request's
        release.set()
        remote.timeout = 60.0  # the held request now runs first: no deadline on the machine's speed
        assert remote.infer(raw_observation(1, size=32))["actions"].shape == (HORIZON, ACTION_DIM)
        remote.close()
    finally:
        release.set()
        srv.stop()
