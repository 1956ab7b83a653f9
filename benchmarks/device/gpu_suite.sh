#!/usr/bin/env bash
# The current suite on a GPU machine with no network, from an on-top bundle carried to it (docs/bundles.md).
#
#   bash benchmarks/device/gpu_suite.sh setup BUNDLE          # call 1: check, install, generate the data
#   bash benchmarks/device/gpu_suite.sh run BUNDLE PRESET [REPEAT]   # call 2: one suite run, records packed
#
# Run from the repository's root (the device tool's working directory). Both modes are idempotent: `run` sets
# up whatever `setup` did not (a machine that went cold between the calls). Everything bench writes stays under
# the repository: BENCH_CACHE=.cache/bench (ignored by git, so it survives between calls on a warm machine) and
# BENCH_RESULTS=results. What comes back goes to $OUT (the device tool's folder; ./out when unset): the target's
# description, the logs of each step, and the new records as one tarball (records-PRESET.tar.gz).
#
# The interpreter that provides torch is python3 on PATH (BENCH_TARGET_PYTHON overrides). bench itself runs in
# a virtual environment over that interpreter's site-packages, with what bench needs beyond them installed from
# the bundle (bench-requirements.txt, --no-index); `bench run --bundle` refuses, in one line and before anything
# starts, a bundle that does not match this machine (Python, torch, CUDA, GPU architecture).
#
# Time: `run` stops the suite (SIGINT, as Ctrl-C: the run in progress is recorded as interrupted) when fewer than
# BENCH_PACK_S seconds (default 45) are left of BENCH_DEVICE_BUDGET_S (default 570, under the tool's 600 s per
# call), so that what finished is always packed.
set -euo pipefail

mode=${1:?usage: gpu_suite.sh setup BUNDLE | run BUNDLE PRESET [REPEAT]}
bundle=$(cd "${2:?the bundle folder}" && pwd)
preset=${3:-full}
repeat=${4:-3}
started=$(date +%s)
budget=${BENCH_DEVICE_BUDGET_S:-570}
pack_s=${BENCH_PACK_S:-45}
out=${OUT:-$PWD/out}
mkdir -p "$out"

export BENCH_CACHE=${BENCH_CACHE:-$PWD/.cache/bench}
export BENCH_RESULTS=${BENCH_RESULTS:-$PWD/results}
# detectron2's environment report calls its _C version helpers, which crashed once on this image (see
# patches/detectron2-current/train_synthetic.py); the report is not used by the measurement.
export BENCH_D2_NO_COLLECT_ENV=1
site_python=$(command -v "${BENCH_TARGET_PYTHON:-python3}")
venv=$BENCH_CACHE/bench-venv
bench=("$venv/bin/python" -m bench.cli)

log() { printf '[gpu_suite %4ss] %s\n' "$(( $(date +%s) - started ))" "$*" | tee -a "$out/gpu_suite.log"; }

bootstrap() {
    # bench's own environment: no pip of its own (the site's pip installs into it), the site's packages after
    # its own (a .pth file), bench's missing requirements from the bundle only.
    if [ -x "$venv/bin/python" ] && "${bench[@]}" --help >/dev/null 2>&1; then
        return
    fi
    log "bench's environment over $site_python"
    rm -rf "$venv"
    "$site_python" -m venv --without-pip "$venv"
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$site_python" -c 'import os, sys
print("\n".join(p for p in sys.path if os.path.isdir(p) and os.path.basename(p) in ("site-packages", "dist-packages")))' \
        > "$site/_bench_layer.pth"
    PIP_NO_INDEX=1 PIP_FIND_LINKS="$bundle/wheels" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$venv/bin/python" -m pip install -q -r "$bundle/bench-requirements.txt" 2>&1 | tee -a "$out/gpu_suite.log"
}

describe() {
    "${bench[@]}" bundle --describe-target --python "$site_python" > "$out/target.json"
    log "this machine: $("$venv/bin/python" -c 'import json,sys; t=json.load(open(sys.argv[1])); print("Python", t["python"], "torch", t["torch"], "CUDA", t["cuda"], "GPUs", t["gpu_archs"], "driver", t["driver"])' "$out/target.json")"
    nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu,persistence_mode \
        --format=csv > "$out/nvidia-smi.csv" 2>&1 || true
}

setup_members() {
    for member in detectron2-current mmdetection-current builtin; do
        log "setup $member from the bundle"
        if ! "${bench[@]}" setup "$member" --bundle "$bundle" >> "$out/setup.log" 2>&1; then
            log "setup $member failed: $(tail -1 "$out/setup.log")"
        fi
    done
}

pack() {
    local since=$1
    local list
    list=$(find "$BENCH_RESULTS/runs" -mindepth 1 -maxdepth 1 -type d -newer "$since" -printf '%f\n' 2>/dev/null | sort)
    if [ -z "$list" ]; then
        log "no new records to pack"
        return
    fi
    # one tarball: the records, their logs and clocks (not the trainers' checkpoints, if any)
    tar -czf "$out/records-$preset.tar.gz" -C "$BENCH_RESULTS/runs" --exclude='*.pth' --exclude='*.pkl' $list
    log "packed $(echo "$list" | wc -l) run(s) into records-$preset.tar.gz ($(du -h "$out/records-$preset.tar.gz" | cut -f1))"
}

bootstrap
describe
case "$mode" in
    setup)
        setup_members
        log "setup done"
        ;;
    run)
        setup_members
        marker=$BENCH_CACHE/.run-started
        touch "$marker"
        left=$(( budget - pack_s - ($(date +%s) - started) ))
        log "bench run --suite current --preset $preset --repeat $repeat (at most ${left} s)"
        telemetry=()
        if "${bench[@]}" run --help 2>/dev/null | grep -q -- '--telemetry'; then
            telemetry=(--telemetry)  # issue 25's sampler, where this bench has it
        fi
        set +e
        timeout --signal=INT --kill-after=30 "$left" "${bench[@]}" run --suite current --preset "$preset" \
            --repeat "$repeat" --bundle "$bundle" --no-progress "${telemetry[@]}" 2>&1 | tee -a "$out/run.log"
        status=${PIPESTATUS[0]}
        set -e
        log "suite run ended with exit status $status"
        pack "$marker"
        exit "$status"
        ;;
    *)
        echo "usage: gpu_suite.sh setup BUNDLE | run BUNDLE PRESET [REPEAT]" >&2
        exit 2
        ;;
esac
