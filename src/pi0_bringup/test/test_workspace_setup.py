"""scripts/setup.sh: idempotent, and bad setup conditions stop with a message saying what failed."""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SETUP = ROOT / "scripts" / "setup.sh"


def workspace_copy(tmp_path, with_sources=False):
    """A throwaway workspace holding the setup script, requirements and (optionally) pi0_msgs."""
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "scripts", ws / "scripts")
    shutil.copytree(ROOT / "requirements", ws / "requirements")
    shutil.copy(ROOT / "colcon.meta", ws / "colcon.meta")
    if with_sources:
        shutil.copytree(ROOT / "src" / "pi0_msgs", ws / "src" / "pi0_msgs", ignore=shutil.ignore_patterns("test"))
    return ws


def run_setup(ws, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PI0_")}
    full_env.update(env)
    return subprocess.run(["bash", str(ws / "scripts" / "setup.sh")], capture_output=True, text=True, env=full_env, timeout=600)


def fake_python(tmp_path, version):
    """An interpreter that reports another version (sys.version_info) and otherwise runs this Python."""
    exe = tmp_path / f"python{version}"
    major, minor = version.split(".")
    exe.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = -c ] || exit 3\n'
        f'exec {sys.executable} -c "import sys; sys.version_info = ({major}, {minor}, 0, \'final\', 0); exec(sys.argv[1])" "$2"\n'
    )
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_second_run_with_nothing_changed_skips_install_and_build():
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Python packages up to date" in result.stdout
    assert "workspace build up to date" in result.stdout


def test_wrong_python_version_stops_with_a_message(tmp_path):
    ws = workspace_copy(tmp_path)
    result = run_setup(ws, PYTHON=str(fake_python(tmp_path, "3.9")))
    assert result.returncode == 1
    assert "Python 3.9 found" in result.stderr and "needs Python 3.11 to 3.14" in result.stderr
    assert not (ws / ".venv").exists(), "nothing is installed with the wrong Python"


def test_missing_python_stops_with_a_message(tmp_path):
    result = run_setup(workspace_copy(tmp_path), PYTHON="python3-does-not-exist")
    assert result.returncode == 1 and "no 'python3-does-not-exist' on PATH" in result.stderr


def test_unreachable_registry_stops_with_a_message(tmp_path):
    ws = workspace_copy(tmp_path)
    result = run_setup(
        ws,
        PI0_VENV=str(tmp_path / "venv"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL="http://127.0.0.1:9/simple",  # nothing listens on the discard port
        PIP_FIND_LINKS="",
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        ROS_DISTRO="",
    )
    assert result.returncode == 1
    assert "could not get the packages above from the package registry" in result.stderr
    assert "Traceback" not in result.stderr.split("FAILED:")[-1]


@pytest.mark.skipif(not (ROOT / ".venv" / ".pi0-requirements").exists(), reason="needs the workspace's venv")
def test_failing_colcon_build_names_the_package(tmp_path):
    ws = workspace_copy(tmp_path, with_sources=True)
    (ws / "src" / "pi0_msgs" / "msg" / "InputAge.msg").write_text("this is not a field definition !\n")
    result = run_setup(ws, PI0_VENV=str(ROOT / ".venv"))
    assert result.returncode == 1
    assert "colcon build failed for: pi0_msgs" in result.stderr
    assert "log/latest_build/<package>/stdout_stderr.log" in result.stderr
