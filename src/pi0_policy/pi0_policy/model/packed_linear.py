"""Linear layers with their weights pre-packed for oneDNN: the CPU inference path.

At batch 1 most of π0's matrix products are thin (50 action tokens, 1 state token): torch's default
CPU GEMM repacks the whole weight matrix at every call, which at 50 rows costs as much as the
arithmetic. oneDNN can pack a weight once into its blocked layout and reuse it; measured on a 2-core
AVX-512 machine, one thread, float32, (50×1024)·(1024×4096): 50 → 90 GFLOP/s, and 80 → 105 GFLOP/s
for 816 rows (`bench/model_latency.py --pack` shows it per part).

`pack_linear_weights(module)` replaces every `nn.Linear` below `module` by a `PackedLinear` holding
only the packed weight (an opaque oneDNN tensor: no extra copy stays, so memory is still the
weights' size). It is for inference: the weights get no gradients, and a packed model cannot be
moved, cast or compiled (pack after loading: dtype and device are final). Its state_dict still
holds every weight by its usual name (unpacked on the fly), and loading a state_dict repacks, so
saving a packed model writes the same checkpoint as the unpacked one. Gradients with respect to
the *inputs* do flow (real-time chunking's guidance differentiates the action expert with respect
to x_t): the backward unpacks the weight for that product. The results equal the unpacked layers'
to float rounding (tests check the whole model: sampling, guidance, save/load).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

PACKABLE_DTYPES = (torch.float32, torch.bfloat16)


def packing_unavailable(device: torch.device | str, dtype: torch.dtype) -> str | None:
    """Why weights cannot be packed here (a sentence), or None when they can."""
    if torch.device(device).type != "cpu":
        return f"packed weights are a CPU path (device {device})"
    if dtype not in PACKABLE_DTYPES:
        return f"packed weights support float32 and bfloat16, not {dtype}"
    if not torch.backends.mkldnn.is_available():
        return "this torch build has no oneDNN (mkldnn)"
    return None


class _PackedLinearFunction(torch.autograd.Function):
    """The packed product with a backward for the input only (the weights are frozen)."""

    @staticmethod
    def forward(ctx, rows: Tensor, layer: "PackedLinear") -> Tensor:
        ctx.layer = layer
        return layer.product(rows)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad @ ctx.layer.packed.to_dense().to(grad.dtype), None


class PackedLinear(nn.Module):
    """``y = x·Wᵀ + b`` with W packed once for oneDNN (``torch.ops.mkldnn._linear_pointwise``)."""

    def __init__(self, linear: nn.Linear, rows_hint: int = 64):
        super().__init__()
        weight = linear.weight.detach()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.dtype, self.device, self.rows_hint = weight.dtype, weight.device, rows_hint
        # plain attributes, not parameters/buffers: the packed layout has no place in a state_dict
        self.pack(weight)
        self.bias = None if linear.bias is None else linear.bias.detach().to(weight.dtype)

    def pack(self, weight: Tensor) -> None:
        """Keep `weight` (Float[out, in], this layer's dtype and device) packed, and only so."""
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, self.rows_hint)

    def product(self, rows: Tensor) -> Tensor:
        """``rows·Wᵀ + b`` for rows Float[n, in] (no autograd)."""
        return torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, "none", [], "")

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.in_features)
        if torch.is_grad_enabled() and rows.requires_grad:
            out = _PackedLinearFunction.apply(rows, self)
        else:
            out = self.product(rows)
        return out.reshape(*x.shape[:-1], self.out_features)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"] = self.packed.to_dense()
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        shapes = {"weight": (self.out_features, self.in_features), "bias": (self.out_features,)}
        for name in ("weight", "bias") if self.bias is not None else ("weight",):
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
            elif tuple(state_dict[key].shape) != shapes[name]:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{tuple(state_dict[key].shape)}, the packed layer has {shapes[name]}")
            elif name == "weight":
                self.pack(state_dict[key].detach().to(self.device, self.dtype))
            else:
                self.bias = state_dict[key].detach().to(self.device, self.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={self.dtype}, packed"


def weight_dtype(linear: nn.Module) -> torch.dtype:
    """The weight dtype of an `nn.Linear` or a `PackedLinear`."""
    return linear.dtype if isinstance(linear, PackedLinear) else linear.weight.dtype


def weight_device(linear: nn.Module) -> torch.device:
    return linear.device if isinstance(linear, PackedLinear) else linear.weight.device


def pack_linear_weights(module: nn.Module, rows_hint: int = 64) -> int:
    """Replace every `nn.Linear` below `module` by a `PackedLinear` (in place); returns how many.

    ValueError (naming the layer and the reason) where any layer cannot be packed: not on a CPU,
    another dtype than float32/bfloat16, or no oneDNN; then nothing is replaced."""
    # Names, not the layers: a list of the layers would keep every plain weight alive until the end,
    # doubling peak memory; replaced one at a time, each plain weight is freed as its packed copy is made.
    names = [name for name, m in module.named_modules() if type(m) is nn.Linear]
    for name in names:
        reason = _why_not_packable(module.get_submodule(name))
        if reason:
            raise ValueError(f"cannot pack {name or 'the module'}: {reason}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, PackedLinear(getattr(parent, child), rows_hint))
    return len(names)


def _why_not_packable(linear: nn.Linear) -> str | None:
    return packing_unavailable(linear.weight.device, linear.weight.dtype)
