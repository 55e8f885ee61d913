"""The layer loop in which the PaliGemma language model and the action expert share self-attention.

Axis letters: b batch, s tokens of one expert, q queries (all experts), k keys (cache + queries),
h query heads, g key/value heads, d head_dim, w width.

Per layer, each token is normalised and projected by its own expert's weights; the Q/K/V of all
experts are concatenated along the sequence, RoPE is applied with the shared positions, one
attention runs (optionally also over cached keys/values of earlier tokens), and each expert applies
its own output projection, residual, norm and MLP to its own tokens. The blocks themselves are
transformers' `GemmaDecoderLayer`s (weights named as transformers names them); only their
submodules are called here, so the loop, the cache and the mask are the project's.

Attention implementations (`ATTENTION`): "sdpa" (the default) is torch's fused
`scaled_dot_product_attention` with grouped-query support (`enable_gqa`: the g key/value heads are
never repeated, nothing is copied to float32; the kernels accumulate logits and softmax in float32);
"eager" is the reference (explicit matmuls and softmax in float32, as LeRobot/openpi write it).

The key/value cache is kept in the layout the kernel reads, Float[b, g, k, d], preallocated with
room for the tokens of later calls (`cache_room`): a later call writes its keys/values into that
room in place instead of concatenating a copy of the whole cache per layer and step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import GemmaConfig
from transformers.models.gemma.modeling_gemma import GemmaDecoderLayer, GemmaRMSNorm

from .config import GemmaSpec
from .packed_linear import weight_dtype

KVCache = list[tuple[Tensor, Tensor]]  # per layer: keys, values Float[b, g, k, d] (RoPE applied)
ATTENTION = ("sdpa", "eager")


def check_attention(name: str) -> str:
    """`name` if it is one of `ATTENTION`, else ValueError naming it and the choices."""
    if name not in ATTENTION:
        raise ValueError(f"unknown attention implementation {name!r}; choose one of {list(ATTENTION)}")
    return name


def gemma_config(spec: GemmaSpec, vocab_size: int, eps: float) -> GemmaConfig:
    """A transformers GemmaConfig for one expert's decoder layers (sizes, activation, norm eps).

    RoPE is not taken from it: `rope_cos_sin` computes it with the Pi0Config's rope_theta."""
    return GemmaConfig(
        vocab_size=vocab_size, hidden_size=spec.width, intermediate_size=spec.mlp_dim,
        num_hidden_layers=spec.depth, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, head_dim=spec.head_dim, hidden_act="gelu_pytorch_tanh",
        hidden_activation="gelu_pytorch_tanh", rms_norm_eps=eps, attention_bias=False,
    )


class GemmaStack(nn.Module):
    """A Gemma decoder stack without RoPE buffers: [embed_tokens], layers.N, norm.

    Named like transformers' GemmaModel so checkpoint keys match; RoPE is computed on the fly
    (no non-persistent buffers, so the stack can be built on the meta device).
    """

    def __init__(self, spec: GemmaSpec, vocab_size: int, eps: float, with_embedding: bool):
        super().__init__()
        config = gemma_config(spec, vocab_size, eps)
        self.spec = spec
        if with_embedding:
            self.embed_tokens = nn.Embedding(vocab_size, spec.width)
        self.layers = nn.ModuleList(GemmaDecoderLayer(config, i) for i in range(spec.depth))
        self.norm = GemmaRMSNorm(spec.width, eps=eps)


def rope_cos_sin(position: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """Float32[b, 1, q, d] cos and sin for positions Long[b, q] (Gemma's half-split RoPE)."""
    exponent = torch.arange(0, head_dim, 2, dtype=torch.float32, device=position.device) / head_dim
    inv_freq = 1.0 / (theta**exponent)
    freqs = position.to(torch.float32)[..., None] * inv_freq
    emb = torch.cat([freqs, freqs], dim=-1)[:, None]
    return emb.cos(), emb.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x Float[b, h, q, d] rotated by position (computed in float32, returned in x's dtype)."""
    xf = x.to(torch.float32)
    half = xf.shape[-1] // 2
    rotated = torch.cat([-xf[..., half:], xf[..., :half]], dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """Float[b, q, h*d]: softmax(q·k / sqrt(d) + mask) · v, logits and softmax in float32.

    q Float[b, h, q, d]; k, v Float[b, g, k, d] (grouped-query: each of the g key/value heads
    serves h/g query heads); mask Float32[b, 1, q, k] additive.
    """
    b, h, nq, d = q.shape
    g = k.shape[1]
    if h != g:
        k = k.repeat_interleave(h // g, dim=1)
        v = v.repeat_interleave(h // g, dim=1)
    logits = torch.matmul(q.to(torch.float32), k.to(torch.float32).transpose(2, 3)) * d**-0.5
    probs = torch.softmax(logits + mask, dim=-1)
    out = torch.matmul(probs.to(v.dtype), v)
    return out.transpose(1, 2).reshape(b, nq, h * d)


def kernel_mask(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """The additive Float32 mask in the query dtype, as `scaled_dot_product_attention` wants it
    (MASK_VALUE clamped to the dtype's lowest finite value, so float16 masks stay finite)."""
    if mask.dtype == dtype:
        return mask
    return mask.clamp(min=torch.finfo(dtype).min).to(dtype)


def attend_fused(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """Float[b, q, h*d]: as `attend`, by the fused kernel; mask already in q's dtype (`kernel_mask`)."""
    b, h, nq, d = q.shape
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=k.shape[1] != h)
    return out.transpose(1, 2).reshape(b, nq, h * d)


def shared_forward(
    stacks: list[GemmaStack],
    inputs: list[Tensor | None],
    mask: Tensor,
    position: Tensor | None,
    theta: float,
    past: KVCache | None = None,
    keep_cache: bool = False,
    past_length: int | None = None,
    cache_room: int = 0,
    attention: str = "sdpa",
    rope: tuple[Tensor, Tensor] | None = None,
) -> tuple[list[Tensor | None], KVCache | None]:
    """Run the experts' layers jointly over their tokens.

    stacks: the experts, e.g. [language_model, action_expert]; inputs: per expert Float[b, s_e, w_e]
    or None when that expert has no tokens in this call. The query sequence is the concatenation
    of the given inputs in order; `mask` Float32[b, 1, q, k] additive over keys = past tokens then
    the query tokens; `position` Long[b, q] the RoPE positions of the query tokens.
    past: per layer cached (keys, values) of earlier tokens. keep_cache: also return the keys and
    values of this call's tokens (per layer, RoPE applied) so a later call can attend to them,
    in buffers with `cache_room` free slots after them (Float[b, g, q + cache_room, d]).
    past_length: the number of filled slots of `past` (default: all of it, and this call's keys/values
    are concatenated after them); when `past` has room after `past_length`, this call's keys/values
    are written there in place and the mask covers keys = the first past_length + q slots.
    attention: "sdpa" (fused) or "eager" (the reference), see the module docstring.
    rope: `rope_cos_sin(position, ...)` when the caller already has it (e.g. the same action
    positions at every Euler step); computed from `position` when None.
    Returns the per-expert outputs after each expert's final norm (None where no input) and the cache.
    """
    active = [i for i, x in enumerate(inputs) if x is not None]
    if not active:
        raise ValueError("shared_forward needs tokens for at least one expert")
    hidden = {i: inputs[i] for i in active}
    lengths = [hidden[i].shape[1] for i in active]
    head_dim = stacks[active[0]].spec.head_dim
    cos, sin = rope_cos_sin(position, head_dim, theta) if rope is None else rope
    fused = check_attention(attention) == "sdpa"
    if fused:
        mask = kernel_mask(mask, hidden[active[0]].dtype)
    nq = sum(lengths)
    if past is not None and past_length is not None:
        if past_length + nq > past[0][0].shape[2]:
            raise ValueError(f"the cache holds {past[0][0].shape[2]} slots: no room for {nq} tokens "
                             f"after {past_length}")
    cache: KVCache | None = [] if keep_cache else None
    for depth in range(stacks[active[0]].spec.depth):
        qs, ks, vs = [], [], []
        for i in active:
            layer = stacks[i].layers[depth]
            x = layer.input_layernorm(hidden[i])
            b, s, _ = x.shape
            attn = layer.self_attn
            qs.append(attn.q_proj(x).view(b, s, -1, head_dim).transpose(1, 2))
            ks.append(attn.k_proj(x).view(b, s, -1, head_dim).transpose(1, 2))
            vs.append(attn.v_proj(x).view(b, s, -1, head_dim).transpose(1, 2))
        q = apply_rope(torch.cat(qs, dim=2), cos, sin)
        k = apply_rope(torch.cat(ks, dim=2), cos, sin)
        v = torch.cat(vs, dim=2)
        if cache is not None:
            cache.append(_with_room(k, v, cache_room))
        if past is not None and past_length is None:
            k = torch.cat([past[depth][0], k], dim=2)
            v = torch.cat([past[depth][1], v], dim=2)
        elif past is not None:
            end = past_length + nq
            past_k, past_v = past[depth]
            past_k[:, :, past_length:end].copy_(k)
            past_v[:, :, past_length:end].copy_(v)
            k, v = past_k[:, :, :end], past_v[:, :, :end]
        out = attend_fused(q, k, v, mask) if fused else attend(q, k, v, mask)
        for i, chunk in zip(active, torch.split(out, lengths, dim=1), strict=False):
            layer = stacks[i].layers[depth]
            o_proj = layer.self_attn.o_proj
            h = hidden[i] + o_proj(chunk.to(weight_dtype(o_proj)))
            hidden[i] = h + layer.mlp(layer.post_attention_layernorm(h))
    outputs = [stacks[i].norm(hidden[i]) if i in hidden else None for i in range(len(inputs))]
    return outputs, cache


def _with_room(k: Tensor, v: Tensor, room: int) -> tuple[Tensor, Tensor]:
    """k, v copied into buffers with `room` empty slots after them (the tokens of later calls)."""
    if room == 0:
        return k, v
    b, g, s, d = k.shape
    keys = k.new_zeros(b, g, s + room, d)
    values = v.new_zeros(b, g, s + room, d)
    keys[:, :, :s] = k
    values[:, :, :s] = v
    return keys, values
