"""The arithmetic of one π0 chunk, per part, from the config alone: FLOPs and minimum bytes moved.

Parts as in the paper's Table I (and `bench/model_latency.py`):
- ``image_encoders``: SigLIP over every camera (patch embedding, encoder layers) and the projector;
- ``observation_forward``: prefix (image + prompt tokens, padding included: it is computed) and the
  state token through the language model and the action expert, filling the key/value cache;
- ``action_steps``: ``num_steps`` × the H action tokens through the action expert, attending to the
  cache (plus the action/time projections).

FLOPs count the multiply-adds of matrix products (2 per multiply-add): projections, MLPs,
attention logits and attention-weighted values, the patch convolution. Norms, activations, RoPE
and softmax are elementwise (a few percent at most) and not counted, so achieved GFLOP/s is a
slight underestimate of the work done. Bytes are the minimum traffic: every weight the part uses,
read once per pass, plus the key/value cache written (observation) or read (each step).
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import GemmaSpec, Pi0Config

PARTS = ("image_encoders", "observation_forward", "action_steps")


@dataclass(frozen=True)
class PartCost:
    flops: int
    bytes: int

    def __add__(self, other: PartCost) -> PartCost:
        return PartCost(self.flops + other.flops, self.bytes + other.bytes)


def _linear(tokens: int, fan_in: int, fan_out: int) -> int:
    return 2 * tokens * fan_in * fan_out


def _attention(queries: int, keys: int, heads: int, head_dim: int) -> int:
    """Logits (q·k) and weighted values (p·v), all heads."""
    return 2 * 2 * queries * keys * heads * head_dim


def gemma_layer_flops(spec: GemmaSpec, tokens: int) -> int:
    """The projections and the gated MLP of one Gemma layer over `tokens` (attention apart)."""
    q, kv = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
    projections = _linear(tokens, spec.width, q + 2 * kv) + _linear(tokens, q, spec.width)
    return projections + 3 * _linear(tokens, spec.width, spec.mlp_dim)


def gemma_layer_parameters(spec: GemmaSpec) -> int:
    """Weights of one Gemma layer (two norms included, no biases)."""
    q, kv = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
    return spec.width * (q + 2 * kv) + q * spec.width + 3 * spec.width * spec.mlp_dim + 2 * spec.width


def vision_parameters(config: Pi0Config) -> int:
    """SigLIP (patch conv, position table, layers, final norm) and the projector to the text width."""
    v = config.vision
    embed = 3 * v.patch_size**2 * v.width + v.width + v.tokens_per_image * v.width
    layer = 4 * (v.width * v.width + v.width) + 2 * v.width * v.mlp_dim + v.mlp_dim + v.width + 4 * v.width
    return embed + v.depth * layer + 2 * v.width + v.width * config.text.width + config.text.width


def _kv_bytes(config: Pi0Config, tokens: int, bytes_per_value: int) -> int:
    spec = config.text
    return 2 * spec.depth * tokens * spec.num_kv_heads * spec.head_dim * bytes_per_value


def image_encoders(config: Pi0Config, bytes_per_value: int = 4) -> PartCost:
    v, n = config.vision, config.num_cameras
    t = v.tokens_per_image
    per_image = _linear(t, 3 * v.patch_size**2, v.width)  # the patch convolution
    per_layer = (4 * _linear(t, v.width, v.width) + 2 * _linear(t, v.width, v.mlp_dim)
                 + _attention(t, t, v.num_heads, v.width // v.num_heads))
    per_image += v.depth * per_layer + _linear(t, v.width, config.text.width)
    return PartCost(n * per_image, vision_parameters(config) * bytes_per_value)


def observation_forward(config: Pi0Config, bytes_per_value: int = 4) -> PartCost:
    text, expert = config.text, config.expert
    prefix, tokens = config.prefix_len, config.prefix_len + 1  # + the state token
    per_layer = (gemma_layer_flops(text, prefix) + gemma_layer_flops(expert, 1)
                 + _attention(tokens, tokens, text.num_heads, text.head_dim))
    flops = text.depth * per_layer + _linear(1, config.max_state_dim, expert.width)
    weights = (text.depth * (gemma_layer_parameters(text) + gemma_layer_parameters(expert))
               + text.width + expert.width  # final norms
               + config.max_token_len * text.width  # the prompt's rows of the embedding table
               + config.max_state_dim * expert.width + expert.width)
    return PartCost(flops, weights * bytes_per_value + _kv_bytes(config, tokens, bytes_per_value))


def action_step(config: Pi0Config, bytes_per_value: int = 4) -> PartCost:
    """One Euler step (the H action tokens)."""
    e, h, a = config.expert, config.action_horizon, config.max_action_dim
    keys = config.prefix_len + 1 + h
    per_layer = gemma_layer_flops(e, h) + _attention(h, keys, e.num_heads, e.head_dim)
    heads = (_linear(h, a, e.width) + _linear(h, 2 * e.width, e.width) + _linear(h, e.width, e.width)
             + _linear(h, e.width, a))
    weights = (e.depth * gemma_layer_parameters(e) + e.width
               + a * e.width + 2 * e.width * e.width + e.width * e.width + e.width * a + 3 * e.width + a)
    return PartCost(e.depth * per_layer + heads,
                    weights * bytes_per_value + _kv_bytes(config, keys, bytes_per_value))


def chunk_cost(config: Pi0Config, num_steps: int | None = None, bytes_per_value: int = 4) -> dict[str, PartCost]:
    """{part: PartCost} for one chunk of `num_steps` (default: the config's) Euler steps."""
    steps = config.num_steps if num_steps is None else num_steps
    step = action_step(config, bytes_per_value)
    return {
        "image_encoders": image_encoders(config, bytes_per_value),
        "observation_forward": observation_forward(config, bytes_per_value),
        "action_steps": PartCost(steps * step.flops, steps * step.bytes),
    }
