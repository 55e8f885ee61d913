"""bench/remote_overhead.py runs end to end on pi0_tiny (a `pi0 serve` subprocess, a zero-policy
server process, client threads) and reports consistent numbers; `pi0 serve` refuses bad options
with one line naming them."""
import subprocess
import sys

import pytest
from conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("remote_overhead")


def test_bench_on_tiny(bench, capsys):
    result = bench.main(["--repeats", "2", "--requests", "1", "--rounds", "1", "--clients", "1,2",
                         "--max-batch", "2", "--size", "32", "--threads", "1", "--steps", "1"])
    for key in ("local_ms", "remote_ms", "added_ms", "transport_ms"):
        assert result[key] > 0, key
    assert result["network_ms"] >= 0 and result["server_ms"] >= 0
    assert set(result["throughput"]) == {(2, 1), (2, 2)}
    assert result["throughput"][(2, 1)]["mean_batch"] == 1.0  # one client: nothing to batch with
    assert 1.0 <= result["throughput"][(2, 2)]["mean_batch"] <= 2.0
    assert all(t["rps"] > 0 for t in result["throughput"].values())
    out = capsys.readouterr().out
    assert "added by remote path" in out and "max-batch 2  2 client(s)" in out


def test_bench_rejects_bad_arguments(bench):
    with pytest.raises(SystemExit):
        bench.main(["--clients", "0"])


@pytest.mark.parametrize("args, expected", [
    (["/nonexistent/ckpt"], "pi0 serve: error: "),
    (["/nonexistent/ckpt", "--max-batch", "0"], "--max-batch 0 (>= 1)"),
])
def test_serve_cli_bad_input_is_one_line(args, expected):
    done = subprocess.run([sys.executable, "-m", "pi0_bringup.cli", "serve", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
