"""`pi0 serve` (a subprocess, tiny random π0 with ALOHA's dims) queried by openpi's own client:
openpi-client 0.1.2, unmodified, from its own venv (.venv-openpi-client, made by
scripts/setup.sh: it needs numpy<2). See openpi_client_probe.py for what the client does."""
import json
import subprocess
from pathlib import Path

import pytest
from serve_support import ACTION_DIM, HORIZON, OPENPI_CLIENT_PYTHON, CliServer, make_aloha_checkpoint

PROBE = Path(__file__).with_name("openpi_client_probe.py")
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ckpt = make_aloha_checkpoint(tmp_path_factory.mktemp("serve") / "aloha")
    srv = CliServer(ckpt, "--api-key", KEY, "--num-steps", "2")
    yield srv
    srv.stop()


def test_openpi_client_venv_exists():
    # Not a skip: without it the compatibility test below cannot run, and CI must say so.
    assert OPENPI_CLIENT_PYTHON.exists(), (
        f"{OPENPI_CLIENT_PYTHON} is missing: run scripts/setup.sh (it creates .venv-openpi-client)")


def test_unmodified_openpi_client_gets_actions_and_timing(server):
    assert OPENPI_CLIENT_PYTHON.exists(), f"{OPENPI_CLIENT_PYTHON} is missing: run scripts/setup.sh"
    done = subprocess.run([str(OPENPI_CLIENT_PYTHON), str(PROBE), "127.0.0.1", str(server.port), KEY],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + "\n".join(server.lines[-20:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["numpy"].startswith("1."), "openpi-client's venv must keep its numpy<2"
    meta = report["metadata"]
    assert (meta["state_dim"], meta["action_dim"], meta["horizon"]) == (14, ACTION_DIM, HORIZON)
    assert meta["server"] == "pi0-ros" and "aloha" in meta["layouts"]
    # openpi's ALOHA layout ([3, H, W] images named cam_*) and the project's raw layout both work
    aloha = report["aloha"]
    assert aloha["shape"] == [HORIZON, ACTION_DIM] and aloha["dtype"] == "float32" and aloha["finite"]
    assert {"infer_ms", "queue_ms", "decode_ms", "total_ms", "batch_size"} <= set(aloha["server_timing"])
    assert {"infer_ms", "observation_forward_ms", "action_steps_ms"} <= set(aloha["policy_timing"])
    assert report["raw"]["shape"] == [HORIZON, ACTION_DIM]
    assert "prev_total_ms" in report["raw"]["server_timing"]  # openpi's: the previous request's total
    # a bad request is a text reply the client raises; the connection and server live on
    assert "bad request: observation layout not recognised" in report["bad_request"]
    assert report["after_bad_request"] == [HORIZON, ACTION_DIM]
    # a second client is served while the first one's request is outstanding
    assert report["second_metadata"] == 14
    assert report["second"] == [HORIZON, ACTION_DIM]
    assert report["first_after_second"] == [HORIZON, ACTION_DIM]
    # wrong or missing API key: HTTP 401 at the handshake; the right key still works afterwards
    assert report["wrong_key"] == 401 and report["no_key"] == 401
    assert report["after_refusals"] == [HORIZON, ACTION_DIM]
    assert server.alive()
