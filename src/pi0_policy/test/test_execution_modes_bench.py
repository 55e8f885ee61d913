"""bench/execution_modes.py: the join metrics on hand-made chunks, and one short run (open loop
and rtc, no injected delay) over DDS with its table and plot."""

import numpy as np
import pytest
from conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("execution_modes", skip_missing=True)


def test_join_metrics_on_known_chunks(bench):
    dt = 0.1
    ramp = np.arange(10, dtype=float)[:, None]          # 0, 1, 2, ... at t = 0.1, 0.2, ...
    continuing = (0.3, dt, ramp[3:] + 0.0)               # starts at 0.3: first target 0.4 = value 3 → continues
    jumping = (0.3, dt, ramp[3:] + 0.5)
    assert bench.join_jumps([(0.0, dt, ramp), continuing]) == [0.0]
    assert bench.join_jumps([(0.0, dt, ramp), jumping]) == [pytest.approx(0.5)]
    seq, joins = bench.commanded([(0.0, dt, ramp), continuing])
    np.testing.assert_allclose(seq[:, 0], np.arange(10))
    assert joins == [3]
    assert bench.join_jerks([(0.0, dt, ramp), continuing]) == [0.0]   # a straight ramp has no jerk
    # a step h in a ramp: third differences h, -2h, h → max 2h = 1.0
    assert bench.join_jerks([(0.0, dt, ramp), jumping])[0] == pytest.approx(1.0 / dt ** 3)


def test_short_run_prints_the_table_and_saves_the_plot(bench, tmp_path, capsys):
    plot = tmp_path / "modes.png"
    assert bench.main(["--delays", "0", "--modes", "open_loop", "rtc", "--chunks", "3", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("open_loop ", "rtc "))]
    assert [r[0] for r in rows] == ["open_loop", "rtc"] and all(int(r[2]) == 2 for r in rows)
    jump_max = {r[0]: float(r[4]) for r in rows}
    assert jump_max["rtc"] < jump_max["open_loop"]
    assert plot.stat().st_size > 0
