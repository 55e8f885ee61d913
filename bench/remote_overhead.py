"""What off-board inference costs: local inference against the remote path over loopback, and the
throughput of one server with several clients.

    python bench/remote_overhead.py [--preset pi0_tiny] [--steps 2] [--cameras 3] [--size 224]
                                    [--repeats 20] [--clients 1,2,4] [--requests 8] [--rounds 3]
                                    [--max-batch 1,4] [--threads 0]

One random checkpoint (state/action 14, ALOHA's) is loaded in this process (local) and served by
``pi0 serve`` in a subprocess on 127.0.0.1 (remote). Observations: ``--cameras`` uint8 images of
``--size``² pixels, a state, a prompt.

1. Local vs remote, one client, ``--repeats`` requests each: medians of the local ``infer`` and of
   the remote round trip, and the time the remote path ADDS per request, measured on each request
   itself: round trip minus the server's model time (serialisation, transport, the server's
   decoding and queueing). The target is ≤ 3 ms for 3 cameras at 224×224. Also the round trip to
   a server (another process) whose policy returns zeros at once: transport and server alone.
2. Throughput: 1, 2, 4 clients (threads with their own `RemotePolicy`) send ``--requests`` each as
   fast as they get answers, against a server with ``--max-batch`` 1 (no batching) and one with 4,
   both up at once and measured in interleaved ``--rounds`` (so that load from other work spreads
   over all cases); requests per second, the ratio to one client, and the mean batch formed.
``--threads N`` (N > 0) gives torch N threads in this process and in the servers (OMP_NUM_THREADS).
Times are wall-clock on this machine; only the ratios in one run compare across machines.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

TARGET_ADDED_MS = 3.0


def observation(cameras: int, size: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    keys = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")[:cameras]
    return {"images": {k: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for k in keys},
            "state": rng.normal(size=14).astype(np.float32), "prompt": "fold the towel"}


class Server:
    """``pi0 serve`` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, checkpoint: Path, steps: int, max_batch: int, device: str, threads: int):
        cmd = [sys.executable, "-m", "pi0_bringup.cli", "serve", str(checkpoint), "--host", "127.0.0.1",
               "--port", "0", "--num-steps", str(steps), "--max-batch", str(max_batch), "--device", device]
        env = dict(os.environ, PYTHONUNBUFFERED="1", **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        for line in self.proc.stdout:
            if line.startswith("serving on ws://"):
                self.uri = line.split()[2]
                break
        else:
            raise SystemExit(f"pi0 serve exited with {self.proc.wait()}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class ZeroPolicy:
    """No model: zeros of the right shape at once (for the transport-only round trip)."""

    metadata = {"state_dim": 14, "action_dim": 14, "horizon": 50,
                "image_keys": ["base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb"]}

    def infer(self, obs):
        return {"actions": np.zeros((50, 14), np.float32), "timing": {}}


def serve_zero() -> None:
    """``remote_overhead.py --zero-server``: serve `ZeroPolicy` on a free port, print the port."""
    from pi0_policy.serve.server import PolicyServer

    PolicyServer(ZeroPolicy(), host="127.0.0.1", port=0).serve_forever(lambda port: print(port, flush=True))


def transport_only(obs, repeats: int) -> float:
    """Median round trip (ms) to a zero-policy server in another process."""
    from pi0_policy.policy.remote import RemotePolicy

    proc = subprocess.Popen([sys.executable, __file__, "--zero-server"], stdout=subprocess.PIPE, text=True)
    try:
        remote = RemotePolicy(f"ws://127.0.0.1:{int(proc.stdout.readline())}", timeout=60)
        trips = []
        for _ in range(repeats + 2):
            start = time.perf_counter()
            remote.infer(obs)
            trips.append(time.perf_counter() - start)
        remote.close()
        return 1000 * statistics.median(trips[2:])
    finally:
        proc.terminate()
        proc.wait(30)


def local_vs_remote(policy, remote, obs, repeats: int) -> dict:
    for _ in range(2):  # warm up both paths
        policy.infer(obs), remote.infer(obs)
    local, trip, added, network, server = [], [], [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.infer(obs)
        local.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = remote.infer(obs)
        trip.append(time.perf_counter() - start)
        added.append(trip[-1] - out["policy_timing"]["infer_ms"] / 1000)
        network.append(out["timing"]["network"])
        server.append(out["timing"]["server"])
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    return {"local_ms": ms(local), "remote_ms": ms(trip), "added_ms": ms(added),
            "added_p90_ms": 1000 * float(np.percentile(added, 90)), "network_ms": ms(network),
            "server_ms": ms(server)}


def throughput(uri: str, clients: int, requests: int, obs: dict) -> tuple[float, list[int]]:
    """(wall seconds for ``clients`` × ``requests`` requests, the batch size of each)."""
    from pi0_policy.policy.remote import RemotePolicy

    policies = [RemotePolicy(uri, timeout=600) for _ in range(clients)]
    for p in policies:
        p.infer(obs)
    batches: list[int] = []
    lock = threading.Lock()

    def work(policy):
        for _ in range(requests):
            size = policy.infer(obs)["server_timing"]["batch_size"]
            with lock:
                batches.append(size)

    threads = [threading.Thread(target=work, args=(p,)) for p in policies]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for p in policies:
        p.close()
    return wall, batches


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="pi0_tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=2, help="flow-matching steps (default 2)")
    parser.add_argument("--cameras", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clients", default="1,2,4")
    parser.add_argument("--requests", type=int, default=8, help="requests per client (throughput)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds")
    parser.add_argument("--max-batch", default="1,4", help="server --max-batch values to compare")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    max_batches = [int(b) for b in args.max_batch.split(",")]
    if min(args.repeats, args.requests, args.rounds, args.steps, args.size, *clients, *max_batches) < 1:
        parser.error("--repeats, --requests, --rounds, --steps, --size, --clients, --max-batch must be >= 1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from pi0_policy.policy.checkpoint import make_random_checkpoint
    from pi0_policy.policy.local import Pi0Policy
    from pi0_policy.policy.remote import RemotePolicy

    obs = observation(args.cameras, args.size)
    result = {"throughput": {}}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_random_checkpoint(Path(tmp) / "ckpt", preset=args.preset, state_dim=14, action_dim=14, seed=0)
        policy = Pi0Policy.from_checkpoint(ckpt, device=args.device, num_steps=args.steps)
        servers = {}
        try:
            for max_batch in max_batches:
                servers[max_batch] = Server(ckpt, args.steps, max_batch, args.device, args.threads)
            remote = RemotePolicy(servers[max_batches[0]].uri, timeout=600)
            result.update(local_vs_remote(policy, remote, obs, args.repeats))
            remote.close()
            result["transport_ms"] = transport_only(obs, args.repeats)
            runs = {(b, n): (0.0, []) for b in max_batches for n in clients}
            for _ in range(args.rounds):
                for key in runs:
                    wall, batches = throughput(servers[key[0]].uri, key[1], args.requests, obs)
                    runs[key] = (runs[key][0] + wall, runs[key][1] + batches)
        finally:
            for server in servers.values():
                server.stop()
    for key, (wall, batches) in runs.items():
        result["throughput"][key] = {"rps": len(batches) / wall, "mean_batch": float(np.mean(batches))}
    print(f"\n{args.preset}, {args.steps} steps, {args.cameras} camera(s) at {args.size}x{args.size}, "
          f"{args.device}, torch threads {args.threads or 'default'}, {args.repeats} requests; server on 127.0.0.1 "
          "in another process")
    print(f"  local infer           {result['local_ms']:8.2f} ms (median)")
    print(f"  remote round trip     {result['remote_ms']:8.2f} ms (median), "
          f"{result['remote_ms'] / result['local_ms']:.3f}x local")
    print(f"  added by remote path  {result['added_ms']:8.2f} ms median, {result['added_p90_ms']:.2f} ms p90 "
          f"(target <= {TARGET_ADDED_MS:.0f} ms: {'met' if result['added_ms'] <= TARGET_ADDED_MS else 'NOT met'})")
    print(f"    of which network    {result['network_ms']:8.2f} ms, server outside the model "
          f"{result['server_ms']:.2f} ms (medians)")
    print(f"  transport only        {result['transport_ms']:8.2f} ms (median round trip, zero policy, no model)")
    print(f"\nThroughput of one server, {args.requests} requests per client x {args.rounds} interleaved rounds:")
    for (max_batch, n), t in result["throughput"].items():
        base = result["throughput"][(max_batch, clients[0])]["rps"]
        print(f"  max-batch {max_batch}  {n} client(s)  {t['rps']:7.2f} req/s  {t['rps'] / base:5.2f}x "
              f"{clients[0]} client(s)  mean batch {t['mean_batch']:.2f}")
    return result


if __name__ == "__main__":
    serve_zero() if sys.argv[1:] == ["--zero-server"] else main()
