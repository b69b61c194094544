"""Multi-objective alignment of a tiny char-level LM: Panacea vs GenARM vs PARM fronts and the
decoding cost of m reward models (GenARM) against one (PARM).

    python bench/bench_alignment.py [--quick]

Equal ARM-training budget: GenARM trains m ARMs for S steps each, PARM one ARM for m·S steps.
Rewards are the scripted token-set fractions (objective i rewards tokens of set i); HV of the mean
rewards over a preference grid, reference = origin of reward space. Decoding time: median of 5
batched generations of 256 sequences per preference (one compiled call per grid).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import paretojax as pj
from paretojax import alignment as al


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    S = 120 if args.quick else 300
    L = 10 if args.quick else 12
    print("| m | method | HV | reward rows over the preference grid | decode ms / batch |")
    print("|---|---|---|---|---|")
    for m in (2, 3):
        sets = al.DEFAULT_TOKEN_SETS[:m]
        base = al.pretrain_lm(jax.random.key(0), steps=150 if args.quick else 300, length=L,
                              hidden=32 if args.quick else 64)
        pairs = al.preference_pairs(jax.random.key(1), base, 256 if args.quick else 512, L, sets)
        prefs = pj.linspace_prefs(5) if m == 2 else np.asarray(pj.das_dennis(m, 3))
        t = time.perf_counter()
        pol = al.panacea_finetune(jax.random.key(3), base, pairs, steps=S)
        arms = al.train_genarm(jax.random.key(4), base, pairs, steps=S)
        parm = al.train_parm(jax.random.key(5), base, pairs, steps=m * S, lr=3e-2, rank=8)
        train_s = time.perf_counter() - t
        rows = {
            "base model": dict(mode="base"),
            "Panacea (SVD-LoRA, DPO)": dict(mode="panacea", policy=pol),
            f"GenARM ({m} ARMs)": dict(mode="genarm", arms=arms),
            "PARM (1 PBLoRA ARM)": dict(mode="parm", arms=[parm]),
        }
        for name, kw in rows.items():
            times, front = [], None
            for _ in range(5):
                front = al.evaluate_front(jax.random.key(2), base, prefs, length=L,
                                          token_sets=sets, **kw)
                times.append(front.seconds_per_batch)
            pts = "; ".join("(" + ", ".join(f"{v:.2f}" for v in row) + ")" for row in front.rewards)
            print(f"| {m} | {name} | {front.hv:.3f} | {pts} | {1e3 * np.median(times):.2f} |")
        print(f"| {m} | (training of all three, s) | | | {train_s:.0f} s |")


if __name__ == "__main__":
    main()
