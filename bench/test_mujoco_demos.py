"""bench/mujoco_demos.py: scripted-expert demonstrations written as a LeRobot v3 dataset that this
project's reader and training data loader take (top camera only, model space, 50 Hz)."""
import json

import numpy as np
import pytest
from conftest import load_bench

STEPS, SIZE = 30, 32


@pytest.fixture(scope="module")
def bench():
    return load_bench("mujoco_demos")


@pytest.fixture(scope="module")
def dataset(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "aloha_sim"
    summary = bench.write_dataset(out, ["transfer_cube", "insertion"], [1000], image_size=SIZE, horizon=10,
                                  steps=STEPS, only_success=False)
    return out, summary


def test_dataset_layout_and_model_space(bench, dataset):
    from pi0_hw_interfaces.embodiment import load_embodiment
    from pi0_hw_interfaces.mujoco_sim.scene import AlohaScene
    from pi0_policy.data.lerobot import read_dataset
    from pi0_policy.policy.adapters import EmbodimentAdapter

    out, summary = dataset
    assert summary["episodes"] == 2 and summary["frames"] == 2 * STEPS
    data = read_dataset(out)
    assert data.fps == 50 and len(data) == 2 * STEPS and data.video_keys == ["observation.images.base"]
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["pi0_space"] == "model" and info["robot_type"] == "bimanual_trossen"
    assert info["features"]["observation.images.base"]["shape"] == [SIZE, SIZE, 3]
    assert (out / "norm_stats.json").is_file()
    spec = load_embodiment("bimanual_trossen")
    adapter = EmbodimentAdapter(spec)
    start = AlohaScene(spec).start_positions()
    first_state = adapter.encode_state(start)
    np.testing.assert_allclose(data.state[0], first_state, atol=1e-5)   # frame 0: the start pose
    np.testing.assert_allclose(data.state[STEPS], first_state, atol=1e-5)  # the second episode's
    # model space: grippers in [0, 1], shoulders and elbows sign-flipped (pi0ros profile)
    grippers = [adapter.state_names.index(n) for n in spec.grippers]
    assert np.all((data.state[:, grippers] >= -0.05) & (data.state[:, grippers] <= 1.05))
    shoulder = adapter.state_names.index("follower_left_shoulder")
    assert data.state[0, shoulder] == pytest.approx(0.96, abs=1e-5)  # START_ARM_POSE -0.96, flipped
    # actions: the expert's plan (its target for the end of each step), in model space (absolute)
    from pi0_hw_interfaces.mujoco_sim import expert
    from pi0_policy.data.episodes import _absolute_model_actions

    scene = AlohaScene(spec)
    scene.reset(1000)
    plan = expert.plan(scene, STEPS)
    names = list(spec.joint_names)
    start_by_name = dict(zip(names, start.tolist()))
    cols = [names.index(n) for n in adapter.action_names]
    expected = _absolute_model_actions(adapter, plan.positions[0, cols], start_by_name)
    np.testing.assert_allclose(data.action[0], expected, atol=1e-5)
    grip = adapter.action_names.index("follower_left_gripper")
    np.testing.assert_allclose(data.action[:STEPS, grip],
                               [adapter.encode_state(p[cols])[grip] for p in plan.positions], atol=1e-5)


def test_training_loader_reads_the_demonstrations(dataset):
    import dataclasses

    from pi0_policy.data.dataset import Pi0Dataset
    from pi0_policy.model.config import get_config
    from pi0_policy.policy.tokenizer import PromptTokenizer, demo_tokenizer_path

    out, _ = dataset
    base = get_config("pi0_tiny")
    config = dataclasses.replace(base, num_cameras=1, action_horizon=10,
                                 vision=dataclasses.replace(base.vision, image_size=28))
    from pi0_hw_interfaces.embodiment import load_embodiment
    from pi0_policy.policy.adapters import EmbodimentAdapter

    adapter = EmbodimentAdapter(load_embodiment("bimanual_trossen"))  # as pi0 train: the dataset's embodiment
    ds = Pi0Dataset(out, config, PromptTokenizer(demo_tokenizer_path(), config.max_token_len), ("base_0_rgb",),
                    adapter)
    assert ds.cameras == {"base_0_rgb": "observation.images.base"}
    assert ds.data.task[0] == "Transfer cube" and ds.data.task[STEPS] == "Insert the peg into the socket"
    sample = ds[0]
    assert sample["images"].shape == (1, 3, 28, 28) and bool(sample["image_masks"][0])
    assert float(sample["images"].std()) > 0.05  # a rendered scene, not a blank slot
    assert sample["actions"].shape == (10, config.max_action_dim) and bool(sample["action_pad_mask"].all())
