"""ROS message ↔ numpy conversions for the policy node.

Images: ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) and ``sensor_msgs/CompressedImage``
(jpeg, png) → ``uint8[H, W, 3]`` RGB. cv_bridge is used where it is installed and works (a ROS 2
install); otherwise the raw buffer is read with numpy and compressed data decoded with OpenCV.
Every malformed message raises :class:`ImageError` naming the problem; nothing here crashes a node.
"""
from __future__ import annotations

import numpy as np
# The one set of time converters (pi0_hw_interfaces.ros_time), re-exported for the node's modules.
from pi0_hw_interfaces.ros_time import sec_to_duration, sec_to_time, time_to_sec  # noqa: F401

# encoding → (channels, OpenCV colour conversion to RGB, or None if already RGB)
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
SUPPORTED_ENCODINGS = tuple(_CHANNELS)
SUPPORTED_FORMATS = ("jpeg", "png")


class ImageError(ValueError):
    """An image message that cannot be turned into an RGB array; the message says why."""


def _cv2():
    import cv2

    return cv2


def _to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    cv2 = _cv2()
    if encoding == "rgb8":
        return array
    if encoding == "bgr8":
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return cv2.cvtColor(array, cv2.COLOR_RGBA2RGB)
    if encoding == "bgra8":
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)


def make_bridge():
    """A working ``cv_bridge.CvBridge`` or None where cv_bridge is not installed or unusable."""
    try:
        from cv_bridge import CvBridge

        return CvBridge()
    except Exception:  # noqa: BLE001 - absent or broken (e.g. ROS 1's cv_bridge): use numpy
        return None


def image_to_rgb(msg, expected_size: tuple[int, int] | None = None, bridge=None) -> np.ndarray:
    """``sensor_msgs/Image`` → ``uint8[H, W, 3]`` RGB (a new array, not a view of the message).

    Checks the encoding (one of ``SUPPORTED_ENCODINGS``), that ``step`` and the data length
    match ``width``, ``height`` and the encoding, and, if ``expected_size = (width, height)`` is
    given, the image size. Row padding (``step`` larger than ``width * channels``) is handled.
    ``bridge`` (a CvBridge from :func:`make_bridge`) does the conversion after those checks;
    without it numpy and OpenCV do (same result).
    """
    encoding = msg.encoding.lower()
    if encoding not in _CHANNELS:
        raise ImageError(f"unsupported encoding {msg.encoding!r}; supported: {list(SUPPORTED_ENCODINGS)}")
    channels = _CHANNELS[encoding]
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0:
        raise ImageError(f"empty image {width}x{height}")
    if expected_size is not None and (width, height) != tuple(expected_size):
        raise ImageError(f"image is {width}x{height}, expected {expected_size[0]}x{expected_size[1]}")
    row = width * channels
    if step < row:
        raise ImageError(f"step {step} is smaller than width*channels = {row} for {encoding}")
    if len(msg.data) != step * height:
        raise ImageError(f"data has {len(msg.data)} bytes, expected step*height = {step * height}")
    if bridge is not None:
        return np.array(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"), dtype=np.uint8, copy=True)
    buffer = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row]
    array = buffer.reshape(height, width, channels) if channels > 1 else buffer.reshape(height, width)
    rgb = _to_rgb(array, encoding)
    return np.array(rgb, copy=True) if rgb is array else rgb


def compressed_to_rgb(msg, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """``sensor_msgs/CompressedImage`` (jpeg or png, as image_transport writes the ``format``
    field, e.g. ``"rgb8; jpeg compressed bgr8"``) → ``uint8[H, W, 3]`` RGB."""
    fmt = msg.format.lower()
    if not any(f in fmt for f in SUPPORTED_FORMATS + ("jpg",)):
        raise ImageError(f"unsupported compressed format {msg.format!r}; "
                         f"supported: {list(SUPPORTED_FORMATS)}")
    cv2 = _cv2()
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError("compressed image has no data")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)  # always BGR, 3 channels
    if decoded is None:
        raise ImageError(f"cannot decode {msg.format!r} data ({data.size} bytes)")
    height, width = decoded.shape[:2]
    if expected_size is not None and (width, height) != tuple(expected_size):
        raise ImageError(f"image is {width}x{height}, expected {expected_size[0]}x{expected_size[1]}")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def rgb_to_image(rgb: np.ndarray, encoding: str = "rgb8", stamp=None, frame_id: str = ""):
    """``uint8[H, W, 3]`` RGB → ``sensor_msgs/Image`` in ``encoding`` (for tests, benches, sims)."""
    from sensor_msgs.msg import Image

    cv2 = _cv2()
    if encoding not in _CHANNELS:
        raise ImageError(f"unsupported encoding {encoding!r}; supported: {list(SUPPORTED_ENCODINGS)}")
    conv = {"rgb8": None, "bgr8": cv2.COLOR_RGB2BGR, "rgba8": cv2.COLOR_RGB2RGBA,
            "bgra8": cv2.COLOR_RGB2BGRA, "mono8": cv2.COLOR_RGB2GRAY}[encoding]
    array = np.ascontiguousarray(rgb if conv is None else cv2.cvtColor(rgb, conv))
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.step = int(msg.width * _CHANNELS[encoding])
    msg.data = array.tobytes()
    return msg


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "jpeg", stamp=None, quality: int = 90):
    """``uint8[H, W, 3]`` RGB → ``sensor_msgs/CompressedImage`` (jpeg or png)."""
    from sensor_msgs.msg import CompressedImage

    cv2 = _cv2()
    if fmt not in SUPPORTED_FORMATS:
        raise ImageError(f"unsupported compressed format {fmt!r}; supported: {list(SUPPORTED_FORMATS)}")
    ext = ".jpg" if fmt == "jpeg" else ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(f"cannot encode image as {fmt}")
    msg = CompressedImage()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.format = fmt
    msg.data = buf.tobytes()
    return msg
