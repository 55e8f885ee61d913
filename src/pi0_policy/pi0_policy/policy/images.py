"""Camera images → the model's input: resize with padding to a square, scale to [-1, 1].

Accepted images (one camera, numpy):
- ``uint8[H, W, 3]`` RGB, as ROS gives them (cv_bridge ``rgb8``);
- float ``[3, H, W]`` or ``[H, W, 3]`` with values in [0, 1], as LeRobot datasets give them.
A uint8 image ``u`` and the float image ``u / 255`` give the same result.

Resize with padding (the convention of LeRobot's and openpi's PyTorch ``resize_with_pad``):
the image is scaled by ``ratio = max(W / size, H / size)`` to ``int(H / ratio) × int(W / ratio)``
with bilinear interpolation (half-pixel centres, ``align_corners=False``, no antialiasing),
then padded with black, symmetrically: the odd pixel goes to the bottom/right. A 240×320 image
becomes 168×224 plus 28 black rows above and below. Black is 0 in [0, 1], so −1 in the model's
range. An image already ``size × size`` is only scaled.

``resize="antialias"`` follows openpi's JAX pipeline instead (``jax.image.resize`` linear, which
antialiases when shrinking, then rounded to uint8; openpi's robot clients do the same with PIL
before sending): the checkpoint's convention profile chooses (`pi0_policy.policy.profiles`). On a
480×640 image the two differ by up to ~150/255 at sharp edges; this antialiased path agrees with
openpi's own ``resize_with_pad`` within 1/255 (rounding ties) on the reference test images.

A missing camera is a blank image (all −1) with its mask False: the model ignores its tokens.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

IMAGE_SIZE = 224
RESIZE_METHODS = ("bilinear", "antialias")


def to_unit_chw(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An accepted image (see module doc) as float32 ``[3, H, W]`` in [0, 1]; ValueError otherwise."""
    image = np.asarray(image)
    if image.ndim != 3 or 3 not in (image.shape[0], image.shape[-1]):
        raise ValueError(f"{name}: expected an RGB image [H, W, 3] or [3, H, W], got shape {image.shape}")
    if image.dtype == np.uint8:
        if image.shape[-1] != 3:
            raise ValueError(f"{name}: a uint8 image must be [H, W, 3] (RGB), got shape {image.shape}")
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name}: expected uint8 or float pixels, got dtype {image.dtype}")
    chw = image if image.shape[0] == 3 and image.shape[-1] != 3 else image.transpose(2, 0, 1)
    chw = np.ascontiguousarray(chw, dtype=np.float32)
    if not np.isfinite(chw).all():
        raise ValueError(f"{name}: float image contains NaN or inf")
    low, high = float(chw.min()), float(chw.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name}: float pixels must lie in [0, 1], got range [{low:.4g}, {high:.4g}]")
    return chw


def resize_with_pad(image_chw: np.ndarray, size: int = IMAGE_SIZE, method: str = "bilinear") -> np.ndarray:
    """Float ``[3, H, W]`` in [0, 1] → float32 ``[3, size, size]`` in [0, 1], aspect ratio kept.

    ``method``: ``bilinear`` (no antialiasing) or ``antialias`` (antialiased, rounded to 1/255)."""
    if method not in RESIZE_METHODS:
        raise ValueError(f"resize method {method!r}; choose from {list(RESIZE_METHODS)}")
    _, height, width = image_chw.shape
    if (height, width) == (size, size):
        return np.asarray(image_chw, dtype=np.float32)
    ratio = max(width / size, height / size)
    new_h, new_w = int(height / ratio), int(width / ratio)
    tensor = torch.from_numpy(np.require(image_chw, np.float32, ["C", "W"]))[None]
    if method == "antialias":
        resized = F.interpolate(tensor * 255.0, size=(new_h, new_w), mode="bilinear", align_corners=False,
                                antialias=True)
        resized = torch.round(resized).clamp(0.0, 255.0) / 255.0
    else:
        resized = F.interpolate(tensor, size=(new_h, new_w), mode="bilinear", align_corners=False)
        resized = resized.clamp(0.0, 1.0)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    padded = F.pad(resized, (left, size - new_w - left, top, size - new_h - top), value=0.0)
    return padded[0].numpy()


def prepare_image(image: np.ndarray, size: int = IMAGE_SIZE, name: str = "image",
                  method: str = "bilinear") -> np.ndarray:
    """One accepted image → float32 ``[3, size, size]`` in [-1, 1]."""
    return resize_with_pad(to_unit_chw(image, name), size, method) * np.float32(2.0) - np.float32(1.0)


def prepare_images(
    images: Mapping[str, np.ndarray], image_keys: Sequence[str], size: int = IMAGE_SIZE,
    method: str = "bilinear",
) -> tuple[np.ndarray, np.ndarray]:
    """Images by model key → ``(float32[n_cam, 3, size, size] in [-1, 1], bool[n_cam] masks)``.

    Cameras come out in ``image_keys`` order; a key absent from ``images`` (or mapped to None)
    gives a blank (−1) image with mask False. A key not in ``image_keys`` is a ValueError naming
    it and the valid keys (a typo must not silently drop a camera), and so is an observation
    without any camera.
    """
    unknown = sorted(set(images) - set(image_keys))
    if unknown:
        raise ValueError(f"unknown camera key(s) {unknown}; this model's image keys are {list(image_keys)}")
    pixels = np.full((len(image_keys), 3, size, size), -1.0, dtype=np.float32)
    masks = np.zeros(len(image_keys), dtype=bool)
    for i, key in enumerate(image_keys):
        if images.get(key) is not None:
            pixels[i] = prepare_image(images[key], size, name=f"images[{key!r}]", method=method)
            masks[i] = True
    if not masks.any():
        raise ValueError(f"no camera image given; expected at least one of {list(image_keys)}")
    return pixels, masks
