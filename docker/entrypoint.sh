#!/usr/bin/env bash
# Container entry point: ROS 2 Jazzy, then the pi0-ros venv and workspace (scripts/env.sh),
# then the command. DDS discovery is left to ROS_AUTOMATIC_DISCOVERY_RANGE (compose sets it):
# the container talks to the robot's drivers over the host network.
set -e
# shellcheck disable=SC1091
. /opt/ros/jazzy/setup.bash
export PI0_DDS_NETWORK=${PI0_DDS_NETWORK:-1}
# shellcheck disable=SC1091
. /opt/pi0_ros/scripts/env.sh
exec "$@"
