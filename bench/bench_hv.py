"""Hypervolume speed: paretojax's differentiable JAX path vs moocore (exact, C), same run.

For n ∈ {100, 1000, 10000} and m ∈ {2, 3}: points on the positive unit sphere (every point
non-dominated, the usual shape of a front), reference point 1.1. Our path is ``jax.jit`` of
``pj.hypervolume`` (float64, ``block_until_ready``); moocore is ``moocore.hypervolume`` on the
same NumPy array. The two are timed alternately inside one loop (so machine load hits both
alike) and the table reports medians and their ratio; ``--grad`` adds ``jax.grad`` timings.

    python bench/bench_hv.py [--reps 21] [--grad] [--sizes 100 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import moocore  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from paretojax.metrics import hypervolume  # noqa: E402


def front(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    y = np.abs(rng.standard_normal((n, m)))
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--grad", action="store_true", help="also time jax.grad(hypervolume)")
    ap.add_argument("--quick", action="store_true", help="n = 1e4 only, 5 repeats")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps = [10000], 5

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, moocore {moocore.__version__}, "
        f"load avg {os.getloadavg()[0]:.1f}"
    )
    hdr = f"{'m':>2} {'n':>6} | {'jax ms':>9} {'moocore ms':>10} {'ratio':>6} | {'abs err':>8}"
    if args.grad:
        hdr += f" | {'grad ms':>9} {'grad/moocore':>12}"
    print(hdr)
    print("-" * len(hdr))
    hv_jit = jax.jit(hypervolume)
    grad_jit = jax.jit(jax.grad(hypervolume))
    rng = np.random.default_rng(0)
    for m in (2, 3):
        for n in args.sizes:
            y = front(rng, n, m)
            r = np.full(m, 1.1)
            yj, rj = jnp.asarray(y), jnp.asarray(r)
            ours = float(hv_jit(yj, rj))  # compile
            ref = moocore.hypervolume(y, ref=r)
            if args.grad:
                jax.block_until_ready(grad_jit(yj, rj))
            t_ours, t_moo, t_grad = [], [], []
            for _ in range(args.reps):
                t_ours.append(timed(hv_jit, yj, rj))
                t_moo.append(timed(lambda a, b: moocore.hypervolume(a, ref=b), y, r))
                if args.grad:
                    t_grad.append(timed(grad_jit, yj, rj))
            a, b = 1e3 * np.median(t_ours), 1e3 * np.median(t_moo)
            line = f"{m:>2} {n:>6} | {a:9.3f} {b:10.3f} {a / b:6.1f} | {abs(ours - ref):8.1e}"
            if args.grad:
                g = 1e3 * np.median(t_grad)
                line += f" | {g:9.3f} {g / b:12.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
