"""Static training-memory estimate of a π0 configuration (weights, gradients, AdamW state).

The network is built on the meta device (no memory), frozen / LoRA-wrapped as training would, and
its parameters counted. Bytes per parameter: frozen weights in their storage dtype (4 float32,
2 bfloat16; ``pi0 train --frozen-dtype bfloat16``), trained weights, their gradients and AdamW's
two moments in float32 (bf16 autocast does the compute). Activations are NOT included: they grow
with batch size and sequence length (867 tokens for π0 at 224 px with 3 cameras: 816 prefix + 51).
"""
from __future__ import annotations

import torch

GIB = 1024 ** 3


def estimate(preset: str = "pi0", freeze: str = "none", lora_rank: int = 0, weights_dtype: str = "float32") -> dict:
    from pi0_policy.model.config import get_config
    from pi0_policy.model.pi0 import Pi0Model
    from pi0_policy.train.finetune import apply_lora, freeze as freeze_model

    with torch.device("meta"):
        model = Pi0Model(get_config(preset))
        freeze_model(model, freeze)
        if lora_rank:
            model = apply_lora(model, lora_rank)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weight_bytes = 4 if weights_dtype == "float32" else 2
    weights = (total - trainable) * weight_bytes + trainable * 4  # trained weights stay float32
    grads = trainable * 4
    adam = trainable * 8
    return {"preset": preset, "freeze": freeze, "lora_rank": lora_rank, "weights_dtype": weights_dtype,
            "parameters": total, "trainable": trainable, "weights_gib": weights / GIB, "grads_gib": grads / GIB,
            "adam_gib": adam / GIB, "total_gib": (weights + grads + adam) / GIB}


ROWS = (("none", 0, "float32"), ("vision", 0, "float32"), ("vlm", 0, "float32"), ("vlm", 0, "bfloat16"),
        ("none", 16, "float32"), ("none", 16, "bfloat16"))


def main() -> None:
    """Print the README's table: ``python -m pi0_policy.train.memory [preset]``."""
    import sys

    preset = sys.argv[1] if len(sys.argv) > 1 else "pi0"
    print("| fine-tuning | frozen weights | trainable params | weights | grads | AdamW | total (no activations) |")
    print("|---|---|---|---|---|---|---|")
    for freeze, rank, dtype in ROWS:
        e = estimate(preset, freeze, rank, dtype)
        what = f"LoRA r={rank}" if rank else ("full" if freeze == "none" else f"freeze {freeze}")
        print(f"| {what} | {dtype} | {e['trainable'] / 1e6:,.0f} M | {e['weights_gib']:.1f} GiB | "
              f"{e['grads_gib']:.1f} GiB | {e['adam_gib']:.1f} GiB | {e['total_gib']:.1f} GiB |")


if __name__ == "__main__":
    main()
