"""Image preprocessing: LeRobot's model-ready images are reproduced; aspect ratio, padding, masks."""


import numpy as np
import pytest
from policy_fixtures import load

from pi0_policy.policy.images import prepare_image, prepare_images, resize_with_pad, to_unit_chw

CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")
IMAGE_ATOL = 1e-5


@pytest.mark.parametrize("index,key", list(enumerate(CAMERAS)))
def test_fixture_images_reproduced_from_raw(index, key):
    raw = load(f"inputs/raw_image_{key}.npy")  # float CHW in [0, 1], 240x320
    expected = load(f"inputs/image_{index}_{key}.npy")[0]
    out = prepare_image(raw)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=IMAGE_ATOL, rtol=0)


def test_fixture_images_reproduced_from_uint8_hwc_within_quantisation():
    raw = load("inputs/raw_image_base_0_rgb.npy")
    as_uint8 = np.round(raw.transpose(1, 2, 0) * 255).astype(np.uint8)
    expected = load("inputs/image_0_base_0_rgb.npy")[0]
    # Rounding to 8 bits moves a pixel by at most 0.5/255 in [0, 1], i.e. 1/255 in [-1, 1].
    np.testing.assert_allclose(prepare_image(as_uint8), expected, atol=1 / 255 + IMAGE_ATOL, rtol=0)


def test_uint8_and_float_of_same_image_agree():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(120, 200, 3), dtype=np.uint8)
    as_float_chw = u8.transpose(2, 0, 1).astype(np.float32) / 255
    as_float_hwc = u8.astype(np.float32) / 255
    np.testing.assert_allclose(prepare_image(u8), prepare_image(as_float_chw), atol=1e-6)
    np.testing.assert_allclose(prepare_image(u8), prepare_image(as_float_hwc), atol=1e-6)


@pytest.mark.parametrize(
    "height,width,content_hw,pad_tblr",
    [
        (480, 640, (168, 224), (28, 28, 0, 0)),  # landscape 4:3
        (640, 480, (224, 168), (0, 0, 28, 28)),  # portrait
        (100, 301, (74, 224), (75, 75, 0, 0)),  # odd pad 150 → 75 + 75
        (100, 303, (73, 224), (75, 76, 0, 0)),  # odd pad 151 → extra row at the bottom
        (224, 224, (224, 224), (0, 0, 0, 0)),  # already square and sized
        (50, 50, (224, 224), (0, 0, 0, 0)),  # upscaled
    ],
)
def test_aspect_ratio_and_symmetric_black_padding(height, width, content_hw, pad_tblr):
    image = np.full((height, width, 3), 255, dtype=np.uint8)  # all white
    out = prepare_image(image)
    assert out.shape == (3, 224, 224)
    top, bottom, left, right = pad_tblr
    white = out[:, top : 224 - bottom, left : 224 - right]
    assert white.shape[1:] == content_hw
    np.testing.assert_allclose(white, 1.0, atol=1e-6)
    black = np.ones((224, 224), dtype=bool)
    black[top : 224 - bottom, left : 224 - right] = False
    assert np.all(out[:, black] == -1.0)


def test_colour_channels_and_orientation_are_kept():
    image = np.zeros((224, 224, 3), dtype=np.uint8)
    image[:112, :, 0] = 255  # red top half
    image[:, 112:, 2] = 255  # blue right half
    out = prepare_image(image)
    assert out[0, 0, 0] == 1.0 and out[0, 223, 0] == -1.0
    assert out[2, 0, 223] == 1.0 and out[2, 0, 0] == -1.0
    assert np.all(out[1] == -1.0)


def test_resize_with_pad_keeps_unit_range():
    rng = np.random.default_rng(1)
    out = resize_with_pad(rng.random((3, 97, 131), dtype=np.float32))
    assert out.shape == (3, 224, 224) and 0.0 <= out.min() and out.max() <= 1.0


def test_prepare_images_orders_cameras_and_masks_missing_ones():
    keys = CAMERAS
    left = np.full((60, 80, 3), 255, dtype=np.uint8)
    pixels, masks = prepare_images({"left_wrist_0_rgb": left, "right_wrist_0_rgb": None}, keys)
    assert pixels.shape == (3, 3, 224, 224) and pixels.dtype == np.float32
    assert masks.tolist() == [False, True, False]
    assert np.all(pixels[0] == -1.0) and np.all(pixels[2] == -1.0)
    assert pixels[1, :, 112, 112].tolist() == [1.0, 1.0, 1.0]


def test_unknown_camera_key_is_named():
    with pytest.raises(ValueError, match=r"base_rgb.*base_0_rgb"):
        prepare_images({"base_rgb": np.zeros((10, 10, 3), np.uint8)}, CAMERAS)


def test_no_camera_at_all_is_an_error():
    with pytest.raises(ValueError, match="no camera image"):
        prepare_images({}, CAMERAS)


@pytest.mark.parametrize(
    "image,message",
    [
        (np.zeros((10, 10), np.uint8), r"shape \(10, 10\)"),
        (np.zeros((10, 10, 4), np.uint8), r"shape \(10, 10, 4\)"),
        (np.zeros((3, 10, 10), np.uint8), r"uint8 image must be \[H, W, 3\]"),
        (np.full((3, 10, 10), 2.0, np.float32), r"range \[2, 2\]"),
        (np.full((3, 10, 10), np.nan, np.float32), "NaN"),
        (np.zeros((10, 10, 3), np.int32), "dtype int32"),
    ],
)
def test_bad_images_raise_naming_the_problem(image, message):
    with pytest.raises(ValueError, match=message):
        to_unit_chw(image, name="images['base_0_rgb']")
