r"""Multi-task benchmark: every method of ``pj.methods()`` on MultiDigits-2 and many-task digits.

    python bench/bench_mtl.py [--quick] [--out bench/mtl_results]

Protocol: hard-sharing MLP (``pj.nn.HardSharing``: trunk 144–128–128 / 64–128–128, linear heads;
``--quick``: one hidden layer of 64), Adam (lr 1e-3; 3e-3 with ``--quick``), the same steps,
batch size, initialisation and data order for every method (seed 0). Methods get the
hyperparameters of their registry entry (``MethodInfo.kwargs_for(m)``), preference methods the
uniform preference ``1/m``. Extra protocol per method: DWA / GradNorm / STCH-MTL / FORUM get their
``*_epoch_end`` at every epoch; FAMO its ``famo_update`` after each step (same batch); MoDo /
SDMGrad their ``jac1``/``jac2`` from the next two minibatches; Auto-λ and MOML a weights step on
(first half, second half) of the batch before the model step; FORUM its own ``forum_step``
direction. MoCo and DB-MTL keep their own EMA of the task gradients (a first moment: MoCo's
tracking ``y``, DB-MTL's buffer ``b``); they get Adam with ``b1 = 0`` (same lr, ``b2``, steps)
so that the gradient is not filtered twice — with Adam's ``b1 = 0.9`` on top, the double lag makes
the loss oscillate (MultiDigits quick: mean accuracy 0.54 / 0.67 instead of ≈ 0.95; ``linear``
with an EMA(0.97) of its gradient before Adam fails the same way, 0.34). Metric: per-task test
accuracy and Δm% (METHODS.md §10.3, lower is better) against single-task baselines — the same
network trained on one task's loss alone, once per task (not epoch 0 of the same run). Plus an
architecture comparison (hard sharing, MMoE, CGC, cross-stitch, MTAN) with ``linear`` and
``upgrad``, and MGDA-UB (feature-level MGDA, ``pj.nn.feature_level_step``).
Timings on a shared CPU are noisy.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import paretojax as pj
import paretojax.nn as pn

# Methods whose state is already an EMA of the gradients: Adam's first moment is switched off
# (b1 = 0) so the update is not smoothed twice (see the module docstring).
OWN_MOMENTUM = ("moco", "db_mtl")

EPOCH_END = {
    "dwa": pj.dwa_epoch_end,
    "gradnorm": pj.gradnorm_epoch_end,
    "stch_mtl": pj.stch_mtl_epoch_end,
}


def _datasets(quick: bool):
    md = pj.datasets.multidigits(*((3000, 1000) if quick else (10_000, 2_000)), flatten=True)
    mt = pj.datasets.many_task_digits(5 if quick else 10, flatten=True)
    return {
        "multidigits": (md.x_train, md.y_train, md.x_test, md.y_test, (10, 10)),
        f"many_task_digits(m={5 if quick else 10})": (
            mt.x_train,
            mt.y_train,
            mt.x_test,
            mt.y_test,
            (1,) * (5 if quick else 10),
        ),
    }


def _model(arch: str, d: int, outs, quick: bool):
    hidden = (64,) if quick else (128, 128)
    cls = pn.ARCHITECTURES[arch]
    if arch in ("mmoe", "cgc"):
        return cls(d, hidden, outs, rngs=nnx.Rngs(0))
    return cls(d, hidden, outs, rngs=nnx.Rngs(0))


def _batches(n: int, bs: int, steps: int, seed: int = 0):
    """The same minibatch index sequence for every method (epochs of a fixed permutation)."""
    rng = np.random.default_rng(seed)
    per = n // bs
    idx = []
    while len(idx) < steps + 2:
        perm = rng.permutation(n)
        idx.extend(perm[k * bs : (k + 1) * bs] for k in range(per))
    return np.stack(idx), per


def train_method(name, graphdef, params0, data, steps, bs, lr):
    xtr, ytr, xte, yte, outs = data
    m = len(outs)
    info = pj.methods()[name]
    f = pn.loss_vector_fn(graphdef)
    fb = lambda p, b: f(p, *b)  # noqa: E731  (batch-as-one-argument form)
    idx, per = _batches(len(xtr), bs, steps)
    xtr, ytr = jnp.asarray(xtr), jnp.asarray(ytr)
    pref = jnp.full((m,), 1.0 / m)
    adam = optax.adam(lr, b1=0.0) if name in OWN_MOMENTUM else optax.adam(lr)
    params = params0

    if name == "forum":
        fstate, opt = pj.forum_init(m), adam.init(params)

        @jax.jit
        def fstep(p, fs, o, i):
            b = (xtr[idx_j[i]], ytr[idx_j[i]])
            h = bs // 2
            inner = (b[0][:h], b[1][:h])
            outer = (b[0][h:], b[1][h:])
            d, fs, _ = pj.forum_step(fb, p, fs, inner, outer)
            u, o = adam.update(d, o, p)
            return optax.apply_updates(p, u), fs, o

        idx_j = jnp.asarray(idx)
        end = jax.jit(pj.forum_epoch_end)
        for i in range(steps):
            params, fstate, opt = fstep(params, fstate, opt, i)
            if (i + 1) % per == 0:
                fstate = end(fstate)
        return params

    kw = info.kwargs_for(m)
    if "num_tasks" in inspect.signature(info.factory).parameters:
        kw.setdefault("num_tasks", m)  # registry entries may omit a required num_tasks
    tx = optax.with_extra_args_support(optax.chain(info.factory(**kw), adam))
    vag = pj.value_and_jacobian(f)
    idx_j = jnp.asarray(idx)

    @jax.jit
    def step(p, s, i):
        b = (xtr[idx_j[i]], ytr[idx_j[i]])
        h = bs // 2
        half1, half2 = (b[0][:h], b[1][:h]), (b[0][h:], b[1][h:])
        if name == "auto_lambda":
            s, _ = pj.auto_lambda_step(fb, p, s, half1, half2, inner_lr=lr)
        elif name == "moml":
            s, _ = pj.moml_step(fb, p, s, half1, half2)
        losses, jac = vag(p, *b)
        extra = {"task_losses": losses}
        if "pref" in info.requires:
            extra["pref"] = pref
        if "jac1" in info.requires:
            for k, key in ((1, "jac1"), (2, "jac2")):
                extra[key] = vag(p, xtr[idx_j[i + k]], ytr[idx_j[i + k]])[1]
        u, s = tx.update(jac, s, p, **extra)
        p = optax.apply_updates(p, u)
        if name == "famo":
            s = pj.famo_update(s, f(p, *b))
        return p, s

    state = tx.init(params)
    end = jax.jit(EPOCH_END[name]) if name in EPOCH_END else None
    for i in range(steps):
        params, state = step(params, state, i)
        if end is not None and (i + 1) % per == 0:
            state = end(state)
    return params


def train_single(graphdef, params0, data, task, steps, bs, lr):
    """Single-task baseline: the same network trained on loss ``task`` alone."""
    xtr, ytr, *_ = data
    f = pn.loss_vector_fn(graphdef)
    idx, _ = _batches(len(xtr), bs, steps)
    xtr, ytr, idx_j = jnp.asarray(xtr), jnp.asarray(ytr), jnp.asarray(idx)
    adam = optax.adam(lr)

    @jax.jit
    def step(p, o, i):
        g = jax.grad(lambda q: f(q, xtr[idx_j[i]], ytr[idx_j[i]])[task])(p)
        u, o = adam.update(g, o, p)
        return optax.apply_updates(p, u), o

    p, o = params0, adam.init(params0)
    for i in range(steps):
        p, o = step(p, o, i)
    return p


def train_feature_level(graphdef, params0, data, steps, bs, lr):
    xtr, ytr, *_ = data
    idx, _ = _batches(len(xtr), bs, steps)
    fl = pn.feature_level_step(graphdef, pj.mgda_weighting(), optax.adam(lr))
    p = params0
    o, ws = fl.init(p)
    for i in range(steps):
        p, o, ws, _ = fl.step(p, o, ws, (jnp.asarray(xtr[idx[i]]), jnp.asarray(ytr[idx[i]])))
    return p


def evaluate(graphdef, params, data):
    *_, xte, yte, _ = data
    return np.asarray(pn.accuracies(nnx.merge(graphdef, params)(jnp.asarray(xte)), yte))


def delta_m(acc, base):
    keys = [f"t{i}" for i in range(len(acc))]
    return float(
        pj.metrics.delta_m(
            {k: [float(a)] for k, a in zip(keys, acc, strict=True)},
            {k: [float(b)] for k, b in zip(keys, base, strict=True)},
            {k: [1] for k in keys},
        )
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="bench/mtl_results")
    ap.add_argument("--methods", default=None, help="comma-separated subset of pj.methods()")
    ap.add_argument("--skip-arch", action="store_true", help="skip the architecture comparison")
    args = ap.parse_args(argv)
    steps, bs, lr = (300, 128, 3e-3) if args.quick else (2000, 256, 1e-3)
    methods = list(pj.methods()) if args.methods is None else args.methods.split(",")
    os.makedirs(args.out, exist_ok=True)
    cmd = "python bench/bench_mtl.py" + (" --quick" if args.quick else "")
    lines = [f"## Multi-task benchmark (`{cmd}`; {steps} steps, batch {bs}, Adam {lr}, seed 0)", ""]
    results: dict[str, dict[str, tuple[np.ndarray, float, float]]] = {}
    for dname, data in _datasets(args.quick).items():
        outs = data[4]
        m = len(outs)
        graphdef, params0 = nnx.split(_model("hard_sharing", data[0].shape[1], outs, args.quick))
        t0 = time.perf_counter()
        base = np.array(
            [
                evaluate(graphdef, train_single(graphdef, params0, data, t, steps, bs, lr), data)[t]
                for t in range(m)
            ]
        )
        print(
            f"[{dname}] single-task baselines {np.round(base, 4)} ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )
        res = {}
        for name in [*methods, "mgda_ub"]:
            info = pj.methods().get(name)
            if info is not None and m < info.min_tasks:
                continue
            t0 = time.perf_counter()
            try:
                if name == "mgda_ub":
                    p = train_feature_level(graphdef, params0, data, steps, bs, lr)
                else:
                    p = train_method(name, graphdef, params0, data, steps, bs, lr)
                acc = evaluate(graphdef, p, data)
            except Exception as e:  # report, don't hide: the row says FAILED
                print(f"[{dname}] {name} FAILED: {type(e).__name__}: {e}", file=sys.stderr)
                acc = np.full(m, np.nan)
            dt = time.perf_counter() - t0
            dm = delta_m(acc, base) if np.all(np.isfinite(acc)) else float("nan")
            res[name] = (acc, dm, dt)
            print(
                f"[{dname}] {name:14s} acc {np.round(acc, 3)} Δm% {dm:+.2f} ({dt:.0f} s)",
                file=sys.stderr,
            )
        results[dname] = res
        lines += [f"### {dname} (single-task baselines: {', '.join(f'{b:.3f}' for b in base)})", ""]
        lines += [
            f"Note: {', '.join(OWN_MOMENTUM)} use Adam with b1 = 0 (their own gradient EMA is the "
            "first moment); every other method Adam with the default b1 = 0.9.",
            "",
        ]
        lines += [
            "| method | family | "
            + " | ".join(f"acc t{i}" for i in range(m))
            + " | mean acc | Δm% ↓ | time s |",
            "|---" * (m + 5) + "|",
        ]
        order = sorted(res, key=lambda k: (np.isnan(res[k][1]), res[k][1]))
        for name in order:
            acc, dm, dt = res[name]
            fam = pj.methods()[name].family if name in pj.methods() else "feature-level"
            lines.append(
                f"| {name} | {fam} | "
                + " | ".join(f"{a:.3f}" for a in acc)
                + f" | {np.mean(acc):.3f} | {dm:+.2f} | {dt:.0f} |"
            )
        lines.append("")

    arch_res: dict = {}
    if not args.skip_arch:
        arch_res = _architectures(args, steps, bs, lr, lines)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "results.md"), "w") as fh:
        fh.write(text + "\n")
    _plot(results, arch_res, os.path.join(args.out, "mtl.png"))
    return 0


def _architectures(args, steps, bs, lr, lines):
    """Hard sharing vs MMoE vs CGC vs cross-stitch vs MTAN on MultiDigits (linear, upgrad)."""
    dname, data = next(iter(_datasets(args.quick).items()))
    outs = data[4]
    lines += [
        f"### Architectures on {dname} (Δm% vs the hard-sharing single-task baselines)",
        "",
        "| architecture | method | acc t0 | acc t1 | Δm% ↓ | time s |",
        "|---|---|---|---|---|---|",
    ]
    graphdef0, params00 = nnx.split(_model("hard_sharing", data[0].shape[1], outs, args.quick))
    base = np.array(
        [
            evaluate(graphdef0, train_single(graphdef0, params00, data, t, steps, bs, lr), data)[t]
            for t in range(2)
        ]
    )
    arch_res = {}
    for arch in pn.ARCHITECTURES:
        graphdef, params0 = nnx.split(_model(arch, data[0].shape[1], outs, args.quick))
        for meth in ("linear", "upgrad"):
            t0 = time.perf_counter()
            acc = evaluate(
                graphdef, train_method(meth, graphdef, params0, data, steps, bs, lr), data
            )
            dt = time.perf_counter() - t0
            dm = delta_m(acc, base)
            arch_res[(arch, meth)] = dm
            print(f"[arch] {arch} {meth} acc {np.round(acc, 3)} Δm% {dm:+.2f}", file=sys.stderr)
            lines.append(
                f"| {arch} | {meth} | {acc[0]:.3f} | {acc[1]:.3f} | {dm:+.2f} | {dt:.0f} |"
            )
    return arch_res


def _plot(results, arch_res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results) + 1, figsize=(6 * (len(results) + 1), 8))
    for ax, (dname, res) in zip(axes, results.items(), strict=False):
        names = sorted((k for k in res if np.isfinite(res[k][1])), key=lambda k: res[k][1])
        ax.barh(names, [res[k][1] for k in names], color="tab:blue")
        ax.axvline(0, color="k", lw=0.8)
        ax.invert_yaxis()
        ax.set_title(f"{dname}: Δm% (lower is better)")
        ax.tick_params(axis="y", labelsize=7)
    ax = axes[-1]
    if not arch_res:
        ax.set_visible(False)
    archs = list(dict.fromkeys(a for a, _ in arch_res))
    xs = np.arange(len(archs))
    for k, meth in enumerate(("linear", "upgrad")):
        ax.bar(xs + 0.4 * k, [arch_res[(a, meth)] for a in archs], 0.4, label=meth)
    ax.set_xticks(xs + 0.2, archs, rotation=30)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_title("architectures (MultiDigits): Δm%")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
