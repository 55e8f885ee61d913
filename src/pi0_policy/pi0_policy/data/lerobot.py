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


class VideoEncoder:
    """Frames uint8[H, W, 3] → an H.264 mp4 at ``fps``, appended episode by episode (H and W must be
    even, as yuv420p needs)."""

    def __init__(self, path: Path, fps: int, crf: int = 18):
        self.path, self.fps, self.crf = Path(path), fps, crf
        self.count, self._container, self._stream = 0, None, None

    def add(self, frames: np.ndarray) -> None:
        import av

        n, height, width, _ = frames.shape
        if self._container is None:
            if height % 2 or width % 2:
                raise ValueError(f"{self.path}: video frames must have even sizes for yuv420p, got "
                                 f"{width}x{height} (resize them with --image-size)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w")
            self._stream = self._container.add_stream(CODEC, rate=self.fps, options={"crf": str(self.crf), "g": "2"})
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        elif (height, width) != (self._stream.height, self._stream.width):
            raise ValueError(f"{self.path}: frames of {width}x{height} after {self._stream.width}x"
                             f"{self._stream.height}; every episode's camera must have one size")
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame.pts = self.count
            self.count += 1
            self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        if self._container is not None:
            self._container.mux(self._stream.encode())
            self._container.close()
            self._container = None


def encode_video(frames: np.ndarray, path: Path, fps: int, crf: int = 18) -> None:
    """uint8[N, H, W, 3] → an H.264 mp4 at ``fps`` (see `VideoEncoder`)."""
    encoder = VideoEncoder(path, fps, crf)
    try:
        encoder.add(frames)
    finally:
        encoder.close()


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


class DatasetWriter:
    """Writes episodes (`pi0_policy.data.episodes.Episode`) in the v3 layout under ``out`` one at a
    time: frames go straight into the video encoders, so only states and actions stay in memory.
    `close` writes the parquet files, meta/info.json and meta/stats.json."""

    def __init__(self, out: str | Path, fps: int, state_names, action_names, robot_type: str = "",
                 extra_info: dict | None = None):
        self.out, self.fps = Path(out), int(fps)
        self.state_names, self.action_names = list(state_names), list(action_names)
        self.robot_type, self.extra_info = robot_type, dict(extra_info or {})
        self.roles: list[str] | None = None
        self.tasks: dict[str, int] = {}
        self.rows: list[dict] = []
        self.state: list[np.ndarray] = []
        self.action: list[np.ndarray] = []
        self.encoders: dict[str, VideoEncoder] = {}
        self.pixels: dict[str, PixelStats] = {}
        self.frames = 0

    def add(self, ep) -> None:
        roles = sorted(ep.images)
        if self.roles is None:
            self.roles = roles
        elif roles != self.roles:
            raise ValueError(f"episode {ep.index} of {ep.bag} has cameras {roles}, earlier episodes {self.roles}")
        n, start = len(ep.times), self.frames
        self.tasks.setdefault(ep.instruction, len(self.tasks))
        self.state.append(np.asarray(ep.state, np.float32))
        self.action.append(np.asarray(ep.actions, np.float32))
        row = {"episode_index": len(self.rows), "tasks": [ep.instruction], "length": n,
               "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": start,
               "dataset_to_index": start + n, "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
               "source_bag": ep.bag, "source_episode": ep.index, "task_name": ep.task, "seed": ep.seed,
               "success": ep.success}
        for role in roles:
            key = IMAGE_PREFIX + role
            if key not in self.encoders:
                loc = {"chunk_index": 0, "file_index": 0}
                self.encoders[key] = VideoEncoder(self.out / VIDEO_PATH.format(video_key=key, **loc), self.fps)
                self.pixels[key] = PixelStats()
            self.encoders[key].add(ep.images[role])
            self.pixels[key].add(ep.images[role])
            row.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                        f"videos/{key}/from_timestamp": start / self.fps,
                        f"videos/{key}/to_timestamp": (start + n) / self.fps})
        self.rows.append(row)
        self.frames += n

    def abort(self) -> None:
        """Stop after an error: close the encoders and remove what was written."""
        import shutil

        for encoder in self.encoders.values():
            encoder.close()
        shutil.rmtree(self.out, ignore_errors=True)

    def close(self) -> Path:
        import pyarrow as pa

        from pi0_policy.data.stats import lerobot_stats

        for encoder in self.encoders.values():
            encoder.close()
        if not self.rows:
            raise ValueError("no episodes to write")
        loc = {"chunk_index": 0, "file_index": 0}
        state, action = np.concatenate(self.state), np.concatenate(self.action)
        lengths = [r["length"] for r in self.rows]
        frame_index = np.concatenate([np.arange(n) for n in lengths])
        episode_index = np.repeat(np.arange(len(lengths)), lengths)
        task_index = np.repeat([self.tasks[r["tasks"][0]] for r in self.rows], lengths)
        data = pa.table({STATE_KEY: _fixed(state), ACTION_KEY: _fixed(action),
                         "timestamp": pa.array(frame_index / np.float32(self.fps), pa.float32()),
                         "frame_index": pa.array(frame_index, pa.int64()),
                         "episode_index": pa.array(episode_index, pa.int64()),
                         "index": pa.array(np.arange(self.frames), pa.int64()),
                         "task_index": pa.array(task_index, pa.int64())})
        _write_parquet(data, self.out / DATA_PATH.format(**loc))
        _write_parquet(pa.Table.from_pylist(self.rows), self.out / EPISODES_PATH.format(**loc))
        _write_parquet(_tasks_table(list(self.tasks)), self.out / "meta" / "tasks.parquet")
        features = {STATE_KEY: {"dtype": "float32", "shape": [len(self.state_names)], "names": self.state_names},
                    ACTION_KEY: {"dtype": "float32", "shape": [len(self.action_names)], "names": self.action_names}}
        for key, encoder in self.encoders.items():
            h, w = encoder._stream.height, encoder._stream.width
            features[key] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                             "info": {"video.height": h, "video.width": w, "video.codec": CODEC,
                                      "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                                      "video.fps": self.fps, "video.channels": 3, "has_audio": False}}
        features.update({"timestamp": _index_feature("float32"), **{k: _index_feature("int64") for k in
                         ("frame_index", "episode_index", "index", "task_index")}})
        info = {"codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
                "total_episodes": len(self.rows), "total_frames": self.frames, "total_tasks": len(self.tasks),
                "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": self.fps,
                "splits": {"train": f"0:{len(self.rows)}"}, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
                "features": features, **self.extra_info}
        (self.out / "meta" / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        stats = lerobot_stats({STATE_KEY: state, ACTION_KEY: action},
                              {key: px.summary() for key, px in self.pixels.items()})
        (self.out / "meta" / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        return self.out


class PixelStats:
    """Running per-channel min, max, mean, std of frames (pixels in [0, 1]), over every frame."""

    def __init__(self):
        self.count, self.sum, self.sumsq = 0, np.zeros(3), np.zeros(3)
        self.min, self.max = np.full(3, np.inf), np.full(3, -np.inf)

    def add(self, frames: np.ndarray) -> None:
        pixels = frames.reshape(-1, 3).astype(np.float64) / 255.0
        self.count += len(pixels)
        self.sum += pixels.sum(0)
        self.sumsq += (pixels ** 2).sum(0)
        self.min, self.max = np.minimum(self.min, pixels.min(0)), np.maximum(self.max, pixels.max(0))

    def summary(self) -> dict:
        mean = self.sum / self.count
        std = np.sqrt(np.maximum(self.sumsq / self.count - mean ** 2, 0.0))
        return {"min": self.min, "max": self.max, "mean": mean, "std": std, "count": self.count}


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
