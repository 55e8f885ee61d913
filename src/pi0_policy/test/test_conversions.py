"""Image conversions: every supported encoding and format to RGB, with and without cv_bridge, and
malformed messages rejected with the reason."""
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from pi0_policy.ros.conversions import (SUPPORTED_ENCODINGS, ImageError, compressed_to_rgb, image_to_rgb,
                                        make_bridge, rgb_to_compressed, rgb_to_image)

# JPEG is lossy: mean absolute error of a smooth test image at quality 95 stays well below this.
JPEG_MEAN_ATOL = 3.0


@pytest.fixture(scope="module")
def rgb():
    """A smooth colour gradient (JPEG-friendly) with distinct R, G and B, 48x64."""
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 4, y * 5, 255 - x * 2], axis=-1).astype(np.uint8)


BRIDGES = [None, make_bridge()] if make_bridge() is not None else [None]


@pytest.mark.parametrize("bridge", BRIDGES, ids=lambda b: "cv_bridge" if b else "numpy")
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_give_the_same_rgb(rgb, encoding, bridge):
    out = image_to_rgb(rgb_to_image(rgb, encoding), expected_size=(64, 48), bridge=bridge)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("bridge", BRIDGES, ids=lambda b: "cv_bridge" if b else "numpy")
def test_mono8_is_replicated_to_three_channels(rgb, bridge):
    out = image_to_rgb(rgb_to_image(rgb, "mono8"), bridge=bridge)
    gray = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])
    assert out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert np.abs(out[..., 0].astype(float) - gray).max() <= 1.0


def test_row_padding_is_removed(rgb):
    msg = rgb_to_image(rgb, "rgb8")
    rows = np.frombuffer(msg.data, np.uint8).reshape(48, 64 * 3)
    msg.data = np.concatenate([rows, np.full((48, 8), 9, np.uint8)], axis=1).tobytes()
    msg.step = 64 * 3 + 8
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_result_does_not_alias_the_message(rgb):
    msg = rgb_to_image(rgb, "rgb8")
    out = image_to_rgb(msg)
    out[:] = 0
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_jpeg_and_png(rgb):
    png = compressed_to_rgb(rgb_to_compressed(rgb, "png"), expected_size=(64, 48))
    np.testing.assert_array_equal(png, rgb)
    jpeg = compressed_to_rgb(rgb_to_compressed(rgb, "jpeg", quality=95))
    assert jpeg.shape == (48, 64, 3)
    assert np.abs(jpeg.astype(float) - rgb).mean() < JPEG_MEAN_ATOL
    # image_transport's format string
    msg = rgb_to_compressed(rgb, "jpeg")
    msg.format = "rgb8; jpeg compressed bgr8"
    assert compressed_to_rgb(msg).shape == (48, 64, 3)


def test_malformed_images_are_rejected_with_the_reason(rgb):
    msg = rgb_to_image(rgb, "rgb8")
    msg.encoding = "16UC1"
    with pytest.raises(ImageError, match="unsupported encoding '16UC1'"):
        image_to_rgb(msg)
    msg = rgb_to_image(rgb, "rgb8")
    msg.step = 100
    with pytest.raises(ImageError, match="step 100 is smaller"):
        image_to_rgb(msg)
    msg = rgb_to_image(rgb, "rgb8")
    msg.data = msg.data[:-3]
    with pytest.raises(ImageError, match="expected step\\*height"):
        image_to_rgb(msg)
    with pytest.raises(ImageError, match="image is 64x48, expected 640x480"):
        image_to_rgb(rgb_to_image(rgb, "rgb8"), expected_size=(640, 480))
    with pytest.raises(ImageError, match="empty image"):
        image_to_rgb(Image(encoding="rgb8"))
    with pytest.raises(ImageError, match="cannot decode"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg"))
    with pytest.raises(ImageError, match="unsupported compressed format 'tiff'"):
        compressed_to_rgb(CompressedImage(format="tiff", data=b"x"))
    with pytest.raises(ImageError, match="no data"):
        compressed_to_rgb(CompressedImage(format="png"))
    assert set(SUPPORTED_ENCODINGS) == {"rgb8", "bgr8", "rgba8", "bgra8", "mono8"}
