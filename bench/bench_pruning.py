"""Multi-objective one-shot pruning (MOSP) vs magnitude and single-objective ALPS.

    python bench/bench_pruning.py [--quick]

(1) A 64–h–h MLP body shared by two digits tasks with shifted inputs (clean digit identity,
inverted digit mod 3); (2) a tiny character-level MLP LM (4-character context) on two synthetic
Markov-chain "languages" (:func:`paretojax.pruning.char_lm`). Each is pruned layer-wise (both hidden matrices, uniform sparsity) with
calibration activations of the dense model; each task's test cross-entropy is reported at
50/70/90 % sparsity for magnitude pruning, ALPS on one task's calibration set, ALPS on both,
and MOSP over a preference grid. No published anchor at this scale (METHODS.md §1.6: MOSP has
timing-only numbers for LLaMA-2-7B).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from paretojax import pruning


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    hidden, iters = (64, 100) if args.quick else (128, 300)
    prefs = np.array([[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]])
    t0 = time.time()
    cmd = "python bench/bench_pruning.py" + (" --quick" if args.quick else "")
    for label, net in (("digits MLP", pruning.multitask_mlp(jax.random.key(0), hidden=hidden)),
                       ("char MLP LM", pruning.char_lm(jax.random.key(0), hidden=hidden))):
        _table(label, net, prefs, iters, cmd, t0)


def _table(label, net, prefs, iters, cmd, t0) -> None:
    rows = []
    for sp in (0.5, 0.7, 0.9):
        out = pruning.prune_and_evaluate(net, sp, prefs, max_iter=iters)
        for n, v in out.items():
            if n == "MOSP":
                rows += [(sp, f"MOSP λ=({p[0]:.2f}, {p[1]:.2f})", vv) for p, vv in zip(prefs, v, strict=True)]
            elif n != "dense" or sp == 0.5:
                rows.append((sp if n != "dense" else 0.0, n, v))
    h = net.body["w1"].shape[0]
    print(f"### `{cmd}` — {label}, tasks {net.tasks}, body {net.body['w0'].shape[0]}–{h}–{h}, "
          f"ADMM {iters} iterations ({time.time() - t0:.0f} s so far, shared noisy CPU)\n")
    print(f"| sparsity | method | CE {net.tasks[0]} | CE {net.tasks[1]} |")
    print("|---|---|---|---|")
    for sp, n, v in rows:
        print(f"| {sp:.0%} | {n} | {v[0]:.3f} | {v[1]:.3f} |")


if __name__ == "__main__":
    main()
