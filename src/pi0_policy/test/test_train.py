"""`pi0 train`: the loss falls, resume gives the same state, LoRA and freezing train only what they
say, a two-process DDP step under gloo keeps the replicas equal, and the output loads as a policy.
A tiny network (pi0_tiny, 28 px images, 8-step chunks) on a dataset converted from a bag."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from bag_fixtures import write_ur5e_bag

from pi0_policy.data.convert import convert_bags
from pi0_policy.train.data import PAPER_ALPHA, mixture_weights
from pi0_policy.train.trainer import TrainConfig, build, load_datasets, lr_factor, train

# Same process, same machine, same seeds: the replayed run matches up to float reassociation.
RESUME_ATOL = 1e-6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    episodes = (("pick the red cube", 0.0, 1.0, True), ("pick the blue cube", 1.2, 2.0, True))
    write_ur5e_bag(root / "bag", episodes=episodes)
    convert_bags([root / "bag"], root / "ds", "ur5e", progress=False)
    return root / "ds"


def tiny(dataset, out, **kw):
    base = dict(datasets=[str(dataset)], out=str(out), preset="pi0_tiny", image_size=28, horizon=8, num_cameras=2,
                batch_size=4, lr=3e-3, warmup=2, log_every=1, progress=False, steps=4)
    base.update(kw)
    return TrainConfig(**base)


def fixed_batch_loss(cfg, model) -> float:
    """Loss on 8 fixed frames with fixed noise and time (independent of the training draws)."""
    _, _, tok, keys, config = build(cfg)
    datasets, _ = load_datasets(cfg, config, tok, keys)
    ds = datasets[0]
    batch = torch.utils.data.default_collate([ds[i] for i in range(0, len(ds), len(ds) // 8)][:8])
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(batch["actions"].shape, generator=g)
    time = torch.rand(len(noise), generator=g)
    with torch.no_grad():
        return float(model.eval().compute_loss(**batch, noise=noise, time=time)[:, :, :7].mean())


def test_loss_falls_and_the_output_is_a_policy_checkpoint(dataset, tmp_path):
    from pi0_policy.policy.local import Pi0Policy
    from pi0_policy.model.weights import build_model

    cfg = tiny(dataset, tmp_path / "ck", steps=30, lr=1e-2)
    _, _, _, _, config = build(cfg)
    before = fixed_batch_loss(cfg, build_model(config, seed=cfg.seed))
    result = train(cfg)
    policy = Pi0Policy.from_checkpoint(tmp_path / "ck")
    after = fixed_batch_loss(cfg, policy.model)
    assert after < 0.75 * before, f"fixed-batch loss {before:.3f} → {after:.3f}"
    metrics = [json.loads(line) for line in (tmp_path / "ck/metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 31)) and metrics[-1]["loss"] == result["losses"][-1]
    assert [m["lr"] for m in metrics[:2]] == pytest.approx([5e-3, 1e-2])  # warm-up over 2 steps
    assert metrics[-1]["lr"] == pytest.approx(1e-2 * lr_factor(29, 2, 30, 0.1))
    assert (tmp_path / "ck/loss.png").stat().st_size > 1000
    out = policy.infer({"images": {"base_0_rgb": np.zeros((24, 32, 3), np.uint8)}, "state": np.zeros(7),
                        "prompt": "pick the red cube"})
    assert out["actions"].shape == (8, 7) and np.isfinite(out["actions"]).all()
    stats = json.loads((tmp_path / "ck/norm_stats.json").read_text())["norm_stats"]
    assert len(stats["state"]["mean"]) == 7


def test_resume_gives_the_same_state_as_an_uninterrupted_run(dataset, tmp_path):
    train(tiny(dataset, tmp_path / "straight", steps=4))
    train(tiny(dataset, tmp_path / "resumed", steps=2))
    result = train(tiny(dataset, tmp_path / "resumed", steps=4, resume=True))
    assert result["step"] == 4
    a = torch.load(tmp_path / "straight/train_state.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed/train_state.pt", weights_only=False)
    assert a["step"] == b["step"] == 4 and a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    np.testing.assert_allclose(a["history"], b["history"], atol=RESUME_ATOL)
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, atol=RESUME_ATOL, rtol=0, msg=name)
    for key, state in a["optimizer"]["state"].items():
        torch.testing.assert_close(b["optimizer"]["state"][key]["exp_avg_sq"], state["exp_avg_sq"],
                                   atol=RESUME_ATOL, rtol=0)
    assert torch.equal(a["sampler"]["generator"], b["sampler"]["generator"])


def test_saving_every_n_steps_keeps_training_and_saves_each_checkpoint(dataset, tmp_path):
    """A mid-run save once replaced the list of trained parameters (clipping then failed)."""
    straight = train(tiny(dataset, tmp_path / "straight", steps=4))
    saving = train(tiny(dataset, tmp_path / "saving", steps=4, save_every=2))
    assert saving["step"] == 4
    np.testing.assert_allclose(saving["losses"], straight["losses"], atol=RESUME_ATOL)
    config = json.loads((tmp_path / "saving/config.json").read_text())
    assert config["source"]["step"] == 4


def test_a_training_profile_sets_cameras_and_absolute_actions_and_is_recorded(dataset, tmp_path):
    from pi0_policy.policy.local import Pi0Policy
    from pi0_policy.policy.profiles import checkpoint_profile

    cfg = tiny(dataset, tmp_path / "abs", num_cameras=None, profile="pi0ros_absolute_base")
    model, _, tok, keys, config = build(cfg)
    assert keys == ("base_0_rgb",) and config.num_cameras == 1
    absolute, _ = load_datasets(cfg, config, tok, keys)
    default_cfg = tiny(dataset, tmp_path / "delta")
    delta, _ = load_datasets(default_cfg, build(default_cfg)[4], tok, build(default_cfg)[3])
    assert not absolute[0].delta_mask.any() and delta[0].delta_mask[:6].all()  # ur5e: delta arm joints
    rows = np.arange(len(absolute[0]))
    chunks = absolute[0]._chunks(rows)
    np.testing.assert_allclose(chunks[:, 0], absolute[0].action[absolute[0].chunk_rows[rows, 0]], atol=1e-6)
    train(cfg)
    assert checkpoint_profile(tmp_path / "abs").name == "pi0ros_absolute_base"
    policy = Pi0Policy.from_checkpoint(tmp_path / "abs")
    assert policy.info.image_keys == ("base_0_rgb",)
    with pytest.raises(ValueError, match="unknown convention profile 'nope'"):
        build(tiny(dataset, tmp_path / "x", profile="nope"))


def test_lora_fine_tuning_of_a_checkpoint_trains_only_adapters_and_heads(dataset, tmp_path):
    from safetensors.torch import load_file

    from pi0_policy.train.finetune import HEADS

    train(tiny(dataset, tmp_path / "base", steps=1))
    initial = load_file(str(tmp_path / "base/model.safetensors"))
    with pytest.raises(ValueError, match="keeps its own"):
        train(tiny(dataset, tmp_path / "lora", init=str(tmp_path / "base"), lora_rank=4))
    cfg = tiny(dataset, tmp_path / "lora", init=str(tmp_path / "base"), lora_rank=4, steps=3,
               image_size=None, horizon=None, num_cameras=None)
    train(cfg)
    state = torch.load(tmp_path / "lora/train_state.pt", weights_only=False)["model"]
    lora = [k for k in state if "lora_" in k]
    assert lora and all(("language_model" in k or "gemma_expert" in k) for k in lora)
    assert any(float(state[k].abs().max()) > 0 for k in lora if "lora_B" in k)  # B starts at zero
    for name, value in initial.items():
        key = name if name in state else name.replace(".weight", ".base_layer.weight").replace(
            ".bias", ".base_layer.bias")
        if name.startswith(HEADS):
            assert not torch.equal(state[key], value), f"head {name} did not train"
        else:
            assert torch.equal(state[key], value), f"{name} changed under LoRA"
    merged = load_file(str(tmp_path / "lora/model.safetensors"))
    assert set(merged) == set(initial)
    q = "paligemma_with_expert.gemma_expert.model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[q], initial[q])  # the adapter is merged into the saved weight
    vision = "paligemma_with_expert.paligemma.model.vision_tower.vision_model.embeddings.patch_embedding.weight"
    assert torch.equal(merged[vision], initial[vision])


def test_freeze_vision_under_bf16_autocast_with_bf16_frozen_weights(dataset, tmp_path):
    from pi0_policy.model.weights import build_model

    cfg = tiny(dataset, tmp_path / "frozen", freeze="vision", dtype="bfloat16", frozen_dtype="bfloat16", steps=2)
    result = train(cfg)
    assert all(np.isfinite(result["losses"]))
    state = torch.load(tmp_path / "frozen/train_state.pt", weights_only=False)["model"]
    initial = build_model(build(cfg)[4], seed=cfg.seed).state_dict()
    vision = [k for k in initial if ".vision_tower." in k]
    assert vision and all(state[k].dtype == torch.bfloat16 for k in vision)
    assert all(torch.equal(state[k], initial[k].to(torch.bfloat16)) for k in vision)
    assert state["action_out_proj.weight"].dtype == torch.float32  # trained weights stay float32
    assert not torch.equal(state["action_out_proj.weight"], initial["action_out_proj.weight"])


def test_two_process_ddp_step_under_gloo_keeps_replicas_equal(dataset, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "pi0_bringup.cli", "train", str(dataset), "--out", str(tmp_path / "ddp"), "--preset", "pi0_tiny",
           "--image-size", "28", "--horizon", "8", "--num-cameras", "2", "--steps", "2", "--batch-size", "2",
           "--lr", "1e-3", "--warmup", "1", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = [torch.load(tmp_path / f"ddp/train_state.rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 2
    # each rank drew different batches (seed + rank), yet all-reduced gradients keep the weights equal
    assert not torch.equal(ranks[0]["sampler"]["generator"], ranks[1]["sampler"]["generator"])
    for name, tensor in ranks[0]["model"].items():
        torch.testing.assert_close(ranks[1]["model"][name], tensor, atol=1e-6, rtol=0, msg=name)
    assert (tmp_path / "ddp/model.safetensors").is_file()


def test_learning_rate_schedule_and_mixture_weights():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.55)  # halfway down the cosine
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)
    weights = mixture_weights([100, 10_000], PAPER_ALPHA)
    assert weights[1] / weights[0] == pytest.approx(100 ** 0.43)
    np.testing.assert_allclose(mixture_weights([5, 5, 10], 0.0), [1 / 3] * 3)
    with pytest.raises(ValueError, match="dtype"):
        TrainConfig(datasets=[], out="x", dtype="float8")
