"""The shared-attention layer loop against transformers' own RoPE and eager attention."""
import types

import torch
from transformers.models.gemma import modeling_gemma

from pi0_policy.model import build_model, get_config, masks
from pi0_policy.model.shared_attention import apply_rope, attend, gemma_config, rope_cos_sin, shared_forward


def test_rope_matches_transformers():
    spec = get_config("pi0_small").text
    config = gemma_config(spec, 512, 1e-6)
    position = torch.tensor([[0, 1, 2, 2, 7, 300]])
    x = torch.randn(1, spec.num_heads, 6, spec.head_dim)
    cos_ref, sin_ref = modeling_gemma.GemmaRotaryEmbedding(config)(x, position)
    ref, _ = modeling_gemma.apply_rotary_pos_emb(x, x, cos_ref, sin_ref)
    cos, sin = rope_cos_sin(position, spec.head_dim, 10000.0)
    torch.testing.assert_close(apply_rope(x, cos, sin), ref, atol=1e-5, rtol=1e-5)


def test_grouped_query_attention_matches_transformers_eager():
    b, h, g, q, k, d = 2, 4, 2, 5, 7, 16
    query, key, value = torch.randn(b, h, q, d), torch.randn(b, g, k, d), torch.randn(b, g, k, d)
    allowed = torch.rand(b, q, k) > 0.3
    allowed[..., 0] = True
    mask = masks.additive_mask(allowed)
    module = types.SimpleNamespace(num_key_value_groups=h // g, training=False)
    ref, _ = modeling_gemma.eager_attention_forward(module, query, key, value, mask, scaling=d**-0.5)
    out = attend(query, key, value, mask)
    torch.testing.assert_close(out, ref.reshape(b, q, h * d), atol=1e-5, rtol=1e-5)


def test_prefix_outputs_ignore_the_suffix():
    """Blockwise causality in the joint forward: prefix outputs do not depend on suffix tokens."""
    model = build_model(get_config("pi0_tiny"), seed=0)
    stacks = model.paligemma_with_expert.stacks
    prefix, suffix = torch.randn(1, 6, 128), torch.randn(1, 3, 64)
    valid = torch.ones(1, 9, dtype=torch.bool)
    block_start = torch.tensor([[False] * 6 + [True, True, False]])
    mask = masks.additive_mask(masks.attention_mask(valid, block_start))
    position = masks.positions(valid)
    with torch.no_grad():
        (out_a, exp_a), _ = shared_forward(stacks, [prefix, suffix], mask, position, 10000.0)
        (out_b, exp_b), _ = shared_forward(stacks, [prefix, suffix * 3], mask, position, 10000.0)
        (alone, _), _ = shared_forward(stacks, [prefix, None], mask[:, :, :6, :6], position[:, :6], 10000.0)
    torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=0)
    torch.testing.assert_close(out_a, alone, atol=1e-5, rtol=0)
    assert (exp_a - exp_b).abs().max() > 1e-3  # ...while the suffix itself does change
