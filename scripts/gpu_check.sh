#!/usr/bin/env bash
# The GPU check, in one command, for when a device machine is lent (issue 14):
#   scripts/gpu_check.sh [WHEEL_DIR]
# run from the repository root. It installs nothing from the network: the kornia wheel (and
# kornia_rs, which kornia needs) come from WHEEL_DIR, else wheels/ or .whl/ if present; mmnoise
# is installed editable without dependencies (or put on PYTHONPATH if that fails). Then it runs
# tests/test_cuda.py, the transform contract (on cuda too when present) and the quick
# benchmark on the device, each under `timeout`, all within 8 minutes, and prints a summary.
# Everything it writes goes to $OUT (default ./gpu_check_out): gpu_check.log (every step's
# output), latest.md and latest.json (the benchmark), summary.txt.
#
# Settings (environment): DEVICE (cuda), PYTHON (python3), STEPS (a subset of
# "env install cuda contract bench"), BENCH_ARGS (--quick). On a CPU, for instance:
#   DEVICE=cpu STEPS=bench BENCH_ARGS="--tiny --only small" scripts/gpu_check.sh
set -u

OUT=${OUT:-$PWD/gpu_check_out}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-env install cuda contract bench}
BENCH_ARGS=${BENCH_ARGS:---quick}
WHEELS=${1:-}
if [ -z "$WHEELS" ]; then
    for d in wheels .whl; do
        if [ -d "$d" ]; then WHEELS=$d; break; fi
    done
fi
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
SUMMARY=$OUT/summary.txt
: >"$LOG"
: >"$SUMMARY"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
STARTED=$(date +%s)
FAILED=0

note() { echo "$*" | tee -a "$LOG"; }

# step NAME SECONDS CMD...: run CMD under timeout, its output into the log, one summary line
step() {
    local name=$1 limit=$2 t0 rc last verdict
    shift 2
    case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
    note "=== $name (limit ${limit} s): $*"
    t0=$(date +%s)
    # timeout runs programs, not shell functions: the steps are exported to a child bash
    timeout -k 10 "$limit" bash -c '"$@"' "$name" "$@" 2>&1 | tee -a "$LOG" >"$OUT/.step"
    rc=${PIPESTATUS[0]}
    last=$(grep -v '^\s*$' "$OUT/.step" | tail -n 1 | cut -c 1-160)
    rm -f "$OUT/.step"
    case $rc in
        0) verdict=ok ;;
        124 | 137) verdict="TIMEOUT after ${limit} s"; FAILED=1 ;;
        *) verdict="FAIL (exit $rc)"; FAILED=1 ;;
    esac
    echo "$name: $verdict, $(($(date +%s) - t0)) s; $last" >>"$SUMMARY"
}

env_report() {
    command -v nvidia-smi >/dev/null && nvidia-smi -L
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
}

install() {
    if [ -n "$WHEELS" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-cache-dir "$WHEELS"/*.whl || return 1
        echo "installed from $WHEELS: $(cd "$WHEELS" && ls -- *.whl | tr '\n' ' ')"
    else
        echo "no wheels (give a folder as \$1, or put them in wheels/): kornia rows will say 'not installed'"
    fi
    # no build isolation: the image's setuptools builds it, nothing is fetched
    if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e .; then
        echo "editable install failed: using PYTHONPATH=$PWD instead" >&2
    fi
    "$PY" -c 'import kornia; print("kornia", kornia.__version__)' || true
}

cuda_tests() {
    # sync-debug mode over every transform and container, CUDA-graph replay, autocast
    "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_rng_key.py
}

contract() {
    # tests.strategies.DEVICES adds "cuda" whenever a device is present
    "$PY" -m pytest -q -p no:cacheprovider -x tests/contract
}

bench() {
    # shellcheck disable=SC2086  # BENCH_ARGS is a list of options
    "$PY" -m benchmarks --device "$DEVICE" $BENCH_ARGS --out "$OUT" >/dev/null
}

# PYTHONPATH as well as the editable install: the check must test this tree's code either way
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PY DEVICE WHEELS BENCH_ARGS OUT
export -f env_report install cuda_tests contract bench
# limits add up to 7 min 20 s, so the script ends within 8 minutes with the summary
step env 20 env_report
step install 60 install
step cuda 90 cuda_tests
step contract 130 contract
step bench 140 bench

{
    echo "--- gpu_check summary ($(($(date +%s) - STARTED)) s, device $DEVICE)"
    cat "$SUMMARY"
    if [ -f "$OUT/latest.md" ]; then
        echo "--- benchmark targets ($OUT/latest.md)"
        grep -E '^- \*\*(PASS|FAIL|INFO|N/A)\*\*' "$OUT/latest.md" || echo "(no target lines)"
    fi
} | tee "$OUT/summary.tmp"
mv "$OUT/summary.tmp" "$SUMMARY"
exit $FAILED
