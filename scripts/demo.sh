#!/usr/bin/env bash
# The README's main command: set up (idempotent), then `pi0 demo`: the π0 that this project's
# pipeline trained on CPU (pi0_bringup/demo_checkpoints/ur5e) does six episodes of a simulated
# UR5e task (reach the red or the blue target), the policy node in its own process over DDS; it
# prints each episode and a summary (success, inference p50, replan points) and saves
# demo_out/ur5e_reach.gif. No hardware, no ROS install needed. Extra arguments go to `pi0 demo`
# (e.g. --episodes 10, --task bimanual_gripper, --random for the pipeline demo on a mobile
# Trossen with random weights; `pi0 demo --help` lists them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
# shellcheck disable=SC1091
. scripts/env.sh
exec pi0 demo "$@"
