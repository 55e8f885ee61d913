#!/usr/bin/env bash
# Make the demo checkpoints with this project's own post-training pipeline, on CPU, end to end:
#   1. the scripted expert does each task through ROS while `pi0 record` writes MCAP bags
#      (ur5e_reach in two seed ranges; bimanual_reach; bimanual_gripper), four recordings side by side;
#   2. `pi0 dataset convert` turns the bags into two LeRobot v3 datasets (ur5e, bimanual_trossen);
#   3. `pi0 train` trains a random pi0_tiny on the UR5e data in the `pi0ros_absolute_base` convention
#      profile (absolute joint targets, the base camera), then post-trains that checkpoint on the
#      ALOHA data (`--init`): the paper's recipe in miniature. Trained from scratch, the ALOHA model
#      never learned to read the colour word (it ignored the instruction; the README has the numbers);
#      starting from the UR5e model, which already grounds "red"/"blue" in the image, it does;
#   4. each checkpoint gets a demo.json (tasks, budget) and, with --install, replaces the committed
#      one in src/pi0_bringup/pi0_bringup/demo_checkpoints/<embodiment>/.
# About 60 min on 2 cores (8 min recording, 5 min converting, ~45 min training). Evaluate with
#   pi0 eval ur5e=OUT/ckpt/ur5e bimanual_trossen=OUT/ckpt/bimanual_trossen --episodes 50
#
#   scripts/train_demo_checkpoints.sh [--install] [OUT]       (default OUT: demo_training)
# Settings: UR5E_EPISODES (600), ALOHA_EPISODES (per bimanual task, 350), STEPS (UR5e, 10000),
#           ALOHA_STEPS (post-training, 8000), BATCH (16), LR (5e-4), IMAGE (model image size, 112),
#           THREADS (torch threads per training, 1, as for the committed checkpoints), DOMAIN_BASE (first of four ROS domain ids, 71).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
install=0
if [ "${1:-}" = --install ]; then install=1; shift; fi
OUT=$(realpath -m "${1:-demo_training}")
UR5E_EPISODES=${UR5E_EPISODES:-600} ALOHA_EPISODES=${ALOHA_EPISODES:-350} STEPS=${STEPS:-10000} BATCH=${BATCH:-16} LR=${LR:-5e-4} IMAGE=${IMAGE:-112}
ALOHA_STEPS=${ALOHA_STEPS:-8000} THREADS=${THREADS:-1}
DOMAIN_BASE=${DOMAIN_BASE:-71}
[ -e "$OUT/bags" ] && { echo "train_demo_checkpoints: $OUT/bags exists; give a new OUT" >&2; exit 1; }
scripts/setup.sh
# shellcheck disable=SC1091
. scripts/env.sh
mkdir -p "$OUT/logs" "$OUT/bags" "$OUT/data" "$OUT/ckpt"
cd "$OUT"

# 1. demonstrations: pi0 record beside pi0 eval --expert (seeds 0.., apart from eval seeds 10000..)
record() {  # NAME TASK EMBODIMENT FIRST_SEED EPISODES DOMAIN
  export ROS_DOMAIN_ID=$6
  pi0 record "bags/$1" --embodiment "$3" --episodes "$5" >"logs/record_$1.log" 2>&1 &
  local recorder=$!
  sleep 3  # the recorder subscribes before the first episode starts
  pi0 eval --expert --tasks "$2" --seed "$4" --episodes "$5" --after-success 0.5 --gif-episodes 0 \
    --out "expert_$1" >"logs/expert_$1.log" 2>&1
  wait "$recorder"
  tail -n 1 "expert_$1/table.md"
}
echo "1/3 recording expert episodes through ROS: ur5e_reach $UR5E_EPISODES, bimanual_reach and" \
     "bimanual_gripper $ALOHA_EPISODES each (logs in $OUT/logs)"
start=$(date +%s)
half=$((UR5E_EPISODES / 2))
record ur5e_reach_a ur5e_reach ur5e 0 "$half" "$DOMAIN_BASE" &
record ur5e_reach_b ur5e_reach ur5e "$half" $((UR5E_EPISODES - half)) $((DOMAIN_BASE + 1)) &
record bimanual_reach bimanual_reach bimanual_trossen 0 "$ALOHA_EPISODES" $((DOMAIN_BASE + 2)) &
record bimanual_gripper bimanual_gripper bimanual_trossen 0 "$ALOHA_EPISODES" $((DOMAIN_BASE + 3)) &
wait
echo "    recorded in $(( $(date +%s) - start )) s"

# 2. bags -> LeRobot v3 datasets, 96 px frames as the task camera renders them
echo "2/3 converting bags to LeRobot v3 datasets"
pi0 dataset convert bags/ur5e_reach_a bags/ur5e_reach_b data/ur5e --embodiment ur5e --image-size 96 --only-success
pi0 dataset convert bags/bimanual_reach bags/bimanual_gripper data/bimanual_trossen \
  --embodiment bimanual_trossen --image-size 96 --only-success

# 3. UR5e from scratch, then ALOHA post-trained from it (the same network: 32-dim padded state/actions)
echo "3/3 training pi0_tiny: UR5e $STEPS steps from scratch, then ALOHA $ALOHA_STEPS steps from it" \
     "(batch $BATCH, ${IMAGE} px; metrics in $OUT/ckpt/*/)"
start=$(date +%s)
OMP_NUM_THREADS=$THREADS pi0 train data/ur5e --out ckpt/ur5e --preset pi0_tiny \
  --image-size "$IMAGE" --steps "$STEPS" --batch-size "$BATCH" --lr "$LR" --warmup 200 --log-every 50 \
  --profile pi0ros_absolute_base --no-progress >logs/train_ur5e.log 2>&1
ur5e_minutes=$(( ($(date +%s) - start + 59) / 60 ))
tail -n 1 logs/train_ur5e.log
start=$(date +%s)
OMP_NUM_THREADS=$THREADS pi0 train data/bimanual_trossen --out ckpt/bimanual_trossen --init ckpt/ur5e \
  --steps "$ALOHA_STEPS" --batch-size "$BATCH" --lr "$LR" --warmup 200 --log-every 50 \
  --profile pi0ros_absolute_base --no-progress >logs/train_bimanual_trossen.log 2>&1
aloha_minutes=$(( ($(date +%s) - start + 59) / 60 ))
tail -n 1 logs/train_bimanual_trossen.log

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
write_demo_json() {  # EMBODIMENT MINUTES INIT TASK...
  local embodiment=$1 minutes=$2 init=$3; shift 3
  local episodes=$UR5E_EPISODES
  [ "$embodiment" = ur5e ] || episodes=$ALOHA_EPISODES
  python - "$OUT/ckpt/$embodiment/demo.json" "$episodes" "$minutes" "$(nproc)" "$cpu" "$init" "$@" <<'EOF'
import json, sys
path, episodes, minutes, cores, cpu, init, *tasks = sys.argv[1:]
json.dump({"tasks": tasks, "episodes_per_task": int(episodes), "train_minutes": float(minutes),
           "init": init, "cpu": f"{cores} cores ({cpu})", "made_by": "scripts/train_demo_checkpoints.sh"},
          open(path, "w"), indent=2)
EOF
}
write_demo_json ur5e "$ur5e_minutes" "random pi0_tiny" ur5e_reach
write_demo_json bimanual_trossen "$aloha_minutes" "the ur5e checkpoint" bimanual_reach bimanual_gripper
echo "checkpoints: $OUT/ckpt/ur5e ($ur5e_minutes min), $OUT/ckpt/bimanual_trossen (post-trained from it," \
     "$aloha_minutes min)"

if [ "$install" = 1 ]; then
  for embodiment in ur5e bimanual_trossen; do
    dest="$ROOT/src/pi0_bringup/pi0_bringup/demo_checkpoints/$embodiment"
    rm -rf "$dest" && mkdir -p "$dest"
    for f in config.json model.safetensors norm_stats.json tokenizer.model demo.json metrics.jsonl loss.png \
             train_config.json; do
      cp "ckpt/$embodiment/$f" "$dest/"
    done
    echo "installed $dest"
  done
fi
