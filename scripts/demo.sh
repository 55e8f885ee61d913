#!/usr/bin/env bash
# The README's main command: set up (idempotent), then run π0 on a simulated mobile Trossen
# robot for ~20 s and report: chunks received, latency, joint motion, and pictures in
# demo_out/ (camera_views.png, joint_positions.png). No hardware, no ROS install needed.
# Extra arguments go to `pi0 demo` (e.g. --duration 40 --instruction "fold the towel";
# `pi0 demo --help` lists them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
# shellcheck disable=SC1091
. scripts/env.sh
exec pi0 demo "$@"
