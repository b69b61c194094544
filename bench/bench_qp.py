"""Benchmark of the compiled min-norm simplex QP (``paretojax.core.qp.min_norm``) vs quadprog.

For each m in {2, 3, 5, 10, 20, 50} and dtype in {float32, float64}: 1024 Gram matrices of the
ill-conditioned, sparse-optimum family (``tests.helpers.ill_conditioned_gram``, cond 1e4,
d = 100), solved

* by ``min_norm`` (default active-set solver; also Frank–Wolfe for reference), one jitted,
  vmapped call over the batch, timed with ``block_until_ready`` (median of repeats);
* by ``quadprog.solve_qp`` in a Python loop over the same problems (float64, trace-normalised
  G + 1e-12·I so that it is positive definite);
* by TorchJD's ``MGDAWeighting`` (Frank–Wolfe, the MGDA aggregator's weights) and
  ``UPGradWeighting`` (m dual-cone projections: a different QP, so time only) on the Gram
  matrix, in a Python loop over the first ``--peer-n`` problems (torch float64, one thread),
  when ``torchjd`` is installed (benchmark-only peer: ``pip install torchjd==0.18.0``).

Reported: time per problem (µs), the ratio quadprog / ours, and the maximum relative objective
gap ``(f − f_qp) / max(f_qp, 1e-9)`` on trace-normalised G (negative: better than quadprog).
Times are medians over repeats of the wall clock (``--clock cpu``: process CPU time, which is
less sensitive to other jobs on a shared machine). Pin one core for the issue-#10 protocol:

Run: ``taskset -c 0 python bench/bench_qp.py`` (not part of CI; ``--quick`` for a short run).
``--solvers active_set,frank_wolfe``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from paretojax.core.qp import min_norm  # noqa: E402
from tests.helpers import ill_conditioned_gram  # noqa: E402

CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def quadprog_solve(gs: np.ndarray, repeats: int = 3) -> tuple[np.ndarray, float]:
    """quadprog in a Python loop; returns weights and seconds per problem (median of repeats)."""
    import quadprog

    n, m, _ = gs.shape
    c = np.hstack([np.ones((m, 1)), np.eye(m)])
    b = np.r_[1.0, np.zeros(m)]
    a = np.zeros(m)
    eye = 1e-12 * np.eye(m)
    out = np.empty((n, m))
    times = []
    for _ in range(repeats):
        t0 = clock()
        for i in range(n):
            g = gs[i] / np.trace(gs[i])
            out[i] = quadprog.solve_qp(g + eye, a, c, b, meq=1)[0]
        times.append((clock() - t0) / n)
    out = np.maximum(out, 0.0)
    return out / out.sum(-1, keepdims=True), statistics.median(times)


def time_ours(gs, solver: str, repeats: int) -> tuple[np.ndarray, float]:
    fn = jax.jit(lambda g: min_norm(g, solver=solver))
    w = fn(gs).block_until_ready()  # compile
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn(gs).block_until_ready()
        times.append(clock() - t0)
    return np.asarray(w, np.float64), statistics.median(times) / gs.shape[0]


def torchjd_solve(gs: np.ndarray, which: str, repeats: int = 3) -> tuple[np.ndarray, float]:
    """TorchJD's weighting on each Gram matrix in a Python loop (weights, seconds per problem)."""
    import torch
    from torchjd.aggregation import MGDAWeighting, UPGradWeighting

    torch.set_num_threads(1)
    weighting = {"mgda": MGDAWeighting, "upgrad": UPGradWeighting}[which]()
    ts = [torch.as_tensor(g) for g in gs]
    out = np.empty(gs.shape[:2])
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            t0 = clock()
            for i, g in enumerate(ts):
                out[i] = weighting(g).numpy()
            times.append((clock() - t0) / len(ts))
    return out, statistics.median(times)


def objective(gs: np.ndarray, w: np.ndarray) -> np.ndarray:
    tr = np.trace(gs, axis1=1, axis2=2)
    return np.einsum("bi,bij,bj->b", w, gs, w) / tr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--ms", default="2,3,5,10,20,50")
    ap.add_argument("--solvers", default="active_set,frank_wolfe")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peer-n", type=int, default=64, help="problems timed for TorchJD")
    ap.add_argument("--clock", choices=tuple(CLOCK), default="wall")
    ap.add_argument("--quick", action="store_true", help="n = 256, 5 repeats, no Frank–Wolfe")
    args = ap.parse_args()
    if args.quick:
        args.n, args.repeats, args.solvers, args.peer_n = 256, 5, "active_set", 16
    global clock
    clock = CLOCK[args.clock]
    try:
        import torchjd  # noqa: F401

        peers = ("mgda", "upgrad")
    except ImportError:
        peers = ()
    jax.config.update("jax_enable_x64", True)
    ms = [int(x) for x in args.ms.split(",")]
    solvers = args.solvers.split(",")
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, {args.clock} clock), {args.n} problems per row"
    )
    if peers:
        from importlib.metadata import version

        print(
            f"peers: quadprog {version('quadprog')}, torchjd {version('torchjd')} "
            f"(first {args.peer_n} problems), torch {version('torch')}"
        )
    hdr = f"{'m':>3} {'dtype':>7} {'solver':>11} {'ours µs/pb':>11} {'quadprog µs/pb':>15}"
    print(hdr + f" {'speed-up':>9} {'max gap':>10}")
    for m in ms:
        rng = np.random.default_rng(args.seed + m)
        gs64 = np.stack([ill_conditioned_gram(rng, m) for _ in range(args.n)])
        w_qp, t_qp = quadprog_solve(gs64)
        f_qp = objective(gs64, w_qp)
        for dtype in (jnp.float32, jnp.float64):
            gs = jnp.asarray(gs64, dtype)
            for solver in solvers:
                w, t = time_ours(gs, solver, args.repeats)
                gap = np.max((objective(gs64, w) - f_qp) / np.maximum(f_qp, 1e-9))
                name = jnp.dtype(dtype).name
                print(
                    f"{m:>3} {name:>7} {solver:>11} {t * 1e6:>11.2f} {t_qp * 1e6:>15.2f}"
                    f" {t_qp / t:>8.1f}× {gap:>10.1e}"
                )
        for peer in peers:
            sub = gs64[: args.peer_n]
            w, t = torchjd_solve(sub, peer)
            gap = np.max(
                (objective(sub, w) - f_qp[: len(sub)]) / np.maximum(f_qp[: len(sub)], 1e-9)
            )
            gap_s = f"{gap:>10.1e}" if peer == "mgda" else f"{'(other QP)':>10}"
            print(
                f"{m:>3} {'float64':>7} {'tjd_' + peer:>11} {t * 1e6:>11.2f} {t_qp * 1e6:>15.2f}"
                f" {t_qp / t:>8.2f}× {gap_s}"
            )


if __name__ == "__main__":
    main()
