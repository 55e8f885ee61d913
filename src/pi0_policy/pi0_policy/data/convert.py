"""Bags → a LeRobot v3 dataset + norm_stats.json (what `pi0 dataset convert` runs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pi0_policy.data.dataset import dataset_norm_stats
from pi0_policy.data.episodes import bag_episodes
from pi0_policy.data.lerobot import DatasetWriter
from pi0_policy.policy.normalize import save_norm_stats

NORM_STATS_FILE = "norm_stats.json"


def convert_bags(bags, out: str | Path, embodiment: str, actions: str = "commands", namespace: str = "",
                 image_size: int | None = None, horizon: int = 50, only_success: bool = False,
                 progress: bool = True) -> dict:
    """Convert ``bags`` into a dataset at ``out``; returns a summary (episodes, frames, tasks)."""
    from tqdm import tqdm

    out = Path(out)
    spec, adapter, writer = open_writer(out, embodiment, actions)
    episodes, skipped = [], 0  # episodes without their images: frames go to the video encoders
    try:
        for bag in tqdm([Path(b) for b in bags], desc="bags", unit="bag", disable=not progress):
            for episode in bag_episodes(bag, spec, adapter, actions, namespace, image_size):
                if only_success and episode.success is not True:
                    skipped += 1
                    continue
                writer.add(episode)
                episode.images = {}
                episodes.append(episode)
        if not episodes:
            raise ValueError(f"no episodes in {[str(b) for b in bags]}"
                             + (f" ({skipped} without success dropped)" if skipped else ""))
        writer.close()
    except BaseException:
        writer.abort()  # no half-written dataset left behind
        raise
    frames = save_episode_norm_stats(out, episodes, horizon, adapter)
    return {"episodes": len(episodes), "frames": frames, "skipped": skipped,
            "tasks": sorted({e.instruction for e in episodes}), "path": str(out)}


def open_writer(out: str | Path, embodiment: str, actions: str = "commands"):
    """(spec, adapter, `DatasetWriter`) of a new model-space dataset of `embodiment` at `out`
    (FileExistsError if `out` is a non-empty folder)."""
    from pi0_hw_interfaces.embodiment import load_embodiment
    from pi0_policy.policy.adapters import EmbodimentAdapter

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    spec = load_embodiment(embodiment)
    adapter = EmbodimentAdapter(spec)
    writer = DatasetWriter(out, int(round(spec.control_rate_hz)), adapter.state_names, adapter.action_names,
                           robot_type=spec.name,
                           extra_info={"pi0_space": "model", "pi0_embodiment": spec.name, "pi0_actions": actions})
    return spec, adapter, writer


def save_episode_norm_stats(out: str | Path, episodes, horizon: int, adapter) -> int:
    """``out/norm_stats.json`` from the episodes' states and action chunks; returns the frame count."""
    state = np.concatenate([e.state for e in episodes])
    action = np.concatenate([e.actions for e in episodes])
    bounds, start = {}, 0
    for i, e in enumerate(episodes):
        bounds[i] = (start, start + len(e.times))
        start += len(e.times)
    save_norm_stats(Path(out) / NORM_STATS_FILE, dataset_norm_stats(state, action, bounds, horizon, adapter))
    return int(start)
