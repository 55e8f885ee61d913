"""Subcommands that need no model start without importing torch (the time itself is measured in
bench/cli_startup.py, as a ratio to `python -c pass`, never asserted here)."""
import subprocess
import sys

import pytest
from conftest import load_bench

PROBE = """
import sys
from pi0_bringup import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print("TORCH_IMPORTED" if "torch" in sys.modules else "NO_TORCH", code)
"""


def cli_startup_bench():
    return load_bench("cli_startup")


@pytest.mark.parametrize("label, args", cli_startup_bench().COMMANDS)
def test_torch_free_subcommands_do_not_import_torch(label, args):
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("NO_TORCH"), f"{label}: {result.stdout}{result.stderr}"
    assert last.split()[1] in ("0", "1", "2")  # help, or a clean refusal


def test_bench_prints_every_command_as_a_ratio_to_the_baseline(capsys):
    bench = cli_startup_bench()
    assert bench.main(["--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "python -c pass (baseline)" in out and out.count("x\n") == len(bench.COMMANDS) + 2
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "0"])
