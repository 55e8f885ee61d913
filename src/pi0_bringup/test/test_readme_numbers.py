"""bench/readme_numbers.py puts its output where the README's markers are, and the README's
first screen names the same system packages that scripts/setup.sh checks for."""
import re
from pathlib import Path

import pytest
from conftest import load_bench

from pi0_bringup.commands.demo import progress_line

ROOT = Path(__file__).resolve().parents[3]


load = load_bench


def test_replace_between_markers_keeps_the_rest():
    numbers = load("readme_numbers")
    text = "a\n<!-- numbers:begin -->\nold\nlines\n<!-- numbers:end -->\nb\n"
    out = numbers.replace_between(text, "<!-- numbers:begin -->", "<!-- numbers:end -->", "new")
    assert out == "a\n<!-- numbers:begin -->\nnew\n<!-- numbers:end -->\nb\n"
    with pytest.raises(ValueError, match="no <!-- x --> … <!-- y --> markers"):
        numbers.replace_between(text, "<!-- x -->", "<!-- y -->", "new")


def test_demo_output_keeps_start_first_and_last_progress_and_the_summary():
    numbers = load("readme_numbers")
    summary = {"lifecycle_state": "active", "chunks_received": 3, "mean_latency": 0.5, "joint_path_length": 1.0}
    lines = ["pi0 demo: π0 on a simulated robot", "pi0 demo: policy active after 4.2 s",
             "pi0 demo: running 20 s (Ctrl-C stops early)"]
    lines += [progress_line(t, summary) for t in (0.0, 2.0, 4.0, 6.0)]
    lines += ["", "pi0 demo: summary", "  chunks received       3", "  saved                  /tmp/x/camera_views.png"]
    sample = numbers.demo_output("\n".join(lines), "/tmp/x").splitlines()
    assert sample[:2] == lines[1:3] and sample[2] == lines[4] and sample[3] == "..." and sample[4] == lines[6]
    assert sample[-1] == "  saved                  demo_out/camera_views.png"


def test_skill_demo_output_is_the_demo_from_its_first_line_with_relative_paths():
    numbers = load("readme_numbers")
    lines = ["[setup] ready", "pi0 demo: π0 trained by this project's pipeline", f"pi0 demo: checkpoint {ROOT}/src/x",
             "[INFO] [1.0] [sim_robot]: simulating ur5e",
             "  episode 1/6 (seed 20000) 'reach the red target': success after 1.2 s", "",
             "pi0 demo: summary", "  saved                  /tmp/y/ur5e_reach.gif"]
    sample = numbers.skill_demo_output("\n".join(lines), "/tmp/y").splitlines()
    assert sample[0] == lines[1] and sample[1] == "pi0 demo: checkpoint src/x" and sample[3] == ""
    assert sample[-1] == "  saved                  demo_out/ur5e_reach.gif"


def test_readme_has_the_markers_and_the_machine_line():
    text = (ROOT / "README.md").read_text()
    for marker in ("numbers:begin", "numbers:end", "numbers:demo-begin", "numbers:demo-end"):
        assert text.count(f"<!-- {marker} -->") == 1, marker
    section = text.split("<!-- numbers:begin -->")[1].split("<!-- numbers:end -->")[0]
    assert "Measured by `python bench/readme_numbers.py` on:" in section and "cores" in section


def test_readme_first_screen_names_the_packages_setup_checks_for():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    first_screen = (ROOT / "README.md").read_text().split("<!-- section:demo -->")[0]
    wanted = re.search(r"sudo apt-get install ([a-z0-9 .-]+)\"", setup).group(1).split()
    line = re.search(r"sudo apt-get install ([a-z0-9 .-]+)\n", first_screen).group(1).split()
    assert set(wanted) <= set(line), (wanted, line)
