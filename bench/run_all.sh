#!/usr/bin/env bash
# Run every benchmark and print its table (issue #10: one documented command).
#
#   bash bench/run_all.sh            # full runs (tens of minutes on 2 cores)
#   bash bench/run_all.sh --quick    # short versions of each
#
# Peers (PyTorch CPU, TorchJD, LibMTL, quadprog, qpsolvers, cvxpy) are benchmark-only; install
# them once with:  pip install -e ".[bench]" && pip install --no-deps LibMTL==1.1.5
# Speed benches run pinned to one core (`taskset -c 0`) when taskset exists.
set -euo pipefail
cd "$(dirname "$0")/.."
Q="${1:-}"
PIN=""
command -v taskset >/dev/null && PIN="taskset -c 0"
run() { echo; echo "## $*"; "$@"; }
# speed against the peers (ratios printed in the same run)
run $PIN python bench/bench_qp.py $Q
run $PIN python bench/bench_hv.py $Q
run $PIN python bench/bench_overhead.py $Q
run $PIN python bench/bench_train_step.py $Q --memory
# quality against the published anchors
run python bench/bench_finite_set.py $Q
run python bench/bench_psl.py $Q
run python bench/bench_lorpman.py $Q
run python bench/bench_mtl.py $Q
run python bench/bench_merging.py $Q
run python bench/bench_pruning.py $Q
run python bench/bench_rl.py $Q
run python bench/bench_alignment.py $Q
