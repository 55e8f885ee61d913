"""Building π0 without waste, and loading/saving its weights in the public key layouts.

Key layouts of a safetensors file (detected from the keys):
- ``openpi``: openpi's converted PyTorch checkpoints and this project's own files: module paths of
  `Pi0Model`, e.g. ``paligemma_with_expert.paligemma.model.language_model.layers.0.mlp.up_proj.weight``,
  ``state_proj.weight``.
- ``lerobot``: LeRobot's pi0 checkpoints: the same keys with a leading ``model.``.

`build_model` creates the module on the meta device (no memory, no random init), then either
assigns the checkpoint's tensors directly in their target dtype and device, or materialises empty
storage and initialises it. Peak memory stays near the size of the weights.

Mixed precision follows openpi: in bfloat16/float16 models the SigLIP patch/position embeddings and
the Gemma RMSNorm weights stay float32 (`keeps_float32`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from transformers.models.gemma.modeling_gemma import GemmaRMSNorm
from transformers.models.siglip.modeling_siglip import SiglipVisionEmbeddings

from .config import Pi0Config
from .pi0 import Pi0Model
from .shared_attention import check_attention

LEROBOT_PREFIX = "model."

# Keys some checkpoints carry that π0 deliberately does not use (skipped on load):
KNOWN_UNUSED = {
    # PaliGemma's LM head is tied to the text embedding and π0 never predicts text.
    "paligemma_with_expert.paligemma.lm_head.weight",  # = TIED_LM_HEAD
    # The action expert embeds no tokens and predicts no text (LeRobot keeps a vestigial head).
    "paligemma_with_expert.gemma_expert.lm_head.weight",
    "paligemma_with_expert.gemma_expert.model.embed_tokens.weight",
}
TEXT_EMBEDDING = "paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
TIED_LM_HEAD = "paligemma_with_expert.paligemma.lm_head.weight"

# Substrings of parameter names kept in float32 in reduced-precision models (openpi's list).
FLOAT32_PARAMS = (
    "vision_tower.vision_model.embeddings.patch_embedding.",
    "vision_tower.vision_model.embeddings.position_embedding.",
    "input_layernorm",
    "post_attention_layernorm",
    "model.norm",
    "language_model.norm",
)


class WeightsError(ValueError):
    """A checkpoint that does not fit the model: lists missing/unexpected keys and shape mismatches."""


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """torch.float32 for "float32"/"fp32"/torch.float32, etc.; unknown names raise ValueError."""
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(names)}")
    return names[dtype]


def keeps_float32(name: str) -> bool:
    return any(part in name for part in FLOAT32_PARAMS)


def param_dtype(name: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype parameter `name` gets in a model of compute dtype `dtype`."""
    return torch.float32 if keeps_float32(name) else dtype


def detect_layout(keys) -> str:
    """"lerobot" when every key starts with "model.", else "openpi"."""
    keys = list(keys)
    return "lerobot" if keys and all(k.startswith(LEROBOT_PREFIX) for k in keys) else "openpi"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _materialise_buffers(model: nn.Module, device: torch.device) -> None:
    """Recreate non-persistent buffers that are not in any checkpoint (SigLIP's position ids)."""
    for module in model.modules():
        if isinstance(module, SiglipVisionEmbeddings):
            ids = torch.arange(module.num_positions, device=device).expand((1, -1))
            module.register_buffer("position_ids", ids, persistent=False)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"tensors left on the meta device after building: {left[:10]}")


@torch.no_grad()
def init_weights(model: Pi0Model, seed: int = 0, std: float = 0.02) -> None:
    """Random initialisation in place, in each parameter's own dtype and device: normal(0, σ) for
    Linear/Conv (σ = min(std, 1/sqrt(fan_in))) and Embedding (σ = std) weights, zero biases,
    LayerNorm (1, 0), Gemma RMSNorm 0 (its scale is 1 + w). Deterministic for a seed and device."""
    generators: dict[torch.device, torch.Generator] = {}

    def normal_(tensor, sigma):
        if tensor.device not in generators:
            generators[tensor.device] = torch.Generator(device=tensor.device).manual_seed(seed)
        tensor.normal_(0.0, sigma, generator=generators[tensor.device])

    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            fan_in = module.weight[0].numel()
            normal_(module.weight, min(std, 1.0 / math.sqrt(fan_in)))
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            normal_(module.weight, std)
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, GemmaRMSNorm):
            module.weight.zero_()


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    return path


def file_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Key → shape of every tensor in safetensors file `path`, without reading the data."""
    with safe_open(str(_check_file(path)), framework="pt", device="cpu") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


def match_keys(shapes: Mapping[str, tuple], model: nn.Module) -> tuple[dict[str, str], list[str]]:
    """Map a file's keys (with their shapes) onto `model`'s parameters.

    Returns (parameter name → file key, problems); problems is empty when the file fits, else
    it holds "missing keys: [...]", "unexpected keys: [...]" and/or "shape mismatches: [...]"
    entries naming each key. The layout is detected (`detect_layout`); `KNOWN_UNUSED` keys are
    skipped; a file with a PaliGemma LM head but no text embedding uses the (tied) head.
    """
    strip = len(LEROBOT_PREFIX) if detect_layout(shapes) == "lerobot" else 0
    names = {key[strip:]: key for key in shapes}
    if TEXT_EMBEDDING not in names and TIED_LM_HEAD in names:
        names[TEXT_EMBEDDING] = names.pop(TIED_LM_HEAD)
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(names))
    unexpected = sorted(set(names) - set(params) - KNOWN_UNUSED)
    mapping = {name: names[name] for name in params if name in names}
    wrong = [f"{key}: file {tuple(shapes[key])} vs model {tuple(params[name].shape)}"
             for name, key in mapping.items() if tuple(shapes[key]) != tuple(params[name].shape)]
    found = (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong))
    return mapping, [f"{what}: {items}" for what, items in found if items]


def read_state_dict(path: str | Path, model: nn.Module, dtype: torch.dtype,
                    device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of safetensors file `path` under `model`'s parameter names, each converted to
    its target dtype (`param_dtype`) on `device` as it is read. Raises WeightsError naming every
    missing key, unexpected key and shape mismatch (see `match_keys`)."""
    mapping, problems = match_keys(file_shapes(path), model)
    if problems:
        name = getattr(getattr(model, "config", None), "name", "?")
        raise WeightsError(f"{path} does not fit config {name!r}:\n  " + "\n  ".join(problems))
    with safe_open(str(path), framework="pt", device="cpu") as f:
        return {
            name: f.get_tensor(key).to(device=device, dtype=param_dtype(name, dtype))
            for name, key in mapping.items()
        }


def build_model(config: Pi0Config, dtype: torch.dtype | str = torch.float32,
                device: torch.device | str = "cpu", weights: str | Path | None = None,
                seed: int = 0, attention: str = "sdpa") -> Pi0Model:
    """A Pi0Model in eval mode, built on the meta device then materialised on `device`.

    weights: a safetensors file in the openpi or LeRobot layout (see module docstring), loaded
    strictly; None initialises randomly with `seed`. dtype: the compute dtype ("float32",
    "bfloat16", ...); reduced-precision models keep the parameters of `FLOAT32_PARAMS` in float32.
    attention: the shared layers' attention, "sdpa" (fused) or "eager" (the reference).
    """
    dtype, device = resolve_dtype(dtype), torch.device(device)
    check_attention(attention)
    with torch.device("meta"):
        model = Pi0Model(config)
    if weights is not None:
        state = read_state_dict(weights, model, dtype, device)
        model.load_state_dict(state, strict=True, assign=True)
        del state
    else:
        for name, param in model.named_parameters():  # free on meta: storage comes next, once
            param.data = param.data.to(param_dtype(name, dtype))
        model.to_empty(device=device)
        init_weights(model, seed)
    _materialise_buffers(model, device)
    model.attention = attention
    return model.eval()


def load_weights(model: Pi0Model, path: str | Path) -> None:
    """Load `path` (openpi or LeRobot layout) into an existing model, keeping its dtypes/device."""
    dtype, device = model.dtype, model.device
    state = read_state_dict(path, model, dtype, device)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(state[name])


def save_weights(model: Pi0Model, path: str | Path, layout: str = "openpi") -> None:
    """Write the model's parameters to a safetensors file in `layout` ("openpi" or "lerobot")."""
    if layout not in ("openpi", "lerobot"):
        raise ValueError(f"unknown layout {layout!r}; choose 'openpi' or 'lerobot'")
    prefix = LEROBOT_PREFIX if layout == "lerobot" else ""
    # state_dict, not named_parameters: packed layers (`packed_linear`) give their weights there only
    tensors = {prefix + name: p.detach().contiguous().cpu() for name, p in model.state_dict().items()}
    save_file(tensors, str(path))
