"""Animated GIFs of evaluation episodes: the task camera's frames, upscaled, with a caption."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def caption_frames(frames: list, text: str, success: bool | None, scale: int = 3) -> list:
    """PIL images: each frame upscaled `scale`× (nearest) above a caption bar with `text` and the result."""
    from PIL import Image, ImageDraw

    out = []
    mark = "" if success is None else ("  [success]" if success else "  [failure]")
    for frame in frames:
        h, w = frame.shape[:2]
        big = np.kron(frame, np.ones((scale, scale, 1), dtype=np.uint8))
        canvas = Image.new("RGB", (w * scale, h * scale + 16), (0, 0, 0))
        canvas.paste(Image.fromarray(big), (0, 16))
        draw = ImageDraw.Draw(canvas)
        colour = (255, 255, 255) if success is None else ((90, 230, 90) if success else (240, 90, 90))
        draw.text((3, 2), (text + mark)[: w * scale // 6], fill=colour)
        out.append(canvas)
    return out


def save_gif(path: Path, episodes: list[tuple[list, str, bool | None]], fps: float = 7.5) -> Path | None:
    """One GIF of several episodes [(frames, caption, success)]; None when there are no frames."""
    images = [img for frames, text, ok in episodes if frames for img in caption_frames(frames, text, ok)]
    if not images:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path
