"""The FLOP and byte counter of `pi0_policy.model.cost`: a hand count, torch's own FLOP counter, and
the parameters of the real modules."""
import collections
import dataclasses

import torch
from torch.utils.flop_counter import FlopCounterMode

from pi0_policy.model import GemmaSpec, Pi0Config, VisionSpec, build_model, cost, get_config

# A micro config small enough to count by hand: one 28 px camera of 14 px patches (4 tokens),
# 3 prompt tokens, 2 action tokens, one layer per transformer.
MICRO = Pi0Config(
    name="micro",
    vision=VisionSpec(width=4, depth=1, mlp_dim=8, num_heads=2, patch_size=14, image_size=28),
    text=GemmaSpec(width=8, depth=1, mlp_dim=16, num_heads=2, num_kv_heads=1, head_dim=4),
    expert=GemmaSpec(width=6, depth=1, mlp_dim=12, num_heads=2, num_kv_heads=1, head_dim=4),
    vocab_size=16, num_cameras=1, action_horizon=2, max_state_dim=5, max_action_dim=3, max_token_len=3,
)


def test_hand_count_of_a_micro_config():
    costs = cost.chunk_cost(MICRO, num_steps=1)
    # Image encoders, 4 tokens of width 4:
    patch = 2 * 4 * (3 * 14 * 14) * 4  # 18816: 4 patches of 588 values to width 4
    projections = 4 * (2 * 4 * 4 * 4)  # q, k, v, o: 512
    mlp = 2 * (2 * 4 * 4 * 8)  # fc1, fc2: 512
    attention = 2 * (2 * 4 * 4 * 4)  # logits and values, 4x4 tokens, 2 heads x 2 dims: 256
    projector = 2 * 4 * 4 * 8  # to the text width: 256
    assert costs["image_encoders"].flops == patch + projections + mlp + attention + projector == 20352
    # Observation: 7 prefix tokens through the text layer, 1 state token through the expert, 8x8 attention.
    text = 2 * 7 * 8 * (8 + 4 + 4) + 2 * 7 * 8 * 8 + 3 * (2 * 7 * 8 * 16)  # 1792 + 896 + 5376
    state = 2 * 1 * 6 * 16 + 2 * 1 * 8 * 6 + 3 * (2 * 1 * 6 * 12)  # 192 + 96 + 432
    attention = 2 * (2 * 8 * 8 * 2 * 4)  # 2048
    state_proj = 2 * 5 * 6  # 60
    assert costs["observation_forward"].flops == text + state + attention + state_proj == 10892
    # One action step: 2 action tokens through the expert, attending to 7 + 1 + 2 keys.
    expert = 2 * 2 * 6 * 16 + 2 * 2 * 8 * 6 + 3 * (2 * 2 * 6 * 12)  # 384 + 192 + 864
    attention = 2 * (2 * 2 * 10 * 2 * 4)  # 640
    heads = 2 * 2 * 3 * 6 + 2 * 2 * 12 * 6 + 2 * 2 * 6 * 6 + 2 * 2 * 6 * 3  # in, time in/out, out: 576
    assert costs["action_steps"].flops == expert + attention + heads == 2656
    assert cost.chunk_cost(MICRO, num_steps=10)["action_steps"].flops == 26560
    # Bytes: weights read once (float32), the KV cache written (8 tokens) / read (10 keys) once.
    step = cost.action_step(MICRO, bytes_per_value=2)
    assert step.bytes == cost.action_step(MICRO, bytes_per_value=4).bytes // 2
    kv_read = 2 * 1 * 10 * 1 * 4 * 4  # keys and values, 1 layer, 10 tokens, 1 head of 4, float32
    expert_weights = (6 * 16 + 8 * 6 + 3 * 6 * 12 + 2 * 6) + 6 + (3 * 6 + 2 * 6 * 6 + 6 * 6 + 6 * 3 + 3 * 6 + 3)
    assert cost.action_step(MICRO).bytes == 4 * expert_weights + kv_read


def _parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_weight_counts_match_the_real_modules():
    for name in ("pi0_tiny", "pi0_small"):
        config = get_config(name)
        model = build_model(config)
        pg = model.paligemma_with_expert.paligemma.model
        assert cost.vision_parameters(config) == _parameters(pg.vision_tower) + _parameters(pg.multi_modal_projector)
        layer = pg.language_model.layers[0]
        assert cost.gemma_layer_parameters(config.text) == _parameters(layer)
        expert_layer = model.paligemma_with_expert.gemma_expert.model.layers[0]
        assert cost.gemma_layer_parameters(config.expert) == _parameters(expert_layer)


def test_flops_match_torch_flop_counter_on_the_real_forward():
    """torch's FlopCounterMode counts the matmuls the model really runs (eager attention: plain
    matmuls it can see; SigLIP's fused attention it cannot, so that is added by hand)."""
    tiny = get_config("pi0_tiny")
    config = dataclasses.replace(tiny, num_cameras=2, action_horizon=6, max_token_len=10,
                                 vision=dataclasses.replace(tiny.vision, image_size=28))
    model = build_model(config, attention="eager")
    g = torch.Generator().manual_seed(0)
    images = torch.rand(1, 2, 3, 28, 28, generator=g) * 2 - 1
    tokens = torch.randint(0, config.vocab_size, (1, 10), generator=g)
    state, noise = torch.randn(1, config.max_state_dim, generator=g), torch.randn(1, 6, config.max_action_dim)
    counted = {}
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            prefix, valid = model.embed_prefix(images, torch.ones(1, 2, dtype=torch.bool), tokens,
                                               torch.ones(1, 10, dtype=torch.bool))
        counted["image_encoders"] = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            cache = model.cache_observation(prefix, valid, state)
        counted["observation_forward"] = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            model.denoise(cache, noise, num_steps=3)
        counted["action_steps"] = counter.get_total_flops()
    v, t = config.vision, config.tokens_per_image
    siglip_attention = config.num_cameras * v.depth * 2 * (2 * t * t * v.width)
    expected = cost.chunk_cost(config, num_steps=3)
    assert counted["image_encoders"] + siglip_attention == expected["image_encoders"].flops
    assert counted["observation_forward"] == expected["observation_forward"].flops
    assert counted["action_steps"] == expected["action_steps"].flops


class _KernelRecorder(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the matrix products, attention calls and the patch convolution the model really runs,
    as `cost.Matmul` / `cost.Attention` (count 1 each)."""

    def __init__(self):
        super().__init__()
        self.kernels = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        op = func.overloadpacket
        if op is torch.ops.aten.mm:
            (m, k), n = args[0].shape, args[1].shape[1]
            self.kernels[cost.Matmul(m, k, n)] += 1
        elif op is torch.ops.aten.addmm:
            (m, k), n = args[1].shape, args[2].shape[1]
            self.kernels[cost.Matmul(m, k, n)] += 1
        elif op is torch.ops.aten.convolution:
            x, w = args[0], args[1]
            out_tokens = (x.shape[2] // w.shape[2]) * (x.shape[3] // w.shape[3])
            self.kernels[cost.Matmul(x.shape[0] * out_tokens, w[0].numel(), w.shape[0])] += 1
        elif op is torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
            q, k = args[0], args[1]
            self.kernels[cost.Attention(q.shape[0], q.shape[1], k.shape[1], q.shape[2], k.shape[2],
                                        q.shape[3])] += 1
        return func(*args, **(kwargs or {}))


def _unrolled(kernels) -> collections.Counter:
    counts = collections.Counter()
    for k in kernels:
        counts[dataclasses.replace(k, count=1)] += k.count
    return counts


def test_chunk_kernels_are_the_kernels_the_model_runs():
    """Every matmul, attention call and the patch convolution of a real chunk (fused attention), by
    shape and number: the list `bench/model_latency.py` times bare, and the FLOPs of `chunk_cost`."""
    tiny = get_config("pi0_tiny")
    config = dataclasses.replace(tiny, num_cameras=2, action_horizon=6, max_token_len=10)
    model = build_model(config)
    g = torch.Generator().manual_seed(0)
    size = config.vision.image_size
    images = torch.rand(1, 2, 3, size, size, generator=g) * 2 - 1
    tokens = torch.randint(0, config.vocab_size, (1, 10), generator=g)
    state, noise = torch.randn(1, config.max_state_dim, generator=g), torch.randn(1, 6, config.max_action_dim)
    expected = cost.chunk_kernels(config, num_steps=3)
    with torch.no_grad():
        with _KernelRecorder() as images_part:
            prefix, valid = model.embed_prefix(images, torch.ones(1, 2, dtype=torch.bool), tokens,
                                               torch.ones(1, 10, dtype=torch.bool))
        with _KernelRecorder() as observation_part:
            cache = model.cache_observation(prefix, valid, state)
        with _KernelRecorder() as steps_part:
            model.denoise(cache, noise, num_steps=3)
    assert images_part.kernels == _unrolled(expected["image_encoders"])
    assert observation_part.kernels == _unrolled(expected["observation_forward"])
    assert steps_part.kernels == _unrolled(expected["action_steps"])
    flops = cost.chunk_cost(config, num_steps=3)
    for part, kernels in expected.items():
        assert sum(k.flops for k in kernels) == flops[part].flops
    batched = cost.chunk_kernels(config, num_steps=3, batch=4)
    assert sum(k.flops for k in batched["action_steps"]) == 4 * flops["action_steps"].flops
