"""Bags → LeRobot v3 dataset: shapes, time alignment, action targets, norm stats, model-ready
samples, MCAP and sqlite3, raw and compressed images, and bad bags named in the error."""
import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from bag_fixtures import ARM, T0, arm_position, gripper_command, write_ur5e_bag

from pi0_policy.data.bags import BagError
from pi0_policy.data.convert import convert_bags
from pi0_policy.data.lerobot import read_dataset
from pi0_policy.policy.normalize import load_norm_stats

EPISODES = (("pick the red cube", 0.0, 1.0, True), ("pick the blue cube", 1.2, 2.0, False))
DT = 1 / 20  # ur5e control rate
PIXEL_TOLERANCE = 2  # H.264 (yuv420p) round trip of flat grey frames


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    write_ur5e_bag(root / "bag", episodes=EPISODES)
    summary = convert_bags([root / "bag"], root / "ds", "ur5e", progress=False)
    return summary, root / "ds"


def expected_times(start, end):
    count = int(np.floor((end - start) / DT + 1e-9)) + 1
    return start + DT * np.arange(count)


def test_episodes_frames_and_layout(converted):
    summary, ds = converted
    assert summary["episodes"] == 2 and summary["frames"] == 21 + 17
    info = json.loads((ds / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20 and info["robot_type"] == "ur5e"
    assert info["features"]["observation.state"]["shape"] == [7]
    assert info["features"]["action"]["names"][-1] == "robotiq_85_left_knuckle_joint"
    assert info["features"]["observation.images.base"]["shape"] == [24, 32, 3]
    for path in ("meta/stats.json", "meta/tasks.parquet", "meta/episodes/chunk-000/file-000.parquet",
                 "data/chunk-000/file-000.parquet", "videos/observation.images.base/chunk-000/file-000.mp4",
                 "videos/observation.images.left_wrist/chunk-000/file-000.mp4", "norm_stats.json"):
        assert (ds / path).is_file(), path
    episodes = pq.read_table(ds / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["length"] for e in episodes] == [21, 17]
    assert [e["tasks"] for e in episodes] == [["pick the red cube"], ["pick the blue cube"]]
    assert [e["success"] for e in episodes] == [True, False] and [e["seed"] for e in episodes] == [7, 8]
    assert episodes[1]["dataset_from_index"] == 21
    assert episodes[1]["videos/observation.images.base/from_timestamp"] == 21 / 20
    tasks = pq.read_table(ds / "meta/tasks.parquet")
    assert tasks.schema.pandas_metadata["index_columns"] == ["task"]
    stats = json.loads((ds / "meta/stats.json").read_text())
    assert np.array(stats["observation.images.base"]["mean"]).shape == (3, 1, 1)


def test_time_alignment_of_state_images_and_actions(converted):
    _, ds = converted
    data = read_dataset(ds)
    for e, (_, start, end, _) in enumerate(EPISODES):
        lo, hi = data.bounds[e]
        times = expected_times(start, end)
        assert hi - lo == len(times)
        state_t = np.floor(times * 50 + 1e-6) / 50        # latest joint state at or before t
        image_k = np.floor(times * 25 + 1e-6)              # latest camera frame
        command_t = np.floor((times + DT) * 10 + 1e-6) / 10  # latest command by t + dt
        for j in range(6):
            np.testing.assert_allclose(data.state[lo:hi, j], arm_position(j, state_t), atol=1e-5)
            np.testing.assert_allclose(data.action[lo:hi, j], arm_position(j, command_t + 0.2), atol=1e-5)
        gripper = np.array([gripper_command(t) for t in command_t]) / 0.8  # model space: closed = 1
        np.testing.assert_allclose(data.action[lo:hi, 6], gripper, atol=1e-6)
        for key in ("observation.images.base", "observation.images.left_wrist"):
            pixels = data.frames[key][lo:hi].reshape(hi - lo, -1).astype(int)
            assert np.abs(pixels - (4 * image_k)[:, None]).max() <= PIXEL_TOLERANCE
        assert set(data.task[lo:hi]) == {EPISODES[e][0]}


def test_norm_stats_are_those_of_states_and_delta_action_chunks(converted):
    _, ds = converted
    data = read_dataset(ds)
    stats = load_norm_stats(ds / "norm_stats.json")
    np.testing.assert_allclose(stats["state"].mean, data.state.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["state"].std, data.state.std(0), atol=1e-5)
    chunks = []  # every real step of every 50-step chunk; arm joints relative to the chunk's state
    for lo, hi in data.bounds.values():
        for i in range(lo, hi):
            delta = data.action[i:hi].astype(np.float64).copy()
            delta[:, :6] -= data.state[i, :6]
            chunks.append(delta[:50])
    chunks = np.concatenate(chunks)
    np.testing.assert_allclose(stats["actions"].mean, chunks.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["actions"].std, chunks.std(0), atol=1e-5)


def test_model_ready_samples(converted):
    from pi0_hw_interfaces.embodiment import load_embodiment

    from pi0_policy.data.dataset import Pi0Dataset
    from pi0_policy.model.config import get_config
    from pi0_policy.policy.adapters import EmbodimentAdapter
    from pi0_policy.policy.tokenizer import PromptTokenizer, demo_tokenizer_path

    _, ds = converted
    config = get_config("pi0_tiny")
    tokenizer = PromptTokenizer(demo_tokenizer_path(), config.max_token_len)
    adapter = EmbodimentAdapter(load_embodiment("ur5e"))
    stats = load_norm_stats(ds / "norm_stats.json")
    dataset = Pi0Dataset(ds, config, tokenizer, ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb"),
                         adapter, stats=stats)
    last = 20  # the last frame of episode 0: one real action step, 49 padded
    sample = dataset[last]
    assert sample["images"].shape == (3, 3, 224, 224) and sample["image_masks"].tolist() == [True, True, False]
    assert float(sample["images"][2].max()) == -1.0
    assert sample["state"].shape == (32,) and float(sample["state"][7:].abs().max()) == 0.0
    expected = (dataset.state[last] - stats["state"].mean) / (stats["state"].std + 1e-6)
    np.testing.assert_allclose(sample["state"][:7].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert sample["actions"].shape == (50, 32) and sample["action_pad_mask"].tolist() == [True] + [False] * 49
    raw = dataset.action[last].astype(np.float64).copy()
    raw[:6] -= dataset.state[last, :6]
    np.testing.assert_allclose(sample["actions"][0, :7].numpy(),
                               (raw - stats["actions"].mean) / (stats["actions"].std + 1e-6), rtol=1e-4, atol=1e-4)
    assert (sample["actions"][1:] == sample["actions"][0]).all()  # padding repeats the last action
    tokens, mask = tokenizer.encode("pick the red cube")
    assert sample["tokens"].tolist() == tokens.tolist() and sample["token_masks"].tolist() == mask.tolist()


def test_sqlite3_bag_with_compressed_images_and_next_state_actions(tmp_path):
    write_ur5e_bag(tmp_path / "bag", episodes=(("stack", 0.0, 0.5, None),), storage="sqlite3", compressed=True)
    assert (tmp_path / "bag" / "bag.db3").is_file()
    convert_bags([tmp_path / "bag"], tmp_path / "ds", "ur5e", actions="next-state", image_size=16, progress=False)
    data = read_dataset(tmp_path / "ds")
    assert data.frames["observation.images.base"].shape[1:] == (12, 16, 3)  # 32x24 scaled, aspect kept
    times = expected_times(0.0, 0.5)
    assert len(data) == len(times)
    np.testing.assert_allclose(data.action[:-1, :6], data.state[1:, :6], atol=1e-6)
    pixels = data.frames["observation.images.base"].reshape(len(times), -1).astype(int)
    assert np.abs(pixels - 4 * np.floor(times * 25 + 1e-6)[:, None]).max() <= PIXEL_TOLERANCE


def test_a_bad_image_message_names_the_bag_topic_and_time(tmp_path):
    bag = write_ur5e_bag(tmp_path / "bag", corrupt_image_at=0.6)
    with pytest.raises(BagError) as error:
        convert_bags([bag], tmp_path / "ds", "ur5e", progress=False)
    text = str(error.value)
    assert not (tmp_path / "ds").exists()  # nothing half-written left behind
    assert str(bag) in text and "/camera_base/camera/color/image_raw" in text and f"t={T0 + 0.6:.3f} s" in text


def test_a_truncated_bag_file_is_named_by_the_cli(tmp_path):
    bag = write_ur5e_bag(tmp_path / "bag")
    mcap = next(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    proc = subprocess.run([sys.executable, "-m", "pi0_bringup.cli", "dataset", "convert", str(bag),
                           str(tmp_path / "ds"), "--embodiment", "ur5e", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pi0 dataset: bag ") and str(bag) in lines[0]


def test_dataset_info_cli(converted):
    _, ds = converted
    proc = subprocess.run([sys.executable, "-m", "pi0_bringup.cli", "dataset", "info", str(ds)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["episodes"] == 2 and info["frames"] == 38 and info["fps"] == 20
    assert info["tasks"] == ["pick the blue cube", "pick the red cube"]


def test_missing_commands_suggest_next_state(tmp_path):
    from pi0_hw_interfaces.embodiment import load_embodiment

    from pi0_policy.data.bags import read_bag
    from pi0_policy.data.episodes import episode_frames, segments
    from pi0_policy.policy.adapters import EmbodimentAdapter

    bag = write_ur5e_bag(tmp_path / "bag")
    spec = load_embodiment("ur5e")
    streams = read_bag(bag, spec)
    streams.commands.pop("gripper_controller")
    with pytest.raises(BagError, match="gripper_controller/joint_trajectory.*--actions next-state"):
        episode_frames(streams, spec, EmbodimentAdapter(spec), segments(streams)[0], 0)
    assert len(ARM) == 6
