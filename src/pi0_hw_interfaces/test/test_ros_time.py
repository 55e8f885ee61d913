"""The one set of time converters: carries at whole seconds, round trips, negatives, bad values."""
import math

import pytest
from builtin_interfaces.msg import Duration, Time

from pi0_hw_interfaces import ros_common
from pi0_hw_interfaces.ros_time import sec_to_duration, sec_to_time, time_to_ns, time_to_sec

NS = 1e-9


@pytest.mark.parametrize("seconds,expected", [
    (0.0, (0, 0)),
    (12.345678901, (12, 345678901)),
    (1.9999999999, (2, 0)),               # rounds up to the next whole second, never back to sec=1
    (1.9999999994, (1, 999999999)),
    (0.9999999996, (1, 0)),
    (1.0000000004, (1, 0)),
    (2.0, (2, 0)),
    (1_700_000_000.25, (1_700_000_000, 250_000_000)),  # wall-clock epoch, float64 resolution ~0.2 µs
])
def test_sec_to_time_rounds_to_the_nearest_nanosecond(seconds, expected):
    t = sec_to_time(seconds)
    assert isinstance(t, Time) and (t.sec, t.nanosec) == expected
    assert 0 <= t.nanosec < 1_000_000_000


@pytest.mark.parametrize("seconds,expected", [
    (0.02, (0, 20_000_000)),
    (-0.5, (-1, 500_000_000)),
    (-1e-10, (0, 0)),
    (-2.0, (-2, 0)),
    (3.9999999999, (4, 0)),
])
def test_sec_to_duration_carries_and_allows_negatives(seconds, expected):
    d = sec_to_duration(seconds)
    assert isinstance(d, Duration) and (d.sec, d.nanosec) == expected
    assert time_to_sec(d) == pytest.approx(seconds, abs=NS)


def test_round_trip_and_exact_nanoseconds():
    for seconds in (0.0, 0.1, 0.3, 1.5, 59.999999999, 86400.123456789):
        assert time_to_sec(sec_to_time(seconds)) == pytest.approx(seconds, abs=NS)
    assert time_to_ns(Time(sec=3, nanosec=7)) == 3_000_000_007


@pytest.mark.parametrize("bad,match", [
    (-0.001, "negative"), (math.nan, "not a finite"), (math.inf, "not a finite"), (3e9, "int32"),
])
def test_bad_times_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        sec_to_time(bad)


def test_the_old_names_are_the_same_functions():
    # Nodes written before ros_time import these names from ros_common; they must not diverge.
    assert ros_common.stamp_msg is sec_to_time and ros_common.stamp_s is time_to_sec
    assert ros_common.stamp_msg(1.9999999999) == Time(sec=2, nanosec=0)
