"""Config presets, lookup, validation, and the full-size parameter count (built on the meta device)."""
import dataclasses

import pytest
import torch

from pi0_policy.model import Pi0Config, Pi0Model, build_model, get_config, list_configs

PAPER_PARAMETERS = 3_238_048_528


def test_full_preset_has_the_papers_parameter_count():
    with torch.device("meta"):
        model = Pi0Model(get_config("pi0"))
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMETERS
    expert = model.paligemma_with_expert.gemma_expert.model
    assert not hasattr(expert, "embed_tokens")  # no expert embedding / LM head in π0


def test_full_preset_sizes():
    cfg = get_config("pi0")
    vision, expert = cfg.vision, cfg.expert
    assert (vision.width, vision.depth, vision.patch_size, vision.image_size) == (1152, 27, 14, 224)
    assert (cfg.text.width, cfg.text.depth, cfg.text.mlp_dim, cfg.vocab_size) == (2048, 18, 16384, 257152)
    assert (expert.width, expert.mlp_dim, expert.num_kv_heads, expert.head_dim) == (1024, 4096, 1, 256)
    assert (cfg.action_horizon, cfg.max_state_dim, cfg.max_action_dim, cfg.max_token_len) == (50, 32, 32, 48)
    assert cfg.prefix_len == 3 * 256 + 48 and cfg.suffix_len == 51


def test_presets_grow_from_tiny_to_full():
    counts = {}
    for name in ("pi0_tiny", "pi0_small", "pi0"):
        with torch.device("meta"):
            counts[name] = sum(p.numel() for p in Pi0Model(get_config(name)).parameters())
    assert counts["pi0_tiny"] < counts["pi0_small"] < counts["pi0"]
    assert set(list_configs()) >= {"pi0", "pi0_tiny", "pi0_small"}


def test_typo_suggests_the_closest_name():
    with pytest.raises(KeyError, match="Did you mean 'pi0_small'"):
        get_config("pi0_smal")


def test_overrides_and_unknown_fields():
    cfg = get_config("pi0_tiny", num_cameras=2, action_horizon=10)
    assert (cfg.num_cameras, cfg.action_horizon, cfg.prefix_len) == (2, 10, 2 * 256 + 48)
    with pytest.raises(ValueError, match="unknown Pi0Config fields \\['horizon'\\]"):
        get_config("pi0_tiny", horizon=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_cameras = 3


def test_round_trip_through_dict():
    cfg = get_config("pi0_small", num_cameras=1)
    assert Pi0Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: dataclasses.replace(c, action_horizon=0), "action_horizon must be > 0, got 0"),
        (lambda c: dataclasses.replace(c, expert=dataclasses.replace(c.expert, depth=3)),
         r"text.depth \(2\) != expert.depth \(3\)"),
        (lambda c: dataclasses.replace(c, vision=dataclasses.replace(c.vision, image_size=225)),
         r"image_size \(225\) must be a multiple of patch_size \(14\)"),
    ],
)
def test_inconsistent_configs_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        change(get_config("pi0_tiny"))


def test_build_on_meta_then_materialise_random_weights():
    model = build_model(get_config("pi0_tiny"), dtype="bfloat16", seed=1)
    tensors = [*model.parameters(), *model.buffers()]
    assert not any(t.is_meta for t in tensors)
    assert all(torch.isfinite(t.float()).all() for t in model.parameters())
    assert model.state_proj.weight.dtype == torch.bfloat16
    again = build_model(get_config("pi0_tiny"), dtype="bfloat16", seed=1)
    assert torch.equal(model.action_out_proj.weight, again.action_out_proj.weight)  # seeded


def test_unknown_dtype_is_named():
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        build_model(get_config("pi0_tiny"), dtype="float8")
