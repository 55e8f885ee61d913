"""The π0 training loop behind `pi0 train`.

Loss: the model's flow-matching loss (`Pi0Model.compute_loss`), averaged over the real action
dimensions and the steps inside the episode. Optimiser: AdamW (betas 0.9/0.95, openpi's), linear
warm-up to ``lr`` over ``warmup`` steps then cosine decay to ``lr * final_lr_ratio`` at ``steps``;
gradient clipping at ``clip`` (global norm); ``accum`` micro-batches per step; compute in float32
or under bfloat16 autocast. Under torchrun every process draws its own batches (seed + rank).

The output directory is a checkpoint the policy node loads as it is (config.json,
model.safetensors, tokenizer.model, norm_stats.json of the dataset), plus ``train_state.pt``
(model, optimiser, scheduler, step, batch-sampler and RNG states: ``resume=True`` continues from
it), ``metrics.jsonl`` (one line per logged step) and ``loss.png``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from pi0_policy.train.config import DTYPES, TrainConfig  # noqa: F401 - re-exported

STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"


def lr_factor(step: int, warmup: int, total: int, final_ratio: float) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based): warm-up, then cosine decay."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def training_profile(cfg: TrainConfig):
    """The convention profile the checkpoint is trained in: --profile, else --init's, else pi0ros."""
    from pi0_policy.policy.profiles import DEFAULT_PROFILE, checkpoint_profile, load_profile

    if cfg.profile:
        return load_profile(cfg.profile)  # ValueError names the profiles
    return checkpoint_profile(cfg.init) if cfg.init else load_profile(DEFAULT_PROFILE)


def build(cfg: TrainConfig):
    """(model, tokenizer path, tokenizer, image_keys, model config) before any training."""
    from pi0_policy.model.config import IMAGE_KEYS, get_config
    from pi0_policy.model.weights import build_model
    from pi0_policy.policy.checkpoint import load_checkpoint
    from pi0_policy.policy.tokenizer import PromptTokenizer, demo_tokenizer_path

    if cfg.init:
        given = [n for n in ("image_size", "horizon", "num_cameras") if getattr(cfg, n)]
        if given:
            raise ValueError(f"{given} set the sizes of a new network; a fine-tuned checkpoint ({cfg.init}) "
                             "keeps its own")
        model, info, tokenizer = load_checkpoint(cfg.init, device=cfg.device)
        return model, info.tokenizer_path, tokenizer, info.image_keys, info.config
    overrides = {}
    if cfg.horizon:
        overrides["action_horizon"] = cfg.horizon
    profile_keys = sorted(set((training_profile(cfg).cameras or {}).values()), key=IMAGE_KEYS.index)
    if cfg.num_cameras:
        overrides["num_cameras"] = cfg.num_cameras
    elif profile_keys:  # a profile that names its cameras: exactly those slots
        overrides["num_cameras"] = len(profile_keys)
    config = get_config(cfg.preset, **overrides)
    if cfg.image_size:
        config = dataclasses.replace(config, vision=dataclasses.replace(config.vision, image_size=cfg.image_size))
    model = build_model(config, device=cfg.device, seed=cfg.seed)
    tok_path = demo_tokenizer_path()
    keys = tuple(profile_keys) if profile_keys and len(profile_keys) == config.num_cameras \
        else IMAGE_KEYS[: config.num_cameras]
    return model, tok_path, PromptTokenizer(tok_path, config.max_token_len), keys, config


def load_datasets(cfg: TrainConfig, config, tokenizer, image_keys):
    from pi0_hw_interfaces.embodiment import load_embodiment
    from pi0_policy.data.dataset import Pi0Dataset
    from pi0_policy.data.lerobot import read_dataset
    from pi0_policy.policy.adapters import EmbodimentAdapter
    from pi0_policy.train.data import mixture_norm_stats

    datasets = []
    profile = training_profile(cfg)
    for root in cfg.datasets:
        data = read_dataset(root)
        name = cfg.embodiment or data.info.get("pi0_embodiment") or None
        adapter = EmbodimentAdapter(load_embodiment(name), profile=profile) if name else None
        datasets.append(Pi0Dataset(data, config, tokenizer, image_keys, adapter, camera_map=cfg.camera_map))
    dims = {(d.state.shape[1], d.action.shape[1]) for d in datasets}
    if len(dims) > 1:
        raise ValueError(f"datasets have different (state, action) dims {sorted(dims)}; a mixture needs one")
    stats = mixture_norm_stats(datasets)
    for ds in datasets:
        ds.norm_stats = stats
    return datasets, stats


def _loss(losses: torch.Tensor, pad_mask: torch.Tensor, action_dim: int) -> torch.Tensor:
    real = losses[:, :, :action_dim]
    return real.sum() / (pad_mask.sum().clamp(min=1) * action_dim)


def train(cfg: TrainConfig, log=print) -> dict:
    """Run training (see the module doc); returns {"step", "losses": [...], "out"}."""
    from tqdm import tqdm

    from pi0_policy.policy.checkpoint import save_checkpoint
    from pi0_policy.policy.profiles import record_profile
    from pi0_policy.train import distributed
    from pi0_policy.train.data import MixtureSampler
    from pi0_policy.train.finetune import apply_lora, freeze, merged_state_dict, trainable_summary

    dist = distributed.setup(cfg.device)
    torch.manual_seed(cfg.seed + dist.rank)
    np.random.seed(cfg.seed + dist.rank)
    random.seed(cfg.seed + dist.rank)
    out = Path(cfg.out)
    model, tok_path, tokenizer, image_keys, config = build(cfg)
    datasets, stats = load_datasets(cfg, config, tokenizer, image_keys)
    profile_name = training_profile(cfg).name  # recorded in every saved checkpoint
    state_dim, action_dim = datasets[0].state.shape[1], datasets[0].action.shape[1]
    freeze(model, cfg.freeze)
    if cfg.lora_rank > 0:
        model = apply_lora(model, cfg.lora_rank, cfg.lora_alpha)
    if cfg.frozen_dtype == "bfloat16":
        for param in model.parameters():
            if not param.requires_grad:
                param.data = param.data.to(torch.bfloat16)
    model.train()
    trainable, total = trainable_summary(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup, cfg.steps, cfg.final_lr_ratio))
    sampler = MixtureSampler(datasets, cfg.mixture_alpha, seed=cfg.seed + dist.rank)
    wrapped = distributed.wrap(distributed.LossModule(model), dist, cfg.device, cfg.fsdp)
    step, history = 0, []
    state_path = out / (STATE_FILE if dist.world_size == 1 else f"train_state.rank{dist.rank}.pt")
    if cfg.resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"cannot resume: {state_path} does not exist")
        saved = torch.load(state_path, map_location=cfg.device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        sampler.load_state_dict(saved["sampler"])
        _set_rng_state(saved["rng"])
        step, history = saved["step"], saved["history"]
    out.mkdir(parents=True, exist_ok=True)
    if dist.main:
        log(f"pi0 train: {sum(len(d) for d in datasets)} frames in {len(datasets)} dataset(s); "
            f"{trainable:,} of {total:,} parameters trainable; {cfg.steps} steps of "
            f"{cfg.batch_size}×{cfg.accum}×{dist.world_size}")
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    autocast = torch.autocast(device_type=cfg.device.split(":")[0], dtype=torch.bfloat16,
                              enabled=cfg.dtype == "bfloat16")
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", disable=not (cfg.progress and dist.main))
    started = time.perf_counter()
    while step < cfg.steps:
        optimizer.zero_grad(set_to_none=True)
        total_loss = 0.0
        for micro in range(cfg.accum):
            batch = {k: v.to(cfg.device) for k, v in sampler.batch(cfg.batch_size).items()}
            sync = micro == cfg.accum - 1 or not dist.enabled
            context = wrapped.no_sync() if not sync and hasattr(wrapped, "no_sync") else _null()
            with context:
                with autocast:
                    losses = wrapped(batch)
                loss = _loss(losses.float(), batch["action_pad_mask"], action_dim) / cfg.accum
                loss.backward()
            total_loss += float(loss.detach())
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip))
        lr_used = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        step += 1
        mean_loss = distributed.all_mean(total_loss, dist, cfg.device)
        history.append(mean_loss)
        bar.update(1)
        bar.set_postfix(loss=f"{mean_loss:.4f}")
        if dist.main and (step % cfg.log_every == 0 or step == cfg.steps):
            record = {"step": step, "loss": mean_loss, "lr": lr_used, "grad_norm": grad_norm,
                      "elapsed_s": round(time.perf_counter() - started, 3)}
            with open(out / METRICS_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")
        if step == cfg.steps or (cfg.save_every and step % cfg.save_every == 0):
            weights = distributed.parameters(wrapped, model)  # every rank: a collective under FSDP
            if dist.main:
                save_checkpoint(out, merged_state_dict(model, weights), config, state_dim, action_dim, tok_path,
                                stats, image_keys=image_keys,
                                source={"kind": "trained", "datasets": [str(d) for d in cfg.datasets],
                                        "init": cfg.init or f"random {config.name}", "step": step})
                record_profile(out, profile_name, "trained")
                plot_losses(history, out / PLOT_FILE)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "sampler": sampler.state_dict(),
                        "rng": _rng_state(), "step": step, "history": history}, state_path)
    bar.close()
    distributed.cleanup(dist)
    return {"step": step, "losses": history, "out": str(out)}


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def plot_losses(losses, path: Path) -> None:
    """Loss per step (and a 20-step moving average) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, lw=0.8, alpha=0.5, label="loss")
    if len(losses) >= 20:
        smooth = np.convolve(losses, np.ones(20) / 20, mode="valid")
        ax.plot(steps[19:], smooth, lw=1.5, label="20-step mean")
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
