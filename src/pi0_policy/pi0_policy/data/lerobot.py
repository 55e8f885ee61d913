"""LeRobot's dataset v3 layout: write episodes into it, read it back (ours or the community's).

Layout (LeRobot ``src/lerobot/datasets/utils.py``, codebase_version "v3.0")::

    meta/info.json                         fps, features, totals, path templates
    meta/stats.json                        per feature: min, max, mean, std, count
    meta/tasks.parquet                     index "task" (str) → column task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, data and video
                                           locations (dataset_from/to_index, videos/<key>/…)
    data/chunk-000/file-000.parquet        one row per frame: observation.state, action,
                                           timestamp, frame_index, episode_index, index, task_index
    videos/<key>/chunk-000/file-000.mp4    every episode's frames of one camera, back to back

Camera keys are ``observation.images.<camera role>`` (base, left_wrist, right_wrist). This
writer puts everything in chunk 0, file 0 (LeRobot splits files at 100 MB of data / 200 MB of
video; the reader follows whatever chunk/file each episode names). Video: H.264 yuv420p (PyAV's
bundled FFmpeg); ``info.json`` names the codec, so LeRobot's decoders pick it up.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CODEBASE_VERSION = "v3.0"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
IMAGE_PREFIX = "observation.images."
STATE_KEY, ACTION_KEY = "observation.state", "action"
CODEC = "h264"


def _index_feature(dtype: str) -> dict:
    return {"dtype": dtype, "shape": [1], "names": None}


def _write_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _fixed(values: np.ndarray):
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def encode_video(frames: np.ndarray, path: Path, fps: int, crf: int = 18) -> None:
    """uint8[N, H, W, 3] → an H.264 mp4 at ``fps`` (H and W must be even, as yuv420p needs)."""
    import av

    n, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: video frames must have even sizes for yuv420p, got {width}x{height} "
                         "(resize them with --image-size)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(CODEC, rate=fps, options={"crf": str(crf), "g": "2"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def decode_video(path: Path) -> np.ndarray:
    """All frames of an mp4 as uint8[N, H, W, 3]."""
    import av

    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _tasks_table(tasks: list[str]):
    """meta/tasks.parquet as pandas writes a DataFrame indexed by "task" (LeRobot reads it so)."""
    import pyarrow as pa

    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks)})
    pandas_meta = {
        "index_columns": ["task"], "column_indexes": [{"name": None, "field_name": None,
                                                      "pandas_type": "unicode", "numpy_type": "object",
                                                      "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                     "numpy_type": "int64", "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode",
                     "numpy_type": "object", "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def write_dataset(out: str | Path, episodes, fps: int, state_names, action_names,
                  robot_type: str = "", extra_info: dict | None = None) -> Path:
    """Write ``episodes`` (`pi0_policy.data.episodes.Episode`) in the v3 layout under ``out``."""
    import pyarrow as pa

    from pi0_policy.data.stats import lerobot_stats

    out = Path(out)
    if not episodes:
        raise ValueError("no episodes to write")
    roles = sorted(episodes[0].images)
    tasks = sorted({e.instruction for e in episodes})
    task_index = {t: i for i, t in enumerate(tasks)}
    loc = {"chunk_index": 0, "file_index": 0}
    columns = {k: [] for k in ("state", "action", "timestamp", "frame_index", "episode_index", "index",
                               "task_index")}
    rows, start = [], 0
    for e_idx, ep in enumerate(episodes):
        n = len(ep.times)
        columns["state"].append(ep.state)
        columns["action"].append(ep.actions)
        columns["timestamp"].append(np.arange(n, dtype=np.float32) / np.float32(fps))
        columns["frame_index"].append(np.arange(n))
        columns["episode_index"].append(np.full(n, e_idx))
        columns["index"].append(start + np.arange(n))
        columns["task_index"].append(np.full(n, task_index[ep.instruction]))
        row = {"episode_index": e_idx, "tasks": [ep.instruction], "length": n,
               "data/chunk_index": 0, "data/file_index": 0,
               "dataset_from_index": start, "dataset_to_index": start + n,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
               "source_bag": ep.bag, "source_episode": ep.index, "task_name": ep.task,
               "seed": ep.seed, "success": ep.success}
        for role in roles:
            key = IMAGE_PREFIX + role
            row[f"videos/{key}/chunk_index"] = 0
            row[f"videos/{key}/file_index"] = 0
            row[f"videos/{key}/from_timestamp"] = start / fps
            row[f"videos/{key}/to_timestamp"] = (start + n) / fps
        rows.append(row)
        start += n
    cat = {k: np.concatenate(v) for k, v in columns.items()}
    data = pa.table({STATE_KEY: _fixed(cat["state"]), ACTION_KEY: _fixed(cat["action"]),
                     "timestamp": pa.array(cat["timestamp"], pa.float32()),
                     **{k: pa.array(cat[k], pa.int64()) for k in ("frame_index", "episode_index", "index",
                                                                    "task_index")}})
    _write_parquet(data, out / DATA_PATH.format(**loc))
    _write_parquet(pa.Table.from_pylist(rows), out / EPISODES_PATH.format(**loc))
    _write_parquet(_tasks_table(tasks), out / "meta" / "tasks.parquet")
    features = {STATE_KEY: {"dtype": "float32", "shape": [len(state_names)], "names": list(state_names)},
                ACTION_KEY: {"dtype": "float32", "shape": [len(action_names)], "names": list(action_names)}}
    videos = {}
    for role in roles:
        key = IMAGE_PREFIX + role
        frames = np.concatenate([ep.images[role] for ep in episodes])
        encode_video(frames, out / VIDEO_PATH.format(video_key=key, **loc), fps)
        videos[key] = frames
        h, w = frames.shape[1:3]
        features[key] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                         "info": {"video.height": h, "video.width": w, "video.codec": CODEC,
                                  "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                                  "video.fps": fps, "video.channels": 3, "has_audio": False}}
    features.update({"timestamp": _index_feature("float32"), **{k: _index_feature("int64") for k in
                     ("frame_index", "episode_index", "index", "task_index")}})
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(episodes),
            "total_frames": start, "total_tasks": len(tasks), "chunks_size": 1000,
            "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": fps,
            "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
            "features": features, **(extra_info or {})}
    (out / "meta" / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    stats = lerobot_stats({STATE_KEY: cat["state"], ACTION_KEY: cat["action"]}, videos)
    (out / "meta" / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return out


@dataclass
class LeRobotEpisodes:
    """A v3 dataset in memory: per-frame arrays, episode bounds, tasks and decoded video frames."""

    root: Path
    info: dict
    state: np.ndarray          # float32[N, state_dim]
    action: np.ndarray         # float32[N, action_dim]
    episode_index: np.ndarray  # int64[N]
    frame_index: np.ndarray    # int64[N]
    task: list[str]            # per frame
    bounds: dict[int, tuple[int, int]]  # episode → [from, to) row range
    frames: dict[str, np.ndarray]       # video key → uint8[N, H, W, 3], aligned with the rows

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def video_keys(self) -> list[str]:
        return sorted(self.frames)

    def __len__(self) -> int:
        return len(self.state)


def _read_table(path: Path):
    import pyarrow.parquet as pq

    if not path.is_file():
        raise FileNotFoundError(f"LeRobot dataset file not found: {path}")
    return pq.read_table(path)


def _column(table, name: str, where: Path) -> np.ndarray:
    if name not in table.column_names:
        raise ValueError(f"{where}: no column {name!r}; columns: {table.column_names}")
    import pyarrow.types as pat

    col = table.column(name).combine_chunks()
    if pat.is_list(col.type) or pat.is_large_list(col.type) or pat.is_fixed_size_list(col.type):
        return np.asarray(col.flatten().to_numpy(zero_copy_only=False)).reshape(len(col), -1)
    return col.to_numpy(zero_copy_only=False)


def read_dataset(root: str | Path) -> LeRobotEpisodes:
    """Read a LeRobot v3 dataset directory (every chunk/file its episodes name); videos decoded."""
    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"not a LeRobot dataset: {info_path} does not exist")
    info = json.loads(info_path.read_text())
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        raise ValueError(f"{info_path}: codebase_version {version!r}; this reader reads v3.x datasets")
    tasks_table = _read_table(root / "meta" / "tasks.parquet")
    task_col = "task" if "task" in tasks_table.column_names else "__index_level_0__"
    tasks = dict(zip(_column(tasks_table, "task_index", root).tolist(), tasks_table.column(task_col).to_pylist()))
    episodes = []
    for path in sorted((root / "meta" / "episodes").rglob("*.parquet")):
        episodes.extend(_read_table(path).to_pylist())
    episodes.sort(key=lambda e: e["episode_index"])
    data_files = sorted({(e["data/chunk_index"], e["data/file_index"]) for e in episodes})
    parts = [_read_table(root / info["data_path"].format(chunk_index=c, file_index=f)) for c, f in data_files]
    import pyarrow as pa

    data = pa.concat_tables(parts).sort_by("index")
    state = _column(data, STATE_KEY, root).astype(np.float32)
    action = _column(data, ACTION_KEY, root).astype(np.float32)
    episode_index = _column(data, "episode_index", root).astype(np.int64)
    frame_index = _column(data, "frame_index", root).astype(np.int64)
    task = [tasks[int(i)] for i in _column(data, "task_index", root)]
    bounds = {}
    for e in episodes:
        rows = np.flatnonzero(episode_index == e["episode_index"])
        if rows.size != e["length"]:
            raise ValueError(f"{root}: episode {e['episode_index']} has {rows.size} frames in data, "
                             f"{e['length']} in meta/episodes")
        bounds[int(e["episode_index"])] = (int(rows[0]), int(rows[-1]) + 1)
    frames = {}
    video_keys = [k for k, f in info["features"].items() if f.get("dtype") == "video"]
    fps = float(info["fps"])
    for key in video_keys:
        decoded, out = {}, np.zeros((len(state), *info["features"][key]["shape"]), np.uint8)
        for e in episodes:
            loc = (e[f"videos/{key}/chunk_index"], e[f"videos/{key}/file_index"])
            if loc not in decoded:
                decoded[loc] = decode_video(root / info["video_path"].format(
                    video_key=key, chunk_index=loc[0], file_index=loc[1]))
            lo, hi = bounds[int(e["episode_index"])]
            first = int(round(e[f"videos/{key}/from_timestamp"] * fps))
            picks = np.clip(first + frame_index[lo:hi], 0, len(decoded[loc]) - 1)
            out[lo:hi] = decoded[loc][picks]
        frames[key] = out
    return LeRobotEpisodes(root=root, info=info, state=state, action=action, episode_index=episode_index,
                           frame_index=frame_index, task=task, bounds=bounds, frames=frames)
