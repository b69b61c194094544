"""LORPMAN vs PaMaL vs COSMOS vs FiLM (vs PHN) on the offline digits datasets (issue #7, METHODS §1.5).

Protocol (paretojax-defined; equal budget for every method): MLP ``d→128→128→out`` (ReLU) as
the backbone of every method; Adam 1e-3, batch 256, ``--steps`` window steps, each with ``W = 4``
preferences ``α ~ Dir(1)`` and the same data batch, loss ``Σ_w Σ_i α_i L_i`` (no ``R_p``: PaMaL's
MultiMNIST config has λ = 0); LORPMAN: rank ``--rank`` (default 4), ``s = 1``, ``λ_o = 0.1``
(3 sampled tasks for m > 3), ``W⁰`` frozen at 0.8 of the steps. Same seeds, same batch order and
same preferences for every method.

* ``many_task_digits`` (m ∈ {2, 5, 10}): one 8×8 digit, m binary tasks, BCE; ``out = m`` logits.
* ``multidigits``: 12×12 two-digit overlay, 2 ten-way tasks, CE; ``out = 20`` logits.

Evaluation: test accuracy per task at the evaluation preferences — the m one-hot preferences plus
the centre for m > 3 (PaMaL/LORPMAN convention), 11 points ``linspace`` for m = 2. HV in
*accuracy* space with the origin as reference: ``pj.hypervolume`` is a minimisation HV, so it is
called on ``−acc`` with ``ref = 0`` (the box ``[−acc, 0)`` has volume ``Π_i acc_i``). ``geo`` is
``HV^{1/m}`` (comparable across m). Parameter counts are trainable ``nnx.Param`` sizes (PaMaL:
all m members; PHN: the hypernetwork).

Anchors (LORPMAN, Chen & Kwok ICML 2024, secondary summaries): LORPMAN's HV degrades less with m
than PaMaL's (CIFAR-100 as 20 tasks: 0.887e-2 vs 0.0583e-2); on MultiMNIST LORPMAN 0.918 vs
COSMOS 0.888, PHN 0.900 (other data: absolute values are not comparable). Our checks: LORPMAN's
drop in ``geo`` from m = 2 to m = 10 ≤ PaMaL's; on MultiDigits LORPMAN HV ≥ PaMaL HV − 0.01 with
≤ 60 % of PaMaL's parameters.

Run: ``python bench/bench_lorpman.py [--quick] [--steps N] [--seeds 0 1] [--no-phn]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import paretojax as pj
from paretojax import manifold as pm

HIDDEN = 128


def _mlp(features, rngs):
    layers = []
    for k, (a, b) in enumerate(zip(features[:-1], features[1:], strict=True)):
        layers.append(nnx.Linear(a, b, rngs=rngs))
        if k < len(features) - 2:
            layers.append(jax.nn.relu)
    return nnx.Sequential(*layers)


def build(method, features, m, seed, rank):
    rngs = nnx.Rngs(seed)
    if method == "LORPMAN":
        return pm.LowRankParetoMLP(features, rank, m, 1.0, rngs=rngs)
    if method == "PaMaL":
        return pm.PaMaL(lambda r: _mlp(features, r), m, rngs=rngs)
    if method == "COSMOS":
        return pm.CosmosMLP(features, m, rngs=rngs)
    if method == "FiLM":
        return pm.FiLMMLP(features, m, rngs=rngs)
    if method == "PHN":
        return pm.ParetoHypernetwork(_mlp(features, nnx.Rngs(seed + 1000)), m, rngs=rngs)
    raise ValueError(method)


def forward(model, x, p):
    if isinstance(model, pm.ParetoHypernetwork):
        return model.apply(p, x)
    return model(x, p)


def num_params(model):
    return sum(int(v.size) for v in jax.tree.leaves(nnx.state(model, nnx.Param)))


def task_losses(kind, m):
    if kind == "binary":
        def loss_fn(model, batch, p):
            x, y = batch
            return jnp.mean(optax.sigmoid_binary_cross_entropy(forward(model, x, p), y), axis=0)
    else:
        def loss_fn(model, batch, p):
            x, y = batch
            logits = forward(model, x, p).reshape(x.shape[0], m, 10)
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y), axis=0)
    return loss_fn


def accuracies(kind, m, model, x, y, prefs):
    @nnx.jit
    def run(model, x, prefs):
        out = jax.vmap(lambda p: forward(model, x, p))(prefs)  # [P, n, out]
        if kind == "binary":
            return jnp.mean((out > 0) == (y[None] > 0.5), axis=1)
        pred = jnp.argmax(out.reshape(out.shape[0], x.shape[0], m, 10), axis=-1)
        return jnp.mean(pred == y[None], axis=1)

    return np.asarray(run(model, x, prefs))  # [P, m]


def eval_prefs(m):
    if m == 2:
        return pj.linspace_prefs(11)
    return jnp.concatenate([jnp.eye(m), jnp.full((1, m), 1.0 / m)], axis=0)


def run_one(method, data, kind, m, seed, steps, rank, batch=256, window=4, lr=1e-3):
    xtr, ytr, xte, yte = data
    features = (xtr.shape[1], HIDDEN, HIDDEN, m if kind == "binary" else 10 * m)
    model = build(method, features, m, seed, rank)
    loss_fn = task_losses(kind, m)
    reg, lam_reg = None, 0.0
    tx = optax.adam(lr)
    if method == "LORPMAN":
        tx = pm.lorpman_optimizer(model, tx, freeze_step=int(0.8 * steps))
        reg, lam_reg = (lambda mdl, k: pm.orthogonality_regularizer(mdl, key=k)), 0.1
    step = pm.make_window_step(loss_fn, num_objectives=m, window=window, concentration=1.0,
                               regularizer=reg, lam_reg=lam_reg)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, xtr.shape[0], (steps, batch))
    keys = jax.random.split(jax.random.key(seed), steps)
    t0 = time.perf_counter()
    for t in range(steps):
        step(model, opt, (xtr[idx[t]], ytr[idx[t]]), keys[t])
    jax.block_until_ready(nnx.state(model))
    secs = time.perf_counter() - t0
    prefs = eval_prefs(m)
    acc = accuracies(kind, m, model, xte, yte, prefs)
    hv = float(pj.hypervolume(-jnp.asarray(acc, jnp.float64 if jax.config.jax_enable_x64
                                            else jnp.float32), jnp.zeros(m)))
    return hv, num_params(model), secs, acc


def load(name, m):
    if name == "multidigits":
        d = pj.datasets.multidigits(flatten=True)
        return (jnp.asarray(d.x_train), jnp.asarray(d.y_train), jnp.asarray(d.x_test),
                jnp.asarray(d.y_test)), "multiclass"
    d = pj.datasets.many_task_digits(m, flatten=True)
    return (jnp.asarray(d.x_train), jnp.asarray(d.y_train, jnp.float32), jnp.asarray(d.x_test),
            jnp.asarray(d.y_test, jnp.float32)), "binary"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 steps, seed 0, m ∈ {2, 10}")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--no-phn", action="store_true")
    ap.add_argument("--methods", nargs="+", default=["LORPMAN", "PaMaL", "COSMOS", "FiLM", "PHN"])
    args = ap.parse_args()
    steps, seeds, ms = args.steps, args.seeds, (2, 5, 10)
    if args.quick:
        steps, seeds, ms = 300, [0], (2, 10)
    methods = [mt for mt in args.methods if not (args.no_phn and mt == "PHN")]
    configs = [("many_task_digits", m) for m in ms] + [("multidigits", 2)]
    cmd = "python bench/bench_lorpman.py " + " ".join(sys.argv[1:])
    print(f"\n`{cmd}` — {steps} steps × W=4 prefs, batch 256, Adam 1e-3, seeds {seeds}, "
          f"LORPMAN rank {args.rank}; HV in accuracy space, origin reference (mean ± std over "
          "seeds); geo = HV^(1/m); CPU shared with other jobs (timings noisy)\n")
    print("| dataset | m | method | HV | geo | #params | s/run |")
    print("|---|---|---|---|---|---|---|")
    res = {}
    for name, m in configs:
        data, kind = load(name, m)
        for method in methods:
            out = [run_one(method, data, kind, m, s, steps, args.rank) for s in seeds]
            hvs = np.array([o[0] for o in out])
            res[(name, m, method)] = (hvs.mean(), out[0][1])
            print(f"| {name} | {m} | {method} | {hvs.mean():.4f} ± {hvs.std():.4f} | "
                  f"{hvs.mean() ** (1 / m):.4f} | {out[0][1]:,} | "
                  f"{np.mean([o[2] for o in out]):.1f} |", flush=True)

    print("\nAnchors:")
    lo, hi = min(ms), max(ms)
    if "LORPMAN" in methods and "PaMaL" in methods:
        def drop(mt):
            return (res[("many_task_digits", lo, mt)][0] ** (1 / lo)
                    - res[("many_task_digits", hi, mt)][0] ** (1 / hi))
        d_l, d_p = drop("LORPMAN"), drop("PaMaL")
        print(f"* geo drop m={lo}→{hi}: LORPMAN {d_l:.4f} vs PaMaL {d_p:.4f} "
              f"(anchor: LORPMAN ≤ PaMaL) → {'OK' if d_l <= d_p else 'NOT MET'}")
        hv_l, p_l = res[("multidigits", 2, "LORPMAN")]
        hv_p, p_p = res[("multidigits", 2, "PaMaL")]
        ok = hv_l >= hv_p - 0.01 and p_l <= 0.6 * p_p
        print(f"* MultiDigits: LORPMAN HV {hv_l:.4f} with {p_l:,} params ({100 * p_l / p_p:.0f} % "
              f"of PaMaL's {p_p:,}) vs PaMaL {hv_p:.4f} (anchor: ≥ PaMaL − 0.01 at ≤ 60 %) → "
              f"{'OK' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
