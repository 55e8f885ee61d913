"""`pi0 train DATASETS... --out CKPT`: train or fine-tune π0 on LeRobot v3 datasets.

    pi0 train data/pick --out ckpt --preset pi0_small --image-size 112 --steps 2000
    pi0 train data/pick --out ckpt --init base_ckpt --lora 16 --dtype bfloat16
    torchrun --nproc-per-node 2 -m pi0_bringup.cli train data/a data/b --out ckpt --mixture-alpha 0.43

The output directory is a checkpoint the policy node loads as it is, with metrics.jsonl,
loss.png and train_state.pt (--resume continues from it). See pi0_policy.train.trainer.
Exit status 0 on success; 1 with a one-line error on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _camera_map(items) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"camera map {item!r} must be VIDEO_KEY=MODEL_KEY")
        out[key] = value
    return out


def register(subparsers) -> None:
    from pi0_policy.train.config import DTYPES, FREEZE_CHOICES, TrainConfig

    d = TrainConfig(datasets=[], out="")
    p = subparsers.add_parser("train", help="train or fine-tune π0 on LeRobot v3 datasets",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", type=Path, help="LeRobot v3 dataset directories (a mixture if several)")
    p.add_argument("--out", required=True, type=Path, help="output checkpoint directory")
    p.add_argument("--init", type=Path, help="checkpoint to fine-tune (default: random weights of --preset)")
    p.add_argument("--preset", default=d.preset, help=f"network preset for random init (default {d.preset})")
    p.add_argument("--image-size", type=int, help="model image size (random init only)")
    p.add_argument("--horizon", type=int, help="action horizon (random init only; default the preset's)")
    p.add_argument("--num-cameras", type=int, help="camera slots (random init only)")
    p.add_argument("--embodiment", help="adapter for robot-space datasets (default: the dataset's)")
    p.add_argument("--profile", help="convention profile of the trained checkpoint (policy/profiles: delta "
                   "dimensions, cameras, grippers; default pi0ros, or the --init checkpoint's); recorded in it")
    p.add_argument("--camera-map", nargs="*", help="VIDEO_KEY=MODEL_KEY, e.g. cam_high=base_0_rgb")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--accum", type=int, default=d.accum, help="micro-batches per optimiser step")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear warm-up steps")
    p.add_argument("--final-lr-ratio", type=float, default=d.final_lr_ratio, help="cosine decay floor / peak")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--clip", type=float, default=d.clip, help="gradient clipping norm")
    p.add_argument("--dtype", default=d.dtype, choices=DTYPES, help="float32, or bfloat16 autocast")
    p.add_argument("--frozen-dtype", default=d.frozen_dtype, choices=DTYPES,
                   help="storage dtype of frozen weights (bfloat16 halves them; needs --dtype bfloat16)")
    p.add_argument("--freeze", default=d.freeze, choices=FREEZE_CHOICES, help="parts kept fixed")
    p.add_argument("--lora", type=int, default=0, metavar="RANK", help="LoRA rank (0: off)")
    p.add_argument("--lora-alpha", type=float, help="LoRA alpha (default: the rank)")
    p.add_argument("--mixture-alpha", type=float, default=d.mixture_alpha,
                   help="dataset weights ∝ n^alpha (the paper: 0.43; 1: every frame equal)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:1 (torchrun: per LOCAL_RANK)")
    p.add_argument("--fsdp", action="store_true", help="FSDP instead of DDP under torchrun")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from pi0_policy.train.config import TrainConfig
    from pi0_policy.train.trainer import train

    device = args.device
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    try:
        cfg = TrainConfig(
            datasets=[str(x) for x in args.datasets], out=str(args.out), init=str(args.init) if args.init else None,
            preset=args.preset, image_size=args.image_size, horizon=args.horizon, num_cameras=args.num_cameras,
            embodiment=args.embodiment, profile=args.profile, steps=args.steps, batch_size=args.batch_size, accum=args.accum, lr=args.lr,
            warmup=args.warmup, final_lr_ratio=args.final_lr_ratio, weight_decay=args.weight_decay,
            clip=args.clip, dtype=args.dtype, frozen_dtype=args.frozen_dtype, freeze=args.freeze,
            lora_rank=args.lora, lora_alpha=args.lora_alpha,
            mixture_alpha=args.mixture_alpha, seed=args.seed, log_every=args.log_every,
            save_every=args.save_every, device=device, fsdp=args.fsdp, resume=args.resume,
            progress=not args.no_progress, camera_map=_camera_map(args.camera_map))
        result = train(cfg)
    except (KeyError, ValueError, FileNotFoundError, argparse.ArgumentTypeError) as error:
        print(f"pi0 train: {str(error).strip(chr(34))}", file=sys.stderr)
        return 1
    if result["losses"] and os.environ.get("RANK", "0") == "0":
        print(json.dumps({"step": result["step"], "first_loss": result["losses"][0],
                          "last_loss": result["losses"][-1], "out": result["out"]}))
    return 0
