#!/usr/bin/env bash
# The README's GPU measurements in one script, on a machine whose python3 has JAX with CUDA (and the package's
# dependencies) installed:  bash scripts/gpu_check.sh [suite|study|all]  (default all; logs in $OUT or gpu_check/)
#   suite: the test suite on the GPU (JAX_PLATFORMS=cuda, 8 pytest workers sharing the GPU's memory) and
#          benchmarks.train_run (the default training run against the lean loop)
#   study: benchmarks.study_time (the default depth study: a first run and a rerun from its cache) and the
#          --full study (depth 1000, 8 seeds, widths to 4096), timed
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
log=${OUT:-gpu_check}
mkdir -p "$log"
export JAX_PLATFORMS=cuda PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import jax; print(jax.__version__, jax.devices())" 2>&1 | tee "$log/devices.txt"
status=0
if [ "$what" = suite ] || [ "$what" = all ]; then
  # Each worker takes memory as it needs it instead of 75% of the GPU up front.
  XLA_PYTHON_CLIENT_PREALLOCATE=false timeout 330 python3 -m pytest -q -n 8 -p no:cacheprovider jaxacts tests \
    2>&1 | tail -40 | tee "$log/suite.txt" || status=1
  timeout 150 python3 -m benchmarks.train_run --repeats 2 2>&1 | tee "$log/train_run.txt" || status=1
fi
if [ "$what" = study ] || [ "$what" = all ]; then
  timeout 200 python3 -m benchmarks.study_time 2>&1 | tee "$log/study_time.txt" || status=1
  start=$(date +%s)
  full=$(mktemp -d)
  timeout 330 python3 -m experiments.selfnorm_depth --full --out "$full" --cache-dir "" 2>&1 | tail -45 \
    | tee "$log/full.txt" || status=1
  echo "--full: $(( $(date +%s) - start )) s wall, start-up included" | tee -a "$log/full.txt"
  cp "$full/report.md" "$log/full_report.md" 2>/dev/null
  cp "$full/depth_width_spread.png" "$log/full_depth_width_spread.png" 2>/dev/null
fi
exit $status
