"""Packed linear weights (`pi0_policy.model.packed_linear`, `Pi0Model.pack_weights`): the CPU inference
path gives the unpacked model's chunks and guidance gradients, keeps the weights' memory, and refuses
what it cannot do with a clear error."""
import pytest
import torch

from pi0_policy.model import build_model, get_config
from pi0_policy.model.packed_linear import PackedLinear, pack_linear_weights, packing_unavailable

pytestmark = pytest.mark.skipif(packing_unavailable("cpu", torch.float32) is not None,
                                reason="this torch build has no oneDNN")


def tiny_inputs(config):
    """Random model-ready inputs (all cameras, a half-padded prompt) and the noise of one chunk."""
    g = torch.Generator().manual_seed(0)
    n, size, length = config.num_cameras, config.vision.image_size, config.max_token_len
    token_masks = torch.arange(length)[None] < length // 2
    inputs = {"images": torch.rand(1, n, 3, size, size, generator=g) * 2 - 1,
              "image_masks": torch.ones(1, n, dtype=torch.bool),
              "tokens": torch.randint(0, config.vocab_size, (1, length), generator=g) * token_masks,
              "token_masks": token_masks, "state": torch.randn(1, config.max_state_dim, generator=g)}
    return inputs, torch.randn(1, config.action_horizon, config.max_action_dim, generator=g)


def _pair(dtype="float32"):
    config = get_config("pi0_tiny")
    plain = build_model(config, dtype=dtype)
    packed = build_model(config, dtype=dtype)
    packed.load_state_dict(plain.state_dict())
    return plain, packed


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("bfloat16", 2e-2)])
def test_packed_model_samples_the_same_chunk(dtype, tolerance):
    plain, packed = _pair(dtype)
    linears = sum(isinstance(m, torch.nn.Linear) for m in plain.modules())
    assert packed.pack_weights() == linears > 0
    assert packed.packed and not plain.packed
    assert not any(isinstance(m, torch.nn.Linear) for m in packed.modules())
    assert (packed.dtype, packed.device) == (plain.dtype, plain.device)
    inputs, noise = tiny_inputs(plain.config)
    expected = plain.sample_actions(**inputs, noise=noise)
    actual = packed.sample_actions(**inputs, noise=noise)
    scale = expected.abs().max()
    assert scale > 0
    assert (actual - expected).abs().max() <= tolerance * scale


def test_packed_layer_passes_input_gradients_and_keeps_no_weight_copy():
    torch.manual_seed(0)
    linear = torch.nn.Linear(24, 40)
    holder = torch.nn.Sequential(linear)
    x = torch.randn(3, 5, 24, requires_grad=True)
    grad_out = torch.randn(3, 5, 40)
    (expected,) = torch.autograd.grad(linear(x), x, grad_outputs=grad_out)
    assert pack_linear_weights(holder) == 1
    layer = holder[0]
    assert isinstance(layer, PackedLinear)
    assert list(layer.parameters()) == []  # the packed tensor is the only copy
    out = layer(x)
    assert out.shape == (3, 5, 40)
    torch.testing.assert_close(out, torch.nn.functional.linear(x, linear.weight, linear.bias), rtol=1e-5,
                               atol=1e-5)
    (actual,) = torch.autograd.grad(out, x, grad_outputs=grad_out)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_what_cannot_be_packed_says_why():
    assert "float16" in packing_unavailable("cpu", torch.float16)
    assert "CPU" in packing_unavailable("cuda", torch.float32)
    with pytest.raises(ValueError, match="float16"):
        pack_linear_weights(torch.nn.Sequential(torch.nn.Linear(4, 4).half()))
    plain, compiled = _pair()
    compiled.compile_denoise()
    with pytest.raises(ValueError, match="compile or pack"):
        compiled.pack_weights()
    plain.pack_weights()
    with pytest.raises(ValueError, match="compile or pack"):
        plain.compile_denoise()


def test_guided_sampling_through_packed_weights_matches():
    """Real-time chunking differentiates the action expert with respect to x_t: packed layers pass
    those gradients, so the guided chunk is the unpacked model's."""
    from pi0_policy.model.guided import guided_denoise

    plain, packed = _pair()
    packed.pack_weights()
    inputs, noise = tiny_inputs(plain.config)
    target = torch.randn(noise.shape, generator=torch.Generator().manual_seed(1))
    weights = torch.zeros_like(noise)
    weights[:, :20] = 1.0
    chunks = []
    for model in (plain, packed):
        with torch.no_grad():
            cache = model.encode_observation(**inputs)
        chunks.append(guided_denoise(model, cache, target, weights, 5.0, noise, 4))
    unguided = plain.sample_actions(**inputs, noise=noise, num_steps=4)
    assert (chunks[0] - unguided).abs().max() > 1e-2  # the guidance does something
    torch.testing.assert_close(chunks[1], chunks[0], rtol=1e-4, atol=1e-5)


def test_packed_model_keeps_its_state_dict_and_repacks_on_load():
    """Saving a packed model writes the unpacked model's weights; loading repacks them."""
    plain, packed = _pair()
    packed.pack_weights()
    expected = plain.state_dict()
    state = packed.state_dict()
    assert state.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0)
    other = build_model(plain.config)
    other.pack_weights()
    other.load_state_dict({name: tensor * 1.5 for name, tensor in expected.items()})  # other weights, repacked
    inputs, noise = tiny_inputs(plain.config)
    before = other.sample_actions(**inputs, noise=noise)
    other.load_state_dict(expected)
    after = other.sample_actions(**inputs, noise=noise)
    reference = plain.sample_actions(**inputs, noise=noise)
    assert (before - reference).abs().max() > 1e-3
    torch.testing.assert_close(after, reference, rtol=1e-5, atol=1e-5)
    bad = dict(expected)
    bad["state_proj.weight"] = bad["state_proj.weight"][:, :3]
    with pytest.raises(RuntimeError, match="size mismatch for state_proj.weight"):
        other.load_state_dict(bad)
