"""`pi0 serve CHECKPOINT`: serve a π0 checkpoint over openpi's websocket protocol.

    pi0 serve CHECKPOINT [--host 0.0.0.0] [--port 8000] [--api-key KEY] [--device cpu]
                         [--dtype float32] [--num-steps 10] [--max-batch N]
                         [--max-message-bytes 33554432] [--layout auto]

Clients: openpi-client's ``WebsocketClientPolicy(host, port, api_key=...)``, or the policy
node with ``backend:=remote server_uri:=ws://HOST:PORT``. Observations in the project's layout
(``images`` by model image key, ``state``, ``prompt``) or in an openpi layout (ALOHA, LIBERO,
DROID; see pi0_policy/serve/layouts.yaml). Health: ``GET http://HOST:PORT/healthz``.
The API key may also come from the environment variable PI0_API_KEY (kept out of `ps`).
Prints ``serving on ws://HOST:PORT`` once it accepts connections; stops on Ctrl-C / SIGTERM.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve a checkpoint over openpi's websocket protocol",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="checkpoint directory")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000, as openpi; 0 = any free)")
    parser.add_argument("--api-key", default=os.environ.get("PI0_API_KEY"),
                        help="require 'Authorization: Api-Key KEY' (default: $PI0_API_KEY, or none)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    parser.add_argument("--dtype", default="float32", help="model dtype (float32, bfloat16, float16)")
    parser.add_argument("--num-steps", type=int, default=10, help="flow-matching steps (default 10)")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="most waiting requests run in one forward pass (1 = no batching; default 4 on "
                        "a GPU, 1 on the CPU, where bench/remote_overhead.py measured no gain)")
    parser.add_argument("--max-message-bytes", type=int, default=32 * 2**20,
                        help="larger requests close the connection with code 1009 (default 32 MiB)")
    parser.add_argument("--layout", default="auto",
                        help="observation layout: auto (detect), raw, aloha, libero, droid")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up inference")
    parser.set_defaults(func=run)


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="[pi0 serve] %(levelname)s %(message)s")
    if args.max_batch is None:
        args.max_batch = 1 if args.device == "cpu" else 4
    if args.max_batch < 1 or args.max_message_bytes < 1024 or not 0 <= args.port < 65536:
        print(f"pi0 serve: error: --max-batch {args.max_batch} (>= 1), --max-message-bytes "
              f"{args.max_message_bytes} (>= 1024) and --port {args.port} (0..65535) must be in range",
              file=sys.stderr)
        return 1
    from pi0_policy.policy.local import Pi0Policy
    from pi0_policy.serve.server import PolicyServer

    try:
        policy = Pi0Policy.from_checkpoint(args.checkpoint, device=args.device, dtype=args.dtype,
                                           num_steps=args.num_steps)
        server = PolicyServer(policy, host=args.host, port=args.port, api_key=args.api_key,
                              max_batch=args.max_batch, max_message_bytes=args.max_message_bytes,
                              layout=args.layout)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"pi0 serve: error: {e}", file=sys.stderr)
        return 1
    if not args.no_warmup:
        policy.warmup()

    def ready(port):
        meta = policy.metadata
        print(f"serving on ws://{args.host}:{port} ({meta['config']}, state {meta['state_dim']}, "
              f"actions {meta['horizon']}x{meta['action_dim']}, key {'required' if args.api_key else 'none'})",
              flush=True)

    try:
        server.serve_forever(ready)
    except OSError as e:
        print(f"pi0 serve: error: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    return 0
