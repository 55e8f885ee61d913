"""bench/model_latency.py runs on pi0_tiny and reports positive times and a computed cache speed-up."""

import pytest
import torch
from conftest import load_bench

from pi0_policy.model.packed_linear import packing_unavailable


@pytest.fixture(scope="module")
def bench():
    return load_bench("model_latency", skip_missing=True)


def test_bench_main_on_tiny(bench, capsys):
    result = bench.main(["--preset", "pi0_tiny", "--device", "cpu", "--steps", "2", "--repeats", "1",
                         "--cameras", "1", "--uncached-steps", "1"])
    for key in ("image_encoders", "observation_forward", "action_steps", "total", "uncached_total", "build_s",
                "rss_peak_mb"):
        assert result[key] > 0, key
    parts = result["image_encoders"] + result["observation_forward"] + result["action_steps"]
    assert result["total"] == pytest.approx(parts)
    assert result["cached_speedup"] == pytest.approx(result["uncached_total"] / result["total"])
    assert (result["preset"], result["cameras"], result["steps"]) == ("pi0_tiny", 1, 2)
    out = capsys.readouterr().out
    assert "cached sampling speed-up over recomputing every step" in out
    assert "(timed 1 step(s), scaled to 2)" in out


def test_bench_roofline_and_baseline_ratio(bench, capsys):
    result = bench.main(["--preset", "pi0_tiny", "--device", "cpu", "--steps", "2", "--repeats", "1",
                         "--cameras", "1", "--uncached-steps", "1", "--baseline", "eager"])
    assert result["matmul_gflops"] > 0
    for part in ("image_encoders", "observation_forward", "action_steps"):
        row = result["roofline"][part]
        assert row["gflop"] > 0 and row["mbytes"] > 0
        assert row["gflops"] == pytest.approx(row["gflop"] / result[part])
        assert row["of_matmul"] == pytest.approx(row["gflops"] / result["matmul_gflops"])
        assert row["kernels_ms"] > 0  # the part's own matmuls and attention calls, timed bare
        assert row["of_kernels"] == pytest.approx(row["kernels_ms"] / 1e3 / result[part])
        assert row["kernels_of_matmul"] == pytest.approx(row["gflop"] / (row["kernels_ms"] / 1e3)
                                                         / result["matmul_gflops"])
        assert result["speedup_over_baseline"][part] == pytest.approx(result["baseline"][part] / result[part])
    assert result["baseline"]["attention"] == "eager" and result["attention"] == "sdpa"
    assert result["kernels_total_ms"] == pytest.approx(sum(r["kernels_ms"] for r in result["roofline"].values()))
    assert result["kernel_bound_speedup"] == pytest.approx(result["baseline"]["total"] * 1e3
                                                           / result["kernels_total_ms"])
    assert (result["dtype"], result["threads"]) == ("float32", 1)  # auto for pi0_tiny (policy.runtime)
    assert result["packed"] is False  # as the node: pi0_tiny is too small to gain from packed weights
    assert "packed" not in result["baseline"]["label"]  # the reference is the unpacked model
    out = capsys.readouterr().out
    assert "speed-up over the baseline (eager, float32, 1 thread(s)" in out
    assert "roofline: matmul rate in this run" in out
    assert "all parts at their bare kernels:" in out and "x the baseline" in out


def test_bench_baseline_with_other_dtype_and_threads(bench):
    result = bench.run_benchmark("pi0_tiny", "cpu", "float32", steps=1, repeats=1, cameras=1, uncached_steps=1,
                                 progress=False, threads=1, baseline=("eager", "bfloat16", 2))
    assert (result["baseline"]["dtype"], result["baseline"]["threads"]) == ("bfloat16", 2)
    assert result["threads"] == 1 and result["dtype"] == "float32"
    assert result["speedup_over_baseline"]["total"] == pytest.approx(
        result["baseline"]["total"] / result["total"])


@pytest.mark.skipif(packing_unavailable("cpu", torch.float32) is not None, reason="no oneDNN")
def test_bench_packed_weights_on_request(bench, capsys):
    result = bench.main(["--preset", "pi0_tiny", "--device", "cpu", "--steps", "1", "--repeats", "1",
                         "--cameras", "1", "--uncached-steps", "1", "--pack", "on", "--baseline", "sdpa"])
    assert result["packed"] is True and "packed" not in result["baseline"]["label"]
    assert result["weights_mb"] > 0 and result["parameters"] == 681_632  # counted before packing
    assert "attention=sdpa packed weights" in capsys.readouterr().out


def test_bench_rejects_bad_arguments(bench):
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "0"])
