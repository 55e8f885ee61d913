"""Cheap synthetic camera images of the simulated robot, drawn from its state with numpy.

Each camera role gets its own background tint; every joint is a vertical bar whose height is the
joint's position within its limits (grippers as wide grey bars), and a mobile base is a marker
whose place in the image follows the base's x, y (wrapping every `BASE_WRAP_M` metres) and whose
width follows its yaw. So images differ between cameras and change whenever the robot moves.
"""
from __future__ import annotations

import colorsys

import numpy as np

BACKGROUNDS = {"base": (40, 40, 60), "left_wrist": (60, 40, 40), "right_wrist": (40, 60, 40)}
BASE_WRAP_M = 2.0


class Renderer:
    """Draws `width` × `height` rgb8 images for a spec's joints (precomputes the layout)."""

    def __init__(self, spec, width: int, height: int):
        if width < 8 or height < 8:
            raise ValueError(f"image size {width}x{height} too small: use at least 8x8")
        self.width, self.height = int(width), int(height)
        self.lower, self.upper, _ = spec.limits(spec.joint_names)
        n = len(spec.joint_names)
        edges = np.linspace(0, self.width, n + 1).astype(int)
        self.columns = [(edges[i], max(edges[i + 1] - 1, edges[i] + 1)) for i in range(n)]
        gripper = [name in spec.grippers for name in spec.joint_names]
        self.colours = np.array([(200, 200, 200) if g else
                                 [int(255 * c) for c in colorsys.hsv_to_rgb(i / max(n, 1), 0.8, 0.95)]
                                 for i, g in enumerate(gripper)], dtype=np.uint8)
        self.backgrounds = {role: np.full((self.height, self.width, 3), rgb, dtype=np.uint8)
                            for role, rgb in BACKGROUNDS.items()}
        self.bar_top = self.height // 4  # the upper quarter shows the base marker

    def render(self, role: str, positions, base_pose=None) -> np.ndarray:
        """The image (height, width, 3) uint8 of camera `role` for joint `positions` and base pose."""
        img = self.backgrounds[role].copy()
        span = self.height - self.bar_top
        frac = np.clip((np.asarray(positions) - self.lower) / (self.upper - self.lower), 0.0, 1.0)
        tops = self.height - 1 - (frac * (span - 1)).astype(int)
        for (c0, c1), top, colour in zip(self.columns, tops, self.colours):
            img[top:, c0:c1] = colour
        if base_pose is not None:
            x, y, yaw = base_pose
            u = int((x % BASE_WRAP_M) / BASE_WRAP_M * (self.width - 4))
            v = int((y % BASE_WRAP_M) / BASE_WRAP_M * max(self.bar_top - 4, 1))
            w = 2 + int(abs(np.sin(yaw)) * (self.width // 8))
            img[v:v + 4, u:min(u + w, self.width)] = (255, 255, 0)
        return img
