# Source me: activates the pi0-ros virtual environment and workspace, and keeps DDS on this
# machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) unless PI0_DDS_NETWORK=1.
_pi0_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
. "${PI0_VENV:-$_pi0_root/.venv}/bin/activate"
_pi0_u=$(set +o | grep nounset); set +u
. "$_pi0_root/install/setup.sh"
eval "$_pi0_u"
# The `pi0` command line (installed where `ros2 run pi0_bringup pi0` finds it).
export PATH="$_pi0_root/install/pi0_bringup/lib/pi0_bringup:$PATH"
if [ "${PI0_DDS_NETWORK:-0}" != 1 ]; then
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
  unset ROS_LOCALHOST_ONLY
fi
unset _pi0_root _pi0_u
