#!/usr/bin/env bash
# One lent-GPU session's checks, in one command (device time is short): environment, compiled-vs-eager
# parity of the full π0 in bf16, then Table I latency (3 cameras, 10 steps) eager and CUDA-graphed.
#   bench/gpu_session.sh OUTDIR [CHECK...]   (runs with the machine's own python3 and torch)
# CHECKs: eager (SDPA vs eager attention), steps (the Euler steps as CUDA graphs), all (the whole
# chunk as CUDA graphs), parity (compiled vs eager actions); default: all four.
# If the machine's transformers does not build our model, carried wheels in .whl/ are used
# (transformers as pinned in requirements/common.txt, and a tokenizers it accepts).
set -uo pipefail
OUTDIR=${1:-gpu_out}
shift || true
CHECKS=${*:-eager steps all parity}
mkdir -p "$OUTDIR"
export PYTHONPATH=$PWD/src/pi0_policy:$PWD/bench${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUTDIR/env.txt"
smoke='import torch
from pi0_policy.model import build_model, get_config
from model_latency import make_inputs
config = get_config("pi0_tiny")
inputs, noise = make_inputs(config, 1, "cpu")
build_model(config).sample_actions(**inputs, noise=noise, num_steps=2)
print("model builds and samples")'
if ! python3 -c "$smoke" 2>"$OUTDIR/smoke_err.txt"; then
  tail -n 3 "$OUTDIR/smoke_err.txt"
  echo "machine's transformers fails; installing the carried wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PYTHONPATH
  python3 -c "$smoke" || exit 1
fi
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUTDIR/env.txt"
run() {  # NAME LIMIT_S ARGS...
  local name=$1 limit=$2; shift 2
  case " $CHECKS " in *" ${name#latency_} "*) ;; *) return 0 ;; esac
  echo "== $name: $*"
  timeout "$limit" python3 "$@" 2>&1 | grep -v "it/s\]\|s/it\]" | tee "$OUTDIR/$name.txt"
}
# eager first (cheapest, the headline without compilation); the compile's cache serves the parity run
run latency_eager 150 bench/model_latency.py --preset pi0 --device cuda --dtype bfloat16 --repeats 10 \
  --uncached-steps 1 --baseline eager
run latency_steps 270 bench/model_latency.py --preset pi0 --device cuda --dtype bfloat16 --repeats 20 \
  --uncached-steps 1 --compile steps
# the whole chunk's first compilation took > 200 s on an H200 (not finished then): run it alone
# (`bench/gpu_session.sh OUT all`) with most of a 600 s call
run latency_all 480 bench/model_latency.py --preset pi0 --device cuda --dtype bfloat16 --repeats 10 \
  --uncached-steps 1 --compile all
run parity 150 bench/cuda_parity.py --preset pi0 --dtype bfloat16
