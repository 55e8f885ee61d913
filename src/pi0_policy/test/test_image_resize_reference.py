"""The ``antialias`` resize against openpi's own ``resize_with_pad`` outputs (JAX and the PIL client,
data/conventions/resize_reference.npz; see that folder's README), and ``bilinear`` shown to differ."""
from pathlib import Path

import numpy as np
import pytest

from pi0_policy.policy.images import prepare_images, resize_with_pad, to_unit_chw

REFERENCE = np.load(Path(__file__).parent / "data" / "conventions" / "resize_reference.npz")


def pattern(h, w):
    """The reference input, rebuilt with integer arithmetic (identical on every machine)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    r = (x * 255) // (w - 1)
    g = ((x // 3 + y // 2) % 2) * 255
    b = (((x - w // 2) ** 2 + (y - h // 2) ** 2) * 7 // 97) % 256
    img = np.stack([r, g, b], -1)
    img[h // 4: h // 2, w // 5: w // 3] = [250, 10, 128]
    return img.astype(np.uint8)


def as_uint8(chw):
    return np.round(chw.transpose(1, 2, 0) * 255).astype(np.int64)


@pytest.mark.parametrize("size", [(240, 320), (480, 640)])
def test_antialias_matches_openpi_within_one_level(size):
    h, w = size
    ours = as_uint8(resize_with_pad(to_unit_chw(pattern(h, w)), 224, "antialias"))
    for source in ("jax", "pil"):
        diff = np.abs(ours - REFERENCE[f"{source}_{h}x{w}"])
        assert diff.max() <= 1, (source, diff.max())        # rounding ties only
        assert (diff > 0).mean() < 0.07, (source, (diff > 0).mean())
    assert (np.abs(ours - REFERENCE[f"jax_{h}x{w}"]) > 0).mean() < 0.02


@pytest.mark.parametrize("size", [(240, 320), (480, 640)])
def test_bilinear_without_antialias_differs_from_openpi(size):
    h, w = size
    ours = as_uint8(resize_with_pad(to_unit_chw(pattern(h, w)), 224, "bilinear"))
    diff = np.abs(ours - REFERENCE[f"jax_{h}x{w}"])
    assert diff.max() > 50 and diff.mean() > 5


def test_resize_method_is_checked_and_reaches_prepare_images():
    image = pattern(240, 320)
    with pytest.raises(ValueError, match=r"resize method 'area'; choose from \['bilinear', 'antialias'\]"):
        resize_with_pad(to_unit_chw(image), 224, "area")
    a, _ = prepare_images({"base_0_rgb": image}, ["base_0_rgb"], method="antialias")
    b, _ = prepare_images({"base_0_rgb": image}, ["base_0_rgb"], method="bilinear")
    expected = resize_with_pad(to_unit_chw(image), 224, "antialias") * 2 - 1
    np.testing.assert_allclose(a[0], expected, atol=1e-6)
    assert np.abs(a - b).max() > 0.3
