#!/usr/bin/env bash
# Set up if needed, then run every package's tests with DDS on localhost and a fresh
# ROS_DOMAIN_ID. Extra arguments go to pytest (e.g. -k lifecycle, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
. scripts/env.sh
# A fresh domain per run (1..100) so that parallel or leftover processes do not cross-talk.
export ROS_DOMAIN_ID=${PI0_TEST_DOMAIN_ID:-$(python -c 'import random; print(random.randint(1, 100))')}
echo "[pi0 test] ROS_DOMAIN_ID=$ROS_DOMAIN_ID ROS_AUTOMATIC_DISCOVERY_RANGE=$ROS_AUTOMATIC_DISCOVERY_RANGE"
set +e
python -m pytest src bench "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "[pi0 test] FAILED: no test ran" >&2
  exit 1
fi
exit $rc
