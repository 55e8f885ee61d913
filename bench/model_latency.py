"""π0 inference latency, broken down as in the paper's Table I, for one preset/device/dtype.

    python bench/model_latency.py --preset pi0_small --device cpu --dtype float32 --steps 10 --repeats 5
    python bench/model_latency.py --preset pi0 --dtype bfloat16 --repeats 1 --uncached-steps 1

Random weights unless --weights (latency does not depend on their values; build time does).
Reports, as medians over --repeats: image encoders (with the prompt embedding lookup);
observation forward (prefix + state token through the language model and the expert, filling
the KV cache; image encoders excluded, as in Table I); N action steps; total.
Also build time, peak memory (process RSS high-water mark; CUDA max allocated), and the speed-up
of cached sampling over recomputing the whole sequence at every step, measured in the same run
(with --uncached-steps k < N, k full-sequence steps are timed and scaled to N: said in the output).
Ratios against the paper's RTX 4090 numbers are printed for reference only.

Roofline: per part, the FLOPs and minimum bytes of the config (`pi0_policy.model.cost`), the
achieved GFLOP/s, and its ratio to this machine's matrix-multiply rate in the same dtype, measured
in the same run (one square matmul timed between the rounds, so both see the same load). And a
tighter bound: the part's own kernels (every matmul and attention call, `cost.chunk_kernels`) timed
bare on random data of the same shapes between the rounds; "of kernels" is their time over the
part's time. A part far below the square matmul rate but near its bare kernels is bound by torch's
kernels at those shapes (e.g. 50-row matmuls of the action steps), not by this project's code.
--baseline eager also times the eager (reference) attention on the same model and inputs, rounds
interleaved, and prints the speed-up of the chosen attention over it per part.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from typing import NamedTuple

import torch
from tqdm import tqdm

from pi0_policy.model import Pi0Model, build_model, get_config
from pi0_policy.model.cost import PARTS, Matmul, chunk_cost, chunk_kernels
from pi0_policy.model.packed_linear import PackedLinear, packing_unavailable
from pi0_policy.policy.runtime import decide

TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before anything sets it

# π0 paper, Table I (RTX 4090, 3 cameras, 10 steps), milliseconds.
PAPER_4090_MS = {"image_encoders": 14.0, "observation_forward": 32.0, "action_steps": 27.0, "total": 73.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def _peak_memory_mb(device: torch.device) -> dict:
    peak = {"rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        peak["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak


def matmul_rate(dtype: torch.dtype, device, sizes=(256, 512, 1024), tries: int = 3) -> float:
    """This machine's matrix-multiply rate now, GFLOP/s: the best of `tries` square products of each
    size in `dtype` (after a warm-up) with the current torch threads, by torch's default GEMM and, on
    a CPU with oneDNN, by oneDNN with a packed weight (the faster of the two sets the rate)."""
    best = 0.0
    for size in sizes:
        a = torch.randn(size, size, device=device).to(dtype)
        b = torch.randn(size, size, device=device).to(dtype)
        products = [lambda: torch.mm(a, b)]
        if packing_unavailable(device, dtype) is None:
            packed = PackedLinear(torch.nn.Linear(size, size, bias=False).to(dtype))
            products.append(lambda: packed(a))
        for product in products:
            product()
            for _ in range(tries):
                _, seconds = _timed(product, torch.device(device))
                best = max(best, 2 * size**3 / seconds / 1e9)
    return best


def _bare_kernel(kernel, dtype: torch.dtype, device, packed: bool):
    """A closure running one `cost.Matmul` / `cost.Attention` once on random data of its shapes
    (matmuls with a packed weight when the model runs them so)."""
    if isinstance(kernel, Matmul):
        x = torch.randn(kernel.rows, kernel.fan_in, device=device).to(dtype)
        linear = torch.nn.Linear(kernel.fan_in, kernel.fan_out, bias=False, device=device).to(dtype)
        if packed:
            linear = PackedLinear(linear)
        return lambda: linear(x)
    k = kernel
    q = torch.randn(k.batch, k.heads, k.queries, k.head_dim, device=device).to(dtype)
    key = torch.randn(k.batch, k.kv_heads, k.keys, k.head_dim, device=device).to(dtype)
    value = torch.randn_like(key)
    mask = torch.zeros(k.batch, 1, k.queries, k.keys, device=device, dtype=dtype)  # the model's additive mask
    return lambda: torch.nn.functional.scaled_dot_product_attention(q, key, value, attn_mask=mask,
                                                                     enable_gqa=k.kv_heads != k.heads)


def bare_kernels_seconds(kernels, dtype: torch.dtype, device, packed: bool = False, tries: int = 3) -> float:
    """Seconds the part's kernels take run bare, one after the other with nothing between them
    (random data, same shapes, dtype and torch threads): Σ count × median of `tries` timings."""
    total = 0.0
    for kernel in kernels:
        run = _bare_kernel(kernel, dtype, device, packed)
        run()  # warm-up
        total += kernel.count * statistics.median(_timed(run, torch.device(device))[1] for _ in range(tries))
    return total


class Variant(NamedTuple):
    """One way to run the model: attention implementation, dtype, torch threads, packed weights."""

    attention: str
    dtype: str
    threads: int
    packed: bool = False

    def label(self) -> str:
        return f"{self.attention}, {self.dtype}, {self.threads} thread(s){', packed weights' if self.packed else ''}"


def resolve_variant(attention: str, dtype: str, threads: int, device, config, pack: bool | None = False,
                    compiled: bool = False) -> Variant:
    """dtype "auto", threads 0 and pack None as the node chooses them (`pi0_policy.policy.runtime`)."""
    with torch.device("meta"):
        parameters = sum(p.numel() for p in Pi0Model(config).parameters())
    choice = decide(dtype, threads, str(device), parameters, compile="all" if compiled else "none")
    return Variant(attention, choice.dtype, choice.num_threads, choice.pack if pack is None else bool(pack))


def make_inputs(config, batch: int, device, seed: int = 0) -> dict:
    """Random model-ready inputs: images in [-1, 1], all cameras present, a half-padded prompt."""
    g = torch.Generator().manual_seed(seed)
    n, size, length = config.num_cameras, config.vision.image_size, config.max_token_len
    token_masks = torch.arange(length)[None].expand(batch, -1) < max(1, length // 2)
    inputs = {
        "images": torch.rand(batch, n, 3, size, size, generator=g) * 2 - 1,
        "image_masks": torch.ones(batch, n, dtype=torch.bool),
        "tokens": torch.randint(0, config.vocab_size, (batch, length), generator=g) * token_masks,
        "token_masks": token_masks,
        "state": torch.randn(batch, config.max_state_dim, generator=g),
    }
    noise = torch.randn(batch, config.action_horizon, config.max_action_dim, generator=g)
    return {k: v.to(device) for k, v in inputs.items()}, noise.to(device)


@torch.no_grad()
def run_benchmark(preset="pi0_small", device="cpu", dtype="float32", steps=10, repeats=3, cameras=None,
                  uncached_steps=None, batch=1, compile_steps=False, progress=True, weights=None,
                  attention="sdpa", threads=0, baseline=None, pack=None) -> dict:
    """Measure and return every number the script prints (times in seconds, memory in MB).

    dtype "auto" / threads 0 / pack None: as the policy node chooses them. baseline: None, or an
    (attention, dtype, threads) to time as well (never packed: the reference), rounds interleaved
    with the main variant."""
    device = torch.device(device)
    compile_steps = "steps" if compile_steps is True else (compile_steps or None)
    overrides = {"num_cameras": cameras} if cameras else {}
    config = get_config(preset, **overrides)
    uncached_steps = steps if uncached_steps is None else uncached_steps
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    main = resolve_variant(attention, dtype, threads, device, config, pack, compiled=bool(compile_steps))
    variants = [main]
    if baseline is not None:
        variants.append(resolve_variant(*baseline, device, config))
    def model_key(v: Variant):  # the compiled main variant gets a model of its own (same seed, same weights):
        return (v.dtype, v.packed, bool(compile_steps) and v == main)  # compiling and uncompiling would recompile

    models = {}
    build_s = parameters = weights_mb = None
    for v in variants:
        if model_key(v) not in models:
            m, seconds = _timed(lambda v=v: build_model(config, dtype=v.dtype, device=device, weights=weights),
                                device)
            if build_s is None:
                build_s = seconds
                parameters = sum(p.numel() for p in m.parameters())
                weights_mb = sum(p.numel() * p.element_size() for p in m.parameters()) / 2**20
            if v.packed:
                m.pack_weights()
            models[model_key(v)] = m
    model = models[model_key(main)]
    inputs, noise = make_inputs(config, batch, device)
    if compile_steps:
        model.compile_denoise(observation=compile_steps == "all")

    def one_round(v: Variant) -> dict:
        m = models[model_key(v)]
        m.attention = v.attention
        torch.set_num_threads(v.threads)
        prefix_inputs = [inputs[k] for k in ("images", "image_masks", "tokens", "token_masks")]
        (prefix, valid), images_s = _timed(lambda: m.embed_prefix(*prefix_inputs), device)
        cache, forward_s = _timed(lambda: m.cache_observation(prefix, valid, inputs["state"]), device)
        _, steps_s = _timed(lambda: m.denoise(cache, noise, steps), device)
        return {"image_encoders": images_s, "observation_forward": forward_s, "action_steps": steps_s,
                "total": images_s + forward_s + steps_s}

    rounds = {v: [] for v in variants}
    rates = []
    kernels = chunk_kernels(config, steps, batch)
    bare = {part: [] for part in PARTS}
    for v in variants:
        one_round(v)  # warm-up (allocations, kernel selection, compilation)
    for _ in tqdm(range(repeats), desc=f"{preset} cached", disable=not progress):
        for v in variants:  # interleaved: every variant sees the same load
            rounds[v].append(one_round(v))
        torch.set_num_threads(main.threads)
        rates.append(matmul_rate(model.dtype, device, sizes=(4096, 8192) if device.type == "cuda"
                                 else (256, 512, 1024)))
        for part in PARTS:
            bare[part].append(bare_kernels_seconds(kernels[part], model.dtype, device, main.packed))
    model.attention = main.attention
    torch.set_num_threads(main.threads)
    uncached = []
    for _ in tqdm(range(repeats), desc=f"{preset} uncached", disable=not progress):
        _, seconds = _timed(lambda: model.sample_actions(**inputs, noise=noise, num_steps=uncached_steps,
                                                         use_cache=False), device)
        uncached.append(seconds * steps / uncached_steps)

    def medians(v):
        return {k: statistics.median(r[k] for r in rounds[v]) for k in rounds[v][0]}

    result = medians(main)
    result["uncached_total"] = statistics.median(uncached)
    result["uncached_extrapolated_from_steps"] = uncached_steps
    result["cached_speedup"] = result["uncached_total"] / result["total"]
    if len(variants) > 1:
        base = medians(variants[1])
        result["baseline"] = {"label": variants[1].label(), "attention": variants[1].attention,
                              "dtype": variants[1].dtype, "threads": variants[1].threads, **base}
        result["speedup_over_baseline"] = {k: base[k] / result[k] for k in base}
    result["matmul_gflops"] = statistics.median(rates)
    bytes_per_value = torch.finfo(model.dtype).bits // 8
    costs = chunk_cost(config, steps, bytes_per_value)
    result["roofline"] = {}
    for part in PARTS:
        gflop = costs[part].flops * batch / 1e9
        kernels_s = statistics.median(bare[part])
        result["roofline"][part] = {
            "gflop": gflop, "mbytes": costs[part].bytes / 1e6, "gflops": gflop / result[part],
            "of_matmul": gflop / result[part] / result["matmul_gflops"],
            "kernels_ms": kernels_s * 1e3, "kernels_of_matmul": gflop / kernels_s / result["matmul_gflops"],
            "of_kernels": kernels_s / result[part]}
    result["kernels_total_ms"] = sum(row["kernels_ms"] for row in result["roofline"].values())
    if "baseline" in result:  # the speed-up if every part ran exactly at its bare kernels (no overhead at all)
        result["kernel_bound_speedup"] = result["baseline"]["total"] * 1e3 / result["kernels_total_ms"]
    result.update(build_s=build_s, parameters=parameters, weights_mb=weights_mb)
    result.update(_peak_memory_mb(device))
    result.update(loaded=weights is not None, preset=preset, device=str(device), dtype=main.dtype,
                  steps=steps, repeats=repeats, cameras=config.num_cameras, batch=batch,
                  threads=main.threads, attention=main.attention, compiled=compile_steps, packed=main.packed)
    return result


def format_report(r: dict) -> str:
    lines = [
        f"π0 latency: preset={r['preset']} ({r['parameters']:,} params) device={r['device']} "
        f"dtype={r['dtype']} attention={r['attention']}{' compiled: ' + r['compiled'] if r['compiled'] else ''}"
        f"{' packed weights' if r['packed'] else ''} "
        f"cameras={r['cameras']} steps={r['steps']} repeats={r['repeats']} batch={r['batch']} "
        f"threads={r['threads']}",
        f"{'part':<22}{'ms':>12}{'x paper 4090':>15}",
    ]
    for key, paper in PAPER_4090_MS.items():
        ms = r[key] * 1e3
        lines.append(f"{key:<22}{ms:>12.1f}{ms / paper:>15.1f}")
    note = ("" if r["uncached_extrapolated_from_steps"] == r["steps"]
            else f" (timed {r['uncached_extrapolated_from_steps']} step(s), scaled to {r['steps']})")
    if "baseline" in r:
        lines.append(f"speed-up over the baseline ({r['baseline']['label']}; same inputs and run, "
                     "rounds interleaved):")
        for key, ratio in r["speedup_over_baseline"].items():
            lines.append(f"  {key:<20}{r['baseline'][key] * 1e3:>10.1f} ms -> {r[key] * 1e3:>8.1f} ms"
                         f"{ratio:>8.2f}x")
    lines.append(f"roofline: matmul rate in this run {r['matmul_gflops']:.1f} GFLOP/s "
                 f"({r['dtype']}, {r['threads']} thread(s))")
    lines.append(f"  {'part':<20}{'GFLOP':>10}{'MB':>10}{'GFLOP/s':>10}{'of matmul':>11}"
                 f"{'bare kernels':>14}{'(of matmul)':>13}{'of kernels':>12}")
    for part, row in r["roofline"].items():
        lines.append(f"  {part:<20}{row['gflop']:>10.3f}{row['mbytes']:>10.1f}{row['gflops']:>10.1f}"
                     f"{row['of_matmul']:>10.0%}{row['kernels_ms']:>11.1f} ms{row['kernels_of_matmul']:>12.0%}"
                     f"{row['of_kernels']:>12.0%}")
    lines.append("  (bare kernels: the part's matmuls and attention calls alone, same shapes, dtype and threads, "
                 "in this run;\n   of kernels: their time over the part's, i.e. how close the part is to them)")
    lines.append(f"  all parts at their bare kernels: {r['kernels_total_ms']:.1f} ms"
                 + (f", {r['kernel_bound_speedup']:.2f}x the baseline (the most this dtype and thread count "
                    "can gain with these kernels)" if "kernel_bound_speedup" in r else ""))
    lines += [
        f"{'uncached total':<22}{r['uncached_total'] * 1e3:>12.1f}{'':>15}{note}",
        f"cached sampling speed-up over recomputing every step: {r['cached_speedup']:.2f}x",
        f"build ({'loaded' if r['loaded'] else 'random init'}): {r['build_s']:.2f} s; "
        f"peak RSS {r['rss_peak_mb']:.0f} MB (weights {r['weights_mb']:.0f} MB)"
        + (f"; CUDA max allocated {r['cuda_max_allocated_mb']:.0f} MB" if "cuda_max_allocated_mb" in r
           else ""),
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="pi0_small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="auto: as the policy node chooses (pi0_policy.policy.runtime)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cameras", type=int, default=None, help="default: the preset's (3)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--uncached-steps", type=int, default=None,
                        help="full-sequence steps to time for the uncached baseline (default: --steps)")
    parser.add_argument("--compile", nargs="?", const="steps", default=None, choices=["steps", "all"],
                        help="torch.compile all the Euler steps as one graph (CUDA: captured as CUDA graphs); "
                             "'all': the image encoders and the observation forward too")
    parser.add_argument("--weights", default=None,
                        help="a safetensors file to load (times loading); default: random weights")
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: as the node chooses)")
    parser.add_argument("--pack", default="auto", choices=["auto", "on", "off"],
                        help="linear weights packed for oneDNN (auto: as the node, on a CPU when not compiled)")
    parser.add_argument("--baseline", default=None, choices=["sdpa", "eager"],
                        help="also time this attention, rounds interleaved, and print the speed-up over it")
    parser.add_argument("--baseline-dtype", default=None, help="the baseline's dtype (default: the same)")
    parser.add_argument("--baseline-threads", type=int, default=None,
                        help="the baseline's threads (default: the same; -1: torch's own default)")
    args = parser.parse_args(argv)
    for name in ("steps", "repeats", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    baseline = None
    if args.baseline:
        threads = args.threads if args.baseline_threads is None else args.baseline_threads
        baseline = (args.baseline, args.baseline_dtype or args.dtype,
                    TORCH_DEFAULT_THREADS if threads == -1 else threads)
    result = run_benchmark(args.preset, args.device, args.dtype, args.steps, args.repeats, args.cameras,
                           args.uncached_steps, args.batch, args.compile, weights=args.weights,
                           attention=args.attention, threads=args.threads, baseline=baseline,
                           pack={"auto": None, "on": True, "off": False}[args.pack])
    print(format_report(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
