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


def path_without(tmp_path, *names):
    """A PATH of one folder linking every program on this PATH except `names` (as on a machine
    where their packages are not installed)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = folder / entry.name
            if entry.name not in names and not target.exists() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    return str(folder)


def test_missing_system_packages_are_named_with_the_apt_command(tmp_path):
    ws = workspace_copy(tmp_path)
    path = path_without(tmp_path, "cmake", "cc", "c++", "gcc", "g++", "make")
    result = run_setup(ws, PATH=path, PYTHON=sys.executable, PI0_VENV=str(tmp_path / "venv"))
    assert result.returncode == 1
    assert "missing: cmake (cmake); a C and C++ compiler and make (build-essential)" in result.stderr
    assert "sudo apt-get install python3-venv python3-dev cmake build-essential" in result.stderr
    assert not (tmp_path / "venv").exists(), "nothing is installed before the system packages are there"


def test_unknown_torch_choice_stops_with_the_choices(tmp_path):
    ws = workspace_copy(tmp_path)
    result = run_setup(ws, PI0_TORCH="rocm", PI0_VENV=str(tmp_path / "venv"))
    assert result.returncode == 1 and "PI0_TORCH=rocm: choose cpu (the CPU build) or cuda" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_the_installed_torch_build_is_reported_with_the_reason_for_the_choice():
    driver = shutil.which("nvidia-smi") or os.path.isdir("/proc/driver/nvidia")
    flavor = "cuda" if driver else "cpu"
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    reason = "an NVIDIA driver was found" if driver else "no NVIDIA driver found"
    assert f"({flavor} build) up to date ({reason};" in result.stdout or \
        f"the {flavor} build ({reason};" in result.stdout, result.stdout
