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

The FLOPs are summed from each part's kernels (`chunk_kernels`): every matrix product and attention
call with the shapes the model runs them at. `bench/model_latency.py` times those kernels bare (random
data, nothing between them) as a second, tighter bound than the square matmul rate: the time this
machine's torch kernels need for exactly this arithmetic.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .config import GemmaSpec, Pi0Config

PARTS = ("image_encoders", "observation_forward", "action_steps")


@dataclass(frozen=True)
class PartCost:
    flops: int
    bytes: int

    def __add__(self, other: PartCost) -> PartCost:
        return PartCost(self.flops + other.flops, self.bytes + other.bytes)


@dataclass(frozen=True)
class Matmul:
    """``x[rows, fan_in] @ w[fan_in, fan_out]`` (a linear layer over `rows` tokens), `count` times."""

    rows: int
    fan_in: int
    fan_out: int
    count: int = 1

    @property
    def flops(self) -> int:
        return 2 * self.rows * self.fan_in * self.fan_out * self.count


@dataclass(frozen=True)
class Attention:
    """One fused attention call: logits (q·k) and weighted values (p·v) of `heads` query heads over
    `kv_heads` key/value heads (grouped-query), `count` times."""

    batch: int
    heads: int
    kv_heads: int
    queries: int
    keys: int
    head_dim: int
    count: int = 1

    @property
    def flops(self) -> int:
        return 2 * 2 * self.batch * self.queries * self.keys * self.heads * self.head_dim * self.count


Kernel = Matmul | Attention


def gemma_layer_kernels(spec: GemmaSpec, tokens: int, count: int = 1) -> list[Matmul]:
    """The matrix products of one Gemma layer over `tokens`, as the layer loop calls them: q, k, v and
    output projections, MLP gate, up and down (attention apart)."""
    q, kv = spec.num_heads * spec.head_dim, spec.num_kv_heads * spec.head_dim
    return [Matmul(tokens, spec.width, q, count), Matmul(tokens, spec.width, kv, 2 * count),
            Matmul(tokens, q, spec.width, count), Matmul(tokens, spec.width, spec.mlp_dim, 2 * count),
            Matmul(tokens, spec.mlp_dim, spec.width, count)]


def gemma_layer_flops(spec: GemmaSpec, tokens: int) -> int:
    """The projections and the gated MLP of one Gemma layer over `tokens` (attention apart)."""
    return sum(k.flops for k in gemma_layer_kernels(spec, tokens))


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


def image_kernels(config: Pi0Config) -> list[Kernel]:
    """SigLIP over all cameras at once (as `Pi0Model.embed_images` batches them) and the projector."""
    v, n = config.vision, config.num_cameras
    rows = n * v.tokens_per_image
    return [Matmul(rows, 3 * v.patch_size**2, v.width),  # the patch convolution
            Matmul(rows, v.width, v.width, 4 * v.depth),  # q, k, v, output
            Matmul(rows, v.width, v.mlp_dim, v.depth), Matmul(rows, v.mlp_dim, v.width, v.depth),
            Attention(n, v.num_heads, v.num_heads, v.tokens_per_image, v.tokens_per_image,
                      v.width // v.num_heads, v.depth),
            Matmul(rows, v.width, config.text.width)]


def observation_kernels(config: Pi0Config) -> list[Kernel]:
    """The prefix through the language model and the state token through the expert, jointly."""
    text, expert = config.text, config.expert
    tokens = config.prefix_len + 1  # + the state token
    return [*gemma_layer_kernels(text, config.prefix_len, text.depth),
            *gemma_layer_kernels(expert, 1, text.depth),
            Attention(1, text.num_heads, text.num_kv_heads, tokens, tokens, text.head_dim, text.depth),
            Matmul(1, config.max_state_dim, expert.width)]


def action_step_kernels(config: Pi0Config) -> list[Kernel]:
    """One Euler step: the H action tokens through the expert, attending to the cache and each other,
    with the action/time projections."""
    e, h, a = config.expert, config.action_horizon, config.max_action_dim
    keys = config.prefix_len + 1 + h
    return [*gemma_layer_kernels(e, h, e.depth),
            Attention(1, e.num_heads, e.num_kv_heads, h, keys, e.head_dim, e.depth),
            Matmul(h, a, e.width), Matmul(h, 2 * e.width, e.width), Matmul(h, e.width, e.width),
            Matmul(h, e.width, a)]


def _repeated(kernels: list[Kernel], times: int, batch: int = 1) -> list[Kernel]:
    """The kernels run `times` as often, over `batch` observations (more rows, or more sequences)."""
    out = []
    for k in kernels:
        more = {"rows": k.rows * batch} if isinstance(k, Matmul) else {"batch": k.batch * batch}
        out.append(dataclasses.replace(k, count=k.count * times, **more))
    return out


def chunk_kernels(config: Pi0Config, num_steps: int | None = None, batch: int = 1) -> dict[str, list[Kernel]]:
    """{part: the matrix products and attention calls of one chunk}, with their shapes for `batch`
    observations: what `bench/model_latency.py` times bare, as the bound of each part."""
    steps = config.num_steps if num_steps is None else num_steps
    return {"image_encoders": _repeated(image_kernels(config), 1, batch),
            "observation_forward": _repeated(observation_kernels(config), 1, batch),
            "action_steps": _repeated(action_step_kernels(config), steps, batch)}


def _flops(kernels: list[Kernel]) -> int:
    return sum(k.flops for k in kernels)


def image_encoders(config: Pi0Config, bytes_per_value: int = 4) -> PartCost:
    return PartCost(_flops(image_kernels(config)), vision_parameters(config) * bytes_per_value)


def observation_forward(config: Pi0Config, bytes_per_value: int = 4) -> PartCost:
    text, expert = config.text, config.expert
    tokens = config.prefix_len + 1
    weights = (text.depth * (gemma_layer_parameters(text) + gemma_layer_parameters(expert))
               + text.width + expert.width  # final norms
               + config.max_token_len * text.width  # the prompt's rows of the embedding table
               + config.max_state_dim * expert.width + expert.width)
    return PartCost(_flops(observation_kernels(config)),
                    weights * bytes_per_value + _kv_bytes(config, tokens, bytes_per_value))


def action_step(config: Pi0Config, bytes_per_value: int = 4) -> PartCost:
    """One Euler step (the H action tokens)."""
    e, h, a = config.expert, config.action_horizon, config.max_action_dim
    keys = config.prefix_len + 1 + h
    weights = (e.depth * gemma_layer_parameters(e) + e.width
               + a * e.width + 2 * e.width * e.width + e.width * e.width + e.width * a + 3 * e.width + a)
    return PartCost(_flops(action_step_kernels(config)),
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
