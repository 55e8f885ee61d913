"""Parity with LeRobot's own π0 on the tiny reference checkpoint, and the two key layouts."""
import pytest
import torch
from model_testdata import WEIGHTS, load, observation
from safetensors import safe_open
from safetensors.torch import save_file

from pi0_policy.model import WeightsError, build_model, get_config, load_weights

ACTIONS_ATOL = 1e-4  # the tolerance for sampled actions (float32, CPU)
INTERMEDIATE_ATOL = 1e-5  # for prefix embeddings and per-step velocities / states
LOSS_RTOL = 1e-5  # losses reach ~40: compare relative to their size


@pytest.fixture(scope="module")
def model():
    return build_model(get_config("pi0_tiny"), dtype="float32", weights=WEIGHTS)


@pytest.fixture(scope="module")
def obs():
    return observation()


def test_actions_match_lerobot(model, obs):
    actions = model.sample_actions(**obs, noise=load("inputs/noise"), num_steps=10)
    expected = load("outputs/actions_padded")
    assert actions.shape == expected.shape == (1, 50, 32)
    torch.testing.assert_close(actions, expected, atol=ACTIONS_ATOL, rtol=0)


def test_prefix_embeddings_match_lerobot(model, obs):
    with torch.no_grad():
        embs, valid = model.embed_prefix(obs["images"], obs["image_masks"], obs["tokens"], obs["token_masks"])
    torch.testing.assert_close(embs, load("outputs/prefix_embs"), atol=INTERMEDIATE_ATOL, rtol=0)
    assert torch.equal(valid, load("outputs/prefix_pad_masks"))
    assert valid.sum() == 3 * 256 + int(obs["token_masks"].sum())


def test_every_euler_step_matches_lerobot(model, obs):
    seen = []

    def record(cache, x_t, time):
        v_t = model.denoise_step(cache, x_t, time)
        seen.append((time.clone(), x_t.clone(), v_t.clone()))
        return v_t

    with torch.no_grad():
        cache = model.encode_observation(**obs)
        model.denoise(cache, load("inputs/noise"), num_steps=10, step_fn=record)
    ref_t, ref_x, ref_v = load("outputs/denoise_t"), load("outputs/denoise_x_t"), load("outputs/denoise_v_t")
    assert len(seen) == ref_t.shape[0] == 10
    for k, (time, x_t, v_t) in enumerate(seen):
        torch.testing.assert_close(time, ref_t[k], atol=1e-7, rtol=0, msg=f"t at step {k}")
        torch.testing.assert_close(x_t, ref_x[k], atol=INTERMEDIATE_ATOL, rtol=0, msg=f"x_t at step {k}")
        torch.testing.assert_close(v_t, ref_v[k], atol=INTERMEDIATE_ATOL, rtol=0, msg=f"v_t at step {k}")


def test_training_losses_match_lerobot(model, obs):
    with torch.no_grad():
        losses = model.compute_loss(**obs, actions=load("inputs/train_actions"),
                                    noise=load("inputs/train_noise"), time=load("inputs/train_time"))
    expected = load("outputs/train_losses")
    assert losses.shape == expected.shape == (1, 50, 32)
    torch.testing.assert_close(losses, expected, atol=INTERMEDIATE_ATOL, rtol=LOSS_RTOL)


def _openpi_copy(tmp_path, drop=None, rename=None, reshape=None):
    """The fixture's tensors re-keyed to openpi's layout (no "model." prefix), optionally corrupted."""
    with safe_open(str(WEIGHTS), framework="pt") as f:
        tensors = {key.removeprefix("model."): f.get_tensor(key) for key in f.keys()}
    if drop:
        del tensors[drop]
    if rename:
        tensors[rename[1]] = tensors.pop(rename[0])
    if reshape:
        tensors[reshape] = tensors[reshape][:-1].clone()
    path = tmp_path / "openpi.safetensors"
    save_file(tensors, str(path))
    return path


def test_openpi_layout_gives_same_actions(tmp_path, obs):
    path = _openpi_copy(tmp_path)
    with safe_open(str(path), framework="pt") as f:
        assert not any(k.startswith("model.") for k in f.keys())
    model = build_model(get_config("pi0_tiny"), weights=path)
    actions = model.sample_actions(**obs, noise=load("inputs/noise"))
    torch.testing.assert_close(actions, load("outputs/actions_padded"), atol=ACTIONS_ATOL, rtol=0)


STATE_PROJ = "state_proj.weight"
Q_PROJ = "paligemma_with_expert.gemma_expert.model.layers.1.self_attn.q_proj.weight"


@pytest.mark.parametrize(
    "corruption, message",
    [
        ({"drop": Q_PROJ}, f"missing keys: ['{Q_PROJ}']"),
        ({"rename": (STATE_PROJ, "state_projection.weight")}, "unexpected keys: ['state_projection.weight']"),
        ({"reshape": STATE_PROJ}, f"{STATE_PROJ}: file (63, 32) vs model (64, 32)"),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_bad_checkpoint_names_the_key(tmp_path, corruption, message):
    path = _openpi_copy(tmp_path, **corruption)
    with pytest.raises(WeightsError) as error:
        build_model(get_config("pi0_tiny"), weights=path)
    assert message in str(error.value)


def test_wrong_preset_names_shape_mismatches():
    with pytest.raises(WeightsError, match=r"state_proj.weight: file \(64, 32\) vs model \(128, 32\)"):
        build_model(get_config("pi0_small"), weights=WEIGHTS)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        build_model(get_config("pi0_tiny"), weights=tmp_path / "nowhere.safetensors")


def test_load_weights_into_existing_model(obs):
    model = build_model(get_config("pi0_tiny"), seed=3)
    before = model.sample_actions(**obs, noise=load("inputs/noise"))
    load_weights(model, WEIGHTS)
    after = model.sample_actions(**obs, noise=load("inputs/noise"))
    assert (before - after).abs().max() > 1e-2
    torch.testing.assert_close(after, load("outputs/actions_padded"), atol=ACTIONS_ATOL, rtol=0)
