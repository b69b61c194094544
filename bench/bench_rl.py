"""Multi-objective RL fronts: linear scalarization vs gradient balancing vs a preference-conditioned
policy (Tchebycheff), on Deep Sea Treasure and the concave two-goal task.

    python bench/bench_rl.py [--quick] [--seeds 3]

HV of the greedy returns (negated, minimisation) against the known front's HV; K = 8 policies /
evaluation preferences. Linear scalarization can only reach convex-hull points of a front.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import paretojax as pj
from paretojax import rl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    K = 8
    prefs = pj.linspace_prefs(K)
    cfg = {
        "two_goal": dict(steps=150 if args.quick else 400, entropy=0.0),
        "deep_sea_treasure": dict(steps=150 if args.quick else 500, entropy=0.01),
    }
    print(f"| env | method | HV mean ± std ({args.seeds} seeds) | true-front HV | distinct points | s/run |")
    print("|---|---|---|---|---|---|")
    for name, kw in cfg.items():
        env = getattr(rl, name)()
        runs = {
            "linear (K policies)": lambda k: rl.train_linear(env, prefs, key=k, **kw),
            "MGDA (K seeds)": lambda k: rl.train_balanced(env, pj.mgda(), num_policies=K, key=k, **kw),
            "UPGrad (K seeds)": lambda k: rl.train_balanced(env, pj.upgrad(), num_policies=K, key=k, **kw),
            "conditioned TCH": lambda k: rl.train_conditioned(env, key=k, eval_prefs=prefs, **kw),
        }
        for label, fn in runs.items():
            hvs, npts, times, true = [], [], [], 0.0
            for s in range(args.seeds):
                t = time.perf_counter()
                res = fn(jax.random.key(s))
                times.append(time.perf_counter() - t)
                hvs.append(res.hv)
                true = res.hv_true
                npts.append(len(np.unique(np.round(res.returns, 2), axis=0)))
            print(f"| {name} | {label} | {np.mean(hvs):.4g} ± {np.std(hvs):.2g} | {true:.4g} | "
                  f"{np.mean(npts):.1f} | {np.median(times):.1f} |")


if __name__ == "__main__":
    main()
