"""Reading a LeRobot v3 dataset that this test writes by hand in LeRobot's layout (robot-space
values, community camera names, two episodes in one data file and one video file)."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pi0_policy.data.dataset import Pi0Dataset
from pi0_policy.data.lerobot import encode_video, read_dataset
from pi0_policy.model.config import get_config
from pi0_policy.policy.tokenizer import PromptTokenizer, demo_tokenizer_path

LENGTHS = (6, 4)
GRIPPER_CLOSED = 0.8  # ur5e's robotiq knuckle: 0 open, 0.8 closed


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    n = sum(LENGTHS)
    state = np.stack([np.full(7, 0.01 * i) for i in range(n)]).astype(np.float32)
    state[:, 6] = 0.4  # half closed
    action = state + np.float32(0.5)
    episode = np.repeat([0, 1], LENGTHS)
    frame = np.concatenate([np.arange(k) for k in LENGTHS])
    data = pa.table({
        "observation.state": pa.array(state.tolist(), pa.list_(pa.float32())),
        "action": pa.array(action.tolist(), pa.list_(pa.float32())),
        "timestamp": pa.array(frame / 10, pa.float32()), "frame_index": pa.array(frame, pa.int64()),
        "episode_index": pa.array(episode, pa.int64()), "index": pa.array(np.arange(n), pa.int64()),
        "task_index": pa.array(episode, pa.int64())})
    (root / "data/chunk-000").mkdir(parents=True)
    pq.write_table(data, root / "data/chunk-000/file-000.parquet")
    frames = np.stack([np.full((16, 16, 3), 10 * i, np.uint8) for i in range(n)])
    encode_video(frames, root / "videos/observation.images.cam_high/chunk-000/file-000.mp4", fps=10)
    episodes = [{"episode_index": e, "tasks": [task], "length": k, "data/chunk_index": 0, "data/file_index": 0,
                 "dataset_from_index": lo, "dataset_to_index": lo + k,
                 "videos/observation.images.cam_high/chunk_index": 0,
                 "videos/observation.images.cam_high/file_index": 0,
                 "videos/observation.images.cam_high/from_timestamp": lo / 10,
                 "videos/observation.images.cam_high/to_timestamp": (lo + k) / 10}
                for e, (task, k, lo) in enumerate([("fold", 6, 0), ("unfold", 4, 6)])]
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(episodes), root / "meta/episodes/chunk-000/file-000.parquet")
    # pandas' to_parquet of a DataFrame indexed by "task" stores the index as the column
    # "__index_level_0__" when the index is unnamed; LeRobot names it "task". Use the unnamed form.
    pq.write_table(pa.table({"task_index": [0, 1], "__index_level_0__": ["fold", "unfold"]}),
                   root / "meta/tasks.parquet")
    info = {"codebase_version": "v3.0", "robot_type": "ur5e", "fps": 10, "total_episodes": 2, "total_frames": n,
            "total_tasks": 2, "chunks_size": 1000,
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": {"observation.state": {"dtype": "float32", "shape": [7]},
                         "action": {"dtype": "float32", "shape": [7]},
                         "observation.images.cam_high": {"dtype": "video", "shape": [16, 16, 3]}}}
    (root / "meta/info.json").write_text(json.dumps(info))
    return root, state, action


def test_reads_frames_tasks_and_video_in_order(community):
    root, state, action = community
    data = read_dataset(root)
    assert data.bounds == {0: (0, 6), 1: (6, 10)} and data.task == ["fold"] * 6 + ["unfold"] * 4
    np.testing.assert_array_equal(data.state, state)
    pixels = data.frames["observation.images.cam_high"].reshape(10, -1).astype(int)
    assert np.abs(pixels - (10 * np.arange(10))[:, None]).max() <= 2


def test_robot_space_values_are_encoded_by_the_adapter(community):
    from pi0_hw_interfaces.embodiment import load_embodiment

    from pi0_policy.policy.adapters import EmbodimentAdapter

    root, state, action = community
    config = get_config("pi0_tiny", action_horizon=4)
    tok = PromptTokenizer(demo_tokenizer_path(), config.max_token_len)
    ds = Pi0Dataset(root, config, tok, ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb"),
                    EmbodimentAdapter(load_embodiment("ur5e")), camera_map={"cam_high": "base_0_rgb"})
    # gripper: driver 0.4 → model 0.5; its action 0.9 → 1.125 (absolute); arm actions are deltas
    np.testing.assert_allclose(ds.state[:, 6], 0.4 / GRIPPER_CLOSED, atol=1e-6)
    np.testing.assert_allclose(ds.action[:, 6], 0.9 / GRIPPER_CLOSED, atol=1e-6)
    chunks = ds._chunks(np.array([4]))[0]  # frame 4 of episode 0: rows 4, 5, then 5 repeated
    np.testing.assert_allclose(chunks[:, 0], [0.5, 0.51, 0.51, 0.51], atol=1e-6)
    assert ds.valid[4].tolist() == [True, True, False, False]
    sample = ds[7]
    assert sample["image_masks"].tolist() == [True, False, False]
    assert sample["tokens"].tolist() == tok.encode("unfold")[0].tolist()
    with pytest.raises(ValueError, match="no camera of .*cam_high"):
        Pi0Dataset(root, config, tok, ("base_0_rgb",), None)
