"""Pareto-set learning on the STCH PSL protocol (METHODS.md §1.3): HV / ΔHV of LS, TCH, STCH.

Protocol (official ``Xi-L/STCH`` ``STCH_PSL/run_stch_psl.py``): MLP m→512→512→n (ReLU, sigmoid
to the box), Adam 1e-3, 2000 steps, 10 Dir(1) preferences per step, objectives normalised by the
problem's ideal/nadir, loss summed over the window, STCH μ = 0.01; evaluation on 100 linspace
preferences (m = 2) or Das–Dennis H = 44 (m = 3, 1035 points), HV at 1.1·1 of the normalised
front, ΔHV = HV(reference front) − HV(learned front). Anchors: the independent JAX
re-implementation of METHODS.md §1.3 (3 seeds; not published numbers).

    python bench/bench_psl.py            # F1–F6, RE21, RE37 × LS/TCH/STCH × 3 seeds
    python bench/bench_psl.py --quick    # F1, F4 × 1 seed, 500 steps
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np
from flax import nnx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import paretojax as pj  # noqa: E402
from paretojax.manifold import ParetoSetMLP, evaluate_psl, fit_psl  # noqa: E402

# problem -> (ref-front HV, {method: (HV, ΔHV)}) from METHODS.md §1.3.
ANCHORS = {
    "stch_f1": (0.87667, {"ls": (0.86146, 1.52e-2), "tch": (0.86970, 6.97e-3),
                          "stch": (0.87058, 6.09e-3)}),
    "stch_f2": (0.87667, {"ls": (0.86296, 1.37e-2), "tch": (0.87014, 6.52e-3),
                          "stch": (0.87095, 5.72e-3)}),
    "stch_f3": (0.87667, {"ls": (0.77110, 1.06e-1), "tch": (0.86594, 1.07e-2),
                          "stch": (0.86778, 8.89e-3)}),
    "stch_f4": (0.54333, {"ls": (0.22861, 3.15e-1), "tch": (0.53602, 7.32e-3),
                          "stch": (0.53712, 6.22e-3)}),
    "stch_f5": (0.54333, {"ls": (0.31534, 2.28e-1), "tch": (0.53709, 6.24e-3),
                          "stch": (0.53768, 5.65e-3)}),
    "stch_f6": (0.54333, {"ls": (0.18830, 3.55e-1), "tch": (0.53269, 1.06e-2),
                          "stch": (0.53541, 7.92e-3)}),
    "re21": (0.88856, {"ls": (0.88054, 8.02e-3), "tch": (0.88140, 7.15e-3),
                       "stch": (0.88275, 5.81e-3)}),
    "re37": (0.84720, {"ls": (0.77520, 7.20e-2), "tch": (0.82349, 2.37e-2),
                       "stch": (0.83927, 7.92e-3)}),
}


def run_one(prob, method: str, seed: int, steps: int) -> tuple[float, float, float, float]:
    model = ParetoSetMLP(prob.n_obj, prob.n_var, hidden=(512, 512), lower=prob.lower,
                         upper=prob.upper, rngs=nnx.Rngs(seed))
    t0 = time.perf_counter()
    res = fit_psl(model, prob, method, steps=steps, num_prefs=10, key=seed, progress=False,
                  mu=0.01, reduction="sum")
    jax.block_until_ready(res.state.params)
    seconds = time.perf_counter() - t0
    ev = evaluate_psl(model, prob, ref=1.1)
    return ev.hv, ev.delta_hv, ev.hv_reference, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="F1, F4; 1 seed; 500 steps")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--problems", default=",".join(ANCHORS))
    ap.add_argument("--methods", default="ls,tch,stch")
    args = ap.parse_args()
    problems = args.problems.split(",")
    seeds, steps = args.seeds, args.steps
    if args.quick:
        problems, seeds, steps = ["stch_f1", "stch_f4"], 1, 500
    methods = args.methods.split(",")
    cmd = "python bench/bench_psl.py " + " ".join(sys.argv[1:])
    print(f"## PSL, STCH protocol (`{cmd.strip()}`; {seeds} seed(s), {steps} steps; "
          f"jax {jax.__version__}, {jax.devices()[0].platform})\n")
    print("| problem | method | ref-front HV (ours / anchor) | HV ours | HV anchor | ΔHV ours "
          "(mean ± std) | ΔHV anchor | \\|Δ(ΔHV)\\| | s/run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in problems:
        prob = pj.problems.get(name)
        ref_anchor, anchors = ANCHORS[name]
        for method in methods:
            runs = [run_one(prob, method, s, steps) for s in range(seeds)]
            hv = np.array([r[0] for r in runs])
            dhv = np.array([r[1] for r in runs])
            secs = np.array([r[3] for r in runs])
            a_hv, a_dhv = anchors.get(method, (float("nan"), float("nan")))
            print(f"| {name} | {method} | {runs[0][2]:.5f} / {ref_anchor:.5f} | {hv.mean():.5f} | "
                  f"{a_hv:.5f} | {dhv.mean():.2e} ± {dhv.std():.1e} | {a_dhv:.2e} | "
                  f"{abs(dhv.mean() - a_dhv):.1e} | {secs.mean():.1f} |", flush=True)


if __name__ == "__main__":
    main()
