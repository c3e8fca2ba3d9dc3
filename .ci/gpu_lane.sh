#!/usr/bin/env bash
# The GPU lane: everything CUDA that CI (CPU only) never executes, in one go,
# on a machine with a CUDA device and torch, JAX (CUDA) and CuPy installed.
#   .ci/gpu_lane.sh [OUTDIR]     (default: benchmarks/results/gpu)
# Writes OUTDIR/{info,conformance-*,pytest}.txt and the bench report
# (bench-gpu.json, .md, .png).  Exit status: non-zero if the conformance
# suite or the GPU tests failed.  Set LANE_STEPS to a subset of
# "info conformance pytest bench" to run fewer steps; LANE_CONFORMANCE (the
# backend groups, default "torch,jax cupy,dask"), PYTEST_ARGS (e.g. "-n 8"
# where pytest-xdist is installed), BENCH_SHAPES and LANE_TIMEOUT narrow them.
set -u
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
steps=${LANE_STEPS:-info conformance pytest bench}
# JAX would take 75% of the device for itself; torch and CuPy share it here
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
py=${PYTHON:-python3}
status=0

if [[ $steps == *info* ]]; then
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $py -m xpsoftmax info; } \
        2>&1 | tee "$out/info.txt"
fi
# the conformance suite (two processes: the JAX compiles dominate one) and the
# GPU tests run side by side; each writes its own log
pids=()
if [[ $steps == *conformance* ]]; then
    for group in ${LANE_CONFORMANCE:-torch,jax cupy,dask}; do
        timeout "${LANE_TIMEOUT:-400}" $py -m xpsoftmax conformance --devices gpu --backends $group \
            --no-progress -v >"$out/conformance-${group/,/-}.txt" 2>&1 &
        pids+=($!)
    done
fi
if [[ $steps == *pytest* ]]; then
    # the tests whose ids name a GPU target ([torch:gpu], [cupy:gpu], ...) or the CUDA kernels
    timeout "${LANE_TIMEOUT:-400}" $py -m pytest -q -p no:cacheprovider -k "gpu or cuda" -rfEs ${PYTEST_ARGS:-} \
        >"$out/pytest.txt" 2>&1 &
    pids+=($!)
fi
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
for f in "$out"/conformance-*.txt "$out"/pytest.txt; do
    [[ -f $f ]] && { echo "== $f"; tail -n 25 "$f"; }
done
if [[ $steps == *bench* ]]; then
    JAX_ENABLE_X64=1 $py -m xpsoftmax bench --devices gpu \
        --shapes "${BENCH_SHAPES:-4x8,256x1024,524288x16,8x1048576,4096x4096,64x256x1024,16384x16384}" \
        --dtypes float32,float64 --repeat 7 \
        --json "$out/bench-gpu.json" --markdown "$out/bench-gpu.md" --plot "$out/bench-gpu.png" \
        2>&1 | tail -n 80
fi
exit $status
