"""msgpack with numpy arrays, byte-compatible with openpi-client's ``msgpack_numpy``.

An array travels as a msgpack map ``{b"__ndarray__": True, b"data": raw bytes, b"dtype":
"<f4", b"shape": [..]}``, a numpy scalar as ``{b"__npgeneric__": True, b"data": value, b"dtype"}``.
Only plain numeric and boolean dtypes are accepted both ways: object, void and complex arrays are
refused (an object array would need pickle, which is never used). A malformed array (a size
that does not match its shape, an unknown dtype) raises ``ValueError`` naming the problem.
"""
from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

_ALLOWED_KINDS = "biuf"  # bool, signed, unsigned, float


class DecodeError(ValueError):
    """A message that is not valid msgpack or holds a malformed array."""


def _check_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject:
        raise DecodeError(f"unsupported array dtype {dtype.str!r}: use bool, int, uint or float")
    return dtype


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype)
        return {b"__ndarray__": True, b"data": np.ascontiguousarray(obj).tobytes(), b"dtype": obj.dtype.str,
                b"shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        _check_dtype(obj.dtype)
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot encode {type(obj).__name__} (msgpack: dict, list, str, bytes, numbers, numpy)")


def _decode(obj: dict) -> Any:
    if b"__ndarray__" in obj:
        try:
            dtype = _check_dtype(np.dtype(obj[b"dtype"]))
            shape = tuple(int(n) for n in obj[b"shape"])
            data = obj[b"data"]
            if not isinstance(data, bytes) or any(n < 0 for n in shape):
                raise DecodeError(f"malformed array: shape {shape}, data {type(data).__name__}")
            if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
                raise DecodeError(f"array of shape {shape} and dtype {dtype.str} needs "
                                  f"{int(np.prod(shape)) * dtype.itemsize} bytes, got {len(data)}")
            return np.frombuffer(data, dtype=dtype).reshape(shape)
        except KeyError as e:
            raise DecodeError(f"malformed array: no {e.args[0]!r} field") from None
        except TypeError as e:
            raise DecodeError(f"malformed array: {e}") from None
    if b"__npgeneric__" in obj:
        try:
            return _check_dtype(np.dtype(obj[b"dtype"])).type(obj[b"data"])
        except (KeyError, TypeError) as e:
            raise DecodeError(f"malformed numpy scalar: {e!r}") from None
    return obj


def packb(obj: Any) -> bytes:
    """``obj`` (dicts, lists, str, numbers, numpy arrays and scalars) as msgpack bytes."""
    return msgpack.packb(obj, default=_encode, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    """msgpack bytes → Python objects with numpy arrays; ``DecodeError`` on anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected a binary msgpack message, got {type(data).__name__}")
    try:
        return msgpack.unpackb(data, object_hook=_decode, raw=False, strict_map_key=False)
    except DecodeError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise DecodeError(f"not a valid msgpack message: {e}") from None
