#!/usr/bin/env bash
# The GPU lane: everything CUDA that CI (CPU only) never executes, in one go,
# on a machine with a CUDA device and torch, JAX (CUDA) and CuPy installed.
#   .ci/gpu_lane.sh [OUTDIR]     (default: benchmarks/results/gpu)
# Writes OUTDIR/{info,conformance,pytest}.txt and the bench report
# (bench-gpu.json, .md, .png).  Exit status: non-zero if the conformance
# suite or the GPU tests failed.  Set LANE_STEPS to a subset of
# "info conformance pytest bench" to run fewer steps.
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
if [[ $steps == *conformance* ]]; then
    $py -m xpsoftmax conformance --devices gpu --no-progress -v 2>&1 | tee "$out/conformance.txt"
    [[ ${PIPESTATUS[0]} == 0 ]] || status=1
fi
if [[ $steps == *pytest* ]]; then
    # the tests whose ids name a GPU target ([torch:gpu], [cupy:gpu], ...) or the CUDA kernels
    $py -m pytest -q -p no:cacheprovider -k "gpu or cuda" -rs 2>&1 | tail -n 60 | tee "$out/pytest.txt"
    [[ ${PIPESTATUS[0]} == 0 ]] || status=1
fi
if [[ $steps == *bench* ]]; then
    JAX_ENABLE_X64=1 $py -m xpsoftmax bench --devices gpu \
        --shapes "${BENCH_SHAPES:-4x8,256x1024,524288x16,8x1048576,4096x4096,64x256x1024,16384x16384}" \
        --dtypes float32,float64 --repeat 7 \
        --json "$out/bench-gpu.json" --markdown "$out/bench-gpu.md" --plot "$out/bench-gpu.png" \
        2>&1 | tail -n 80
fi
exit $status
