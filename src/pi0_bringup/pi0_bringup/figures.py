"""Pictures of a run: camera views at start and end, joint positions over time (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_camera_views(path, first: dict, last: dict, roles, title: str = "") -> Path:
    """A 2 × len(roles) grid: each camera's first image (top row) and last image (bottom row).

    A role without an image shows an empty, labelled panel. Returns the written path.
    """
    plt = _pyplot()
    roles = list(roles)
    fig, axes = plt.subplots(2, len(roles), figsize=(3.2 * len(roles), 5.6), squeeze=False)
    for column, role in enumerate(roles):
        for row, (when, images) in enumerate((("start", first), ("end", last))):
            ax = axes[row][column]
            ax.set_xticks([])
            ax.set_yticks([])
            image = images.get(role)
            if image is None:
                ax.text(0.5, 0.5, "no image", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(image)
            ax.set_title(f"{role} ({when})", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(plt, fig, path)


def save_joint_plot(path, times: np.ndarray, positions: np.ndarray, names, chunk_times=(), title: str = ""):
    """Joint positions (T × J) over time (s), one line per joint; chunk arrivals as vertical ticks."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.6, 4.0))
    for j, name in enumerate(names):
        if positions.shape[0]:
            ax.plot(times, positions[:, j], linewidth=1.0, label=name)
    for t in chunk_times:
        ax.axvline(t, color="0.8", linewidth=0.6, zorder=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("position (rad, m for grippers)")
    ax.set_title(title or "joint positions (grey lines: action chunks received)", fontsize=10)
    if len(names) <= 20:
        ax.legend(fontsize=6, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(plt, fig, path)


def _save(plt, fig, path) -> Path:
    """Lay `fig` out, write it to `path` (creating the folder) as a PNG, close it; return the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
