"""The one set of ROS time converters: float seconds ↔ ``builtin_interfaces/Time`` / ``Duration``.

Imported by every package (hardware nodes, the policy node, tests, benches). Seconds are
rounded to the nearest nanosecond *before* they are split into ``sec`` and ``nanosec``, so a
value a hair below a whole second carries into the next one: ``sec_to_time(1.9999999999)`` is
``Time(sec=2, nanosec=0)``, never ``Time(sec=1, nanosec=1_000_000_000)`` or a step back to
``sec=1``. ``nanosec`` is always in ``[0, 1e9)``. A Time must be finite and >= 0 (ROS time
starts at the epoch); a Duration may be negative (``Duration(sec=-1, nanosec=5e8)`` = -0.5 s).
Values outside the messages' int32 ``sec`` range raise ``ValueError`` naming the value.
"""
from __future__ import annotations

import math

NS_PER_S = 1_000_000_000
_INT32 = (-(2**31), 2**31 - 1)


def time_to_sec(stamp) -> float:
    """``builtin_interfaces/Time`` or ``Duration`` → float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def time_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` or ``Duration`` → integer nanoseconds (exact)."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def split_ns(seconds: float, what: str = "time") -> tuple[int, int]:
    """Float seconds → ``(sec, nanosec)`` with ``0 <= nanosec < 1e9``, rounded to 1 ns."""
    if not math.isfinite(seconds):
        raise ValueError(f"{what} {seconds!r} s is not a finite number")
    whole = math.floor(seconds)  # seconds - whole is exact in float64, so no precision is lost
    sec, nanosec = divmod(round((seconds - whole) * NS_PER_S), NS_PER_S)  # carries 1e9 ns into sec
    sec += whole
    if not _INT32[0] <= sec <= _INT32[1]:
        raise ValueError(f"{what} {seconds!r} s is outside the int32 seconds range of ROS messages")
    return int(sec), int(nanosec)


def sec_to_time(seconds: float):
    """Float seconds (finite, >= 0) → ``builtin_interfaces/Time``."""
    from builtin_interfaces.msg import Time

    if seconds < 0:
        raise ValueError(f"time {seconds!r} s is negative; a ROS Time starts at 0")
    sec, nanosec = split_ns(seconds, "time")
    return Time(sec=sec, nanosec=nanosec)


def sec_to_duration(seconds: float):
    """Float seconds (finite, may be negative) → ``builtin_interfaces/Duration``."""
    from builtin_interfaces.msg import Duration

    sec, nanosec = split_ns(seconds, "duration")
    return Duration(sec=sec, nanosec=nanosec)
