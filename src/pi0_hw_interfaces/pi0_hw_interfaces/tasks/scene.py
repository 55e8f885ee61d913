"""The task camera's image: targets, effector markers and grippers drawn with numpy slices.

Dark background; each target a filled disk in its colour; a reach effector a white square with
a dark centre; a gripper effector two grey jaws at the bottom of its region whose gap shrinks as
the gripper closes. Cheap: only bounding boxes are touched.
"""
from __future__ import annotations

import numpy as np

from .task import PALETTE, Task

BACKGROUND = (30, 30, 36)
REGION_LINE = (70, 70, 80)
EFFECTOR = (255, 255, 255)
JAW = (190, 190, 190)


class SceneRenderer:
    """Draws a `Task`'s camera image at `width` × `height` (rgb8)."""

    def __init__(self, task: Task, width: int, height: int):
        if width < 16 or height < 16:
            raise ValueError(f"task image size {width}x{height} too small: use at least 16x16")
        self.task = task
        self.width, self.height = int(width), int(height)
        self.radius = max(2, int(round(task.spec.tolerance * min(width, height) * 0.9)))
        self.background = np.full((self.height, self.width, 3), BACKGROUND, dtype=np.uint8)
        for e in task.spec.effectors[1:]:  # a thin line between effector regions
            x = min(int(e.region[0] * self.width), self.width - 1)
            self.background[:, x] = REGION_LINE

    def _xy(self, u: float, v: float) -> tuple[int, int]:
        return (int(round(np.clip(u, 0, 1) * (self.width - 1))), int(round(np.clip(v, 0, 1) * (self.height - 1))))

    def _disk(self, img, u, v, colour):
        cx, cy = self._xy(u, v)
        r = self.radius
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, self.height), max(cx - r, 0), min(cx + r + 1, self.width)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[y0:y1, x0:x1][mask] = colour

    def _square(self, img, u, v, half, colour):
        cx, cy = self._xy(u, v)
        img[max(cy - half, 0):cy + half + 1, max(cx - half, 0):cx + half + 1] = colour

    def render(self, goal: dict | None, positions: dict) -> np.ndarray:
        """The image (height, width, 3) uint8 for the episode's `goal` and joint `positions`."""
        img = self.background.copy()
        spec = self.task.spec
        if goal is not None:
            for target in goal["targets"]:
                self._disk(img, target["u"], target["v"], PALETTE[target["colour"]])
        half = max(1, self.radius // 2)
        for e in spec.effectors:
            if spec.kind == "reach":
                u, v = e.point(positions)
                self._square(img, u, v, half, EFFECTOR)
                self._square(img, u, v, max(half // 2, 0), BACKGROUND)
            else:
                closure = self.task.embodiment.grippers[e.gripper].to_policy(positions[e.gripper])
                centre = 0.5 * (e.region[0] + e.region[1])
                gap = 0.04 + 0.12 * (1.0 - float(np.clip(closure, 0, 1)))
                for side in (-1, 1):
                    self._square(img, centre + side * gap, 0.92, half, JAW)
        return img
