"""`pi0 demo`'s keeping-up line: inference p50/p90 and the share of replan points that got a chunk."""
from pi0_bringup import robots
from pi0_bringup.monitor import keeping_up


def test_keeping_up_counts_replan_points_and_percentiles():
    spec = robots.embodiment_spec("mobile_trossen", None)  # 50 Hz, replan every 25 actions: 2 per second
    chunks = [(0.5 * i, i, latency, 50) for i, latency in enumerate([0.1, 0.2, 0.3, 0.4] * 9)]
    line = keeping_up([c[2] for c in chunks], spec, seconds=20.0)
    assert "inference p50          250 ms (p90 400 ms)" in line
    assert "chunks at 36 of 40 replan points (90%)" in line
    assert "0 of 40 replan points" in keeping_up([], spec, seconds=20.0)
