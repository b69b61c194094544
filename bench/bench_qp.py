"""Benchmark of the compiled min-norm simplex QP (``paretojax.core.qp.min_norm``) vs quadprog.

For each m in {2, 3, 5, 10, 20, 50} and dtype in {float32, float64}: 1024 Gram matrices of the
ill-conditioned, sparse-optimum family (``tests.helpers.ill_conditioned_gram``, cond 1e4,
d = 100), solved

* by ``min_norm`` (default active-set solver; also Frank–Wolfe for reference), one jitted,
  vmapped call over the batch, timed with ``block_until_ready`` (median of repeats);
* by ``quadprog.solve_qp`` in a Python loop over the same problems (float64, trace-normalised
  G + 1e-12·I so that it is positive definite).

Reported: time per problem (µs), the ratio quadprog / ours, and the maximum relative objective
gap ``(f_ours − f_qp) / max(f_qp, 1e-9)`` on trace-normalised G (negative: ours is better).

Run: ``python bench/bench_qp.py`` (not part of CI). ``--solvers active_set,frank_wolfe``.
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
        t0 = time.perf_counter()
        for i in range(n):
            g = gs[i] / np.trace(gs[i])
            out[i] = quadprog.solve_qp(g + eye, a, c, b, meq=1)[0]
        times.append((time.perf_counter() - t0) / n)
    out = np.maximum(out, 0.0)
    return out / out.sum(-1, keepdims=True), statistics.median(times)


def time_ours(gs, solver: str, repeats: int) -> tuple[np.ndarray, float]:
    fn = jax.jit(lambda g: min_norm(g, solver=solver))
    w = fn(gs).block_until_ready()  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(gs).block_until_ready()
        times.append(time.perf_counter() - t0)
    return np.asarray(w, np.float64), statistics.median(times) / gs.shape[0]


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
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    ms = [int(x) for x in args.ms.split(",")]
    solvers = args.solvers.split(",")
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}), {args.n} problems per row"
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


if __name__ == "__main__":
    main()
