r"""``paretojax run PROBLEM --method NAME``: a finite Pareto set, or a learned Pareto set (PSL),
on a built-in synthetic problem.

K solutions, one per preference, are optimised together by :func:`paretojax.finite_set_step`
(the same step :func:`paretojax.run_finite_set` scans; here the scan is cut into ~20 compiled
chunks so a progress bar can be drawn). Protocol (LibMOON ``GradBaseSolver``, METHODS.md §1.1):
plain SGD with ``lr = 1e-2``, 500 steps, K = 8, clamp to ``[lb + 1e-5, ub − 1e-5]`` after each
step, start ``x₀ ~ U(−1/√n, 1/√n)``.

Methods (see :func:`finite_set_methods`):

* ``preference``: EPO, PMGDA (one solution per preference, exact-preference methods);
* ``scalarization``: every scalarization taking a preference with a ``<name>_weighting``
  (``ls``, ``tch``, ``mtch``, ``stch``, ``pbi``, ``cosmos``, ``aasf``, ``pnorm``) —
  one scalarised problem per preference, weights ``∂s/∂f``; ``mtch_balanced`` is mTCH with
  the balanced step of :func:`paretojax.mtch_balanced_weights` (LibMOON's unweighted gradient
  convention, ``step_size`` = the run's ``lr``), which lands on the preference rays;
* ``set``: ``hv_grad`` (hypervolume-gradient ascent on the whole set; preferences only seed the
  count K and are not used by the update).

Preferences: for m = 2, ``linspace_prefs(K, eps=0.01)`` (LibMOON); for m ≥ 3 the smallest
Das–Dennis lattice with at least K points (m = 3: K = 8 → H = 3, 10 points), shrunk to the
interior as ``p = ε + (1 − m ε) p_DD`` with ε = 0.01 (the m = 2 rule written for any m), so that
no preference has a zero entry.

Start: the LibMOON start ``U(−1/√n, 1/√n)`` when that cube lies inside the box (Fonseca–Fleming,
ZDT4, …); otherwise uniform in the box (ZDT/DTLZ in [0, 1]ⁿ, RE problems) — the LibMOON start would
be clamped onto the lower face there.

Pareto-set learning (``psl-<loss>``, ``<loss>`` one of :data:`paretojax.PSL_LOSSES`: ``psl-ls``,
``psl-tch``, ``psl-stch``, ``psl-cosmos``, ``psl-epo``, ``psl-hv``, ``psl-hvi``): a
:class:`paretojax.ParetoSetMLP` ``m → 512 → 512 → n`` trained by :func:`paretojax.fit_psl` on the
STCH protocol (Adam 1e-3, 2000 steps, 10 Dir(1) preferences per step, objectives normalised by the
problem's ideal/nadir; METHODS.md §1.3), evaluated by :func:`paretojax.evaluate_psl` on 100
linspace preferences (m = 2) / Das–Dennis H = 44 (m = 3): HV at 1.1 of the normalised front and
ΔHV to the reference front. ``--prefs`` is then the number of preferences per step.

Outputs (in ``out``): ``metrics.json`` (run settings, timings and
:func:`paretojax.metrics.finite_set_indicators` w.r.t. the problem's ``hv_ref``, plus ``hv_true``,
``hv_ratio`` and IGD when the true front is known), ``front.csv`` (K rows: ``f_1..f_m,
p_1..p_m``) and ``front.png`` (:func:`paretojax.plot.plot_front` with the true front).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax._progress import Progress

Array = jax.Array

__all__ = [
    "DEFAULT_PREFS",
    "DEFAULT_STEPS",
    "DEFAULT_LR",
    "PREF_EPS",
    "finite_set_methods",
    "make_prefs",
    "psl_methods",
    "run_problem",
    "run_psl",
]

DEFAULT_PREFS = 8  # LibMOON §1.1
DEFAULT_STEPS = 500  # LibMOON §1.1 (about 2 s on CPU for Fonseca–Fleming with EPO)
DEFAULT_LR = 1e-2  # LibMOON SGD learning rate
PSL_DEFAULT_PREFS = 10  # STCH PSL protocol: preferences per step
PSL_DEFAULT_STEPS = 2000
PSL_DEFAULT_LR = 1e-3  # Adam
PREF_EPS = 0.01  # LibMOON: p₁ ∈ [0.01, 0.99]
_CHUNKS = 20


def finite_set_methods() -> dict[str, str]:
    """Names ``paretojax run`` accepts, mapped to their family (``preference`` /
    ``scalarization`` / ``set``)."""
    import paretojax as pj
    from paretojax import scalarization as sc

    out: dict[str, str] = {}
    for name, info in pj.methods().items():
        if "pref" not in info.requires:
            continue
        if info.family == "preference" and name in ("epo", "pmgda"):
            out[name] = "preference"
        elif info.family == "scalarization" and hasattr(sc, f"{name}_weighting"):
            out[name] = "scalarization"
    out["mtch_balanced"] = "scalarization"
    for name in ("hv_grad", "pmtl", "stch_set", "tch_set", "som"):
        out[name] = "set"
    return dict(sorted(out.items()))


#: One-line descriptions of the ``paretojax run`` names that are not registry methods.
RUN_ONLY_DESCRIPTIONS = {
    "mtch_balanced": "mTCH with the balanced (LP) step: lands on the preference rays.",
    "hv_grad": "Hypervolume-gradient ascent on the whole set (Emmerich & Deutz 2014; LibMOON).",
    "pmtl": "Pareto MTL: K sector-constrained sub-problems (Lin et al., NeurIPS 2019).",
    "stch_set": "Smooth Tchebycheff-set: few solutions for many objectives (Lin et al., ICLR 2025).",
    "tch_set": "Tchebycheff-set scalarization (the μ → 0 limit of stch_set).",
    "som": "Sum-of-minimum: each objective served by its best solution (Ding et al., ICML 2024).",
}


def psl_methods() -> dict[str, str]:
    """``psl-<loss>`` names ``paretojax run`` accepts, mapped to the PSL training loss."""
    from paretojax.manifold import PSL_LOSSES

    return {f"psl-{loss}": loss for loss in PSL_LOSSES}


def _check_method(method: str) -> str:
    import paretojax as pj

    allowed = {**finite_set_methods(), **dict.fromkeys(psl_methods(), "psl")}
    if method in allowed:
        return allowed[method]
    known = pj.methods()
    if method in known:
        raise ValueError(
            f"method {method!r} ({known[method].family}) is not a per-preference or set method; "
            f"`run` accepts: {', '.join(allowed)}"
        )
    raise ValueError(f"unknown method {method!r}; `run` accepts: {', '.join(allowed)}")


def _get_problem(name: str):
    from paretojax import problems

    if name not in problems.names():
        raise ValueError(f"unknown problem {name!r}; run `paretojax list problems`")
    prob = problems.get(name)
    if not prob.bounded:
        raise ValueError(
            f"problem {name!r} has no finite box (m = {prob.n_obj}); `run` needs a bounded "
            "synthetic problem"
        )
    return prob


def make_prefs(m: int, k: int, eps: float = PREF_EPS) -> np.ndarray:
    """Preferences ``[K', m]`` for ``run``: linspace (m = 2, K' = K) or Das–Dennis (m ≥ 3, the
    smallest lattice with ≥ K points), all entries in ``[eps, 1 − (m − 1) eps]``.

    Example:
      >>> from paretojax._run import make_prefs
      >>> make_prefs(2, 3).round(2).tolist()
      [[0.01, 0.99], [0.5, 0.5], [0.99, 0.01]]
      >>> make_prefs(3, 8).shape
      (10, 3)
    """
    import paretojax as pj

    m, k = int(m), int(k)
    if k < 2:
        raise ValueError(f"--prefs must be at least 2 (a set of solutions), got {k}")
    if m < 2:
        raise ValueError(f"need m ≥ 2 objectives, got {m}")
    if m == 2:
        return np.asarray(pj.linspace_prefs(k, eps), np.float64)
    h = 1
    while math.comb(h + m - 1, m - 1) < k:
        h += 1
    dd = np.asarray(pj.das_dennis(m, h), np.float64)
    return eps + (1.0 - m * eps) * dd


def _initial_x(prob, k: int, key: Array) -> Array:
    n = prob.n_var
    s = 1.0 / math.sqrt(n)
    lo = np.asarray(prob.lower, np.float64)
    hi = np.asarray(prob.upper, np.float64)
    if np.all(lo <= -s) and np.all(hi >= s):
        return jax.random.uniform(key, (k, n), jnp.float32, -s, s)
    u = jax.random.uniform(key, (k, n), jnp.float32)
    return jnp.asarray(lo, jnp.float32)[None, :] + u * jnp.asarray(hi - lo, jnp.float32)[None, :]


def _optimise(prob, rule, prefs: Array, x0: Array, steps: int, lr: float, bar: Progress):
    """The finite-set scan, cut into fixed-length chunks (one compile) with a step mask."""
    import paretojax as pj

    k = prefs.shape[0]
    init, step = pj.finite_set_step(prob.fn, rule, optax.sgd(lr), num_solutions=k,
                                    lower=prob.lower, upper=prob.upper)
    chunk = max(1, math.ceil(steps / _CHUNKS))

    @jax.jit
    def run_chunk(x, st, start):
        def body(carry, i):
            x, st = carry
            nx, nst, (f, _) = step(x, st, prefs)
            valid = start + i < steps
            keep = lambda new, old: jnp.where(valid, new, old)  # noqa: E731
            return (jax.tree_util.tree_map(keep, nx, x),
                    jax.tree_util.tree_map(keep, nst, st)), f

        (x, st), fh = jax.lax.scan(body, (x, st), jnp.arange(chunk))
        return x, st, fh[-1]

    x, st = x0, init(x0)
    done = 0
    while done < steps:
        x, st, f = run_chunk(x, st, jnp.asarray(done, jnp.int32))
        n = min(chunk, steps - done)
        done += n
        mean_f = np.asarray(f, np.float64).mean(axis=0)
        bar.update(n, **{f"f{i + 1}": float(v) for i, v in enumerate(mean_f[:3])})
    return x, jax.vmap(prob.fn)(x)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


def run_problem(
    problem: str,
    method: str,
    *,
    prefs: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    lr: float | None = None,
    out: str | os.PathLike[str] | None = "paretojax_run",
    progress: bool = True,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Run one finite-set or PSL method on one problem; print the table; write the three files.

    Returns the dictionary written to ``metrics.json``. ``out=None`` writes nothing. ``None``
    settings take the method's protocol defaults (finite set: K = 8, 500 SGD steps, lr 1e-2;
    ``psl-*``: 10 preferences per step, 2000 Adam steps, lr 1e-3).

    Example:
      >>> from paretojax._run import run_problem
      >>> res = run_problem("fonseca_fleming", "epo", prefs=4, steps=20, out=None,
      ...                   progress=False, stream=open("/dev/null", "w"))
      >>> res["K"], res["metrics"]["hv"] > 0
      (4, True)
    """
    stream = sys.stdout if stream is None else stream
    family = _check_method(method)
    if family == "psl":
        return run_psl(problem, method, prefs=prefs, steps=steps, seed=seed, lr=lr, out=out,
                       progress=progress, stream=stream)
    prefs = DEFAULT_PREFS if prefs is None else prefs
    steps = DEFAULT_STEPS if steps is None else steps
    lr = DEFAULT_LR if lr is None else lr
    if int(steps) < 1:
        raise ValueError(f"--steps must be a positive integer, got {steps}")
    if not float(lr) > 0:
        raise ValueError(f"--lr must be positive, got {lr}")
    prob = _get_problem(problem)
    m = prob.n_obj
    p = make_prefs(m, int(prefs))
    k = p.shape[0]
    import paretojax as pj

    if method == "mtch_balanced":
        rule = pj.finite_set_weighting("mtch", gradient="unweighted", step_size=float(lr))
    else:
        rule = pj.finite_set_weighting(method)
    x0 = _initial_x(prob, k, jax.random.key(int(seed)))
    prefs_j = jnp.asarray(p, jnp.float32)

    t0 = time.perf_counter()
    with Progress(steps, f"{method} on {problem}", enabled=progress) as bar:
        x, f = _optimise(prob, rule, prefs_j, x0, int(steps), float(lr), bar)
        f = np.asarray(jax.block_until_ready(f), np.float64)
    elapsed = time.perf_counter() - t0

    ref = np.asarray(prob.hv_ref, np.float64)
    ind = pj.metrics.finite_set_indicators(jnp.asarray(f), prefs_j, jnp.asarray(ref))
    metrics = {key: float(v) for key, v in ind.items()}
    metrics["hv_true"] = None if prob.hv_true is None else float(prob.hv_true)
    metrics["hv_ratio"] = (
        None if not prob.hv_true else float(metrics["hv"]) / float(prob.hv_true)
    )
    metrics["igd"] = None
    if prob.has_pareto_front:
        pf = prob.pareto_front(1000 if m == 2 else 2000)
        metrics["igd"] = float(pj.metrics.igd(jnp.asarray(f), jnp.asarray(pf)))
    metrics["all_finite"] = bool(np.all(np.isfinite(f)))

    result: dict[str, Any] = {
        "problem": problem,
        "method": method,
        "family": family,
        "n_var": prob.n_var,
        "n_obj": m,
        "K": k,
        "prefs_rule": "linspace(eps=0.01)" if m == 2 else "das_dennis(eps=0.01)",
        "steps": int(steps),
        "seed": int(seed),
        "lr": float(lr),
        "optimizer": "sgd",
        "hv_ref": ref.tolist(),
        "seconds": elapsed,
        "steps_per_s": int(steps) / elapsed if elapsed > 0 else None,
        "metrics": metrics,
    }

    rows = [("problem", f"{problem} (n={prob.n_var}, m={m})"), ("method", f"{method} ({family})"),
            ("K", k), ("steps", int(steps)), ("seconds", elapsed)]
    rows += [("HV (ref " + ", ".join(f"{r:.4g}" for r in ref) + ")", metrics["hv"])]
    if metrics["hv_ratio"] is not None:
        rows.append(("HV / HV(true front)", metrics["hv_ratio"]))
    if metrics["igd"] is not None:
        rows.append(("IGD", metrics["igd"]))
    for key, label in (("cross_angle", "cross angle (deg)"), ("spacing", "spacing (x100)"),
                       ("sparsity", "sparsity (x100)"), ("lmin", "Lmin"), ("span", "span"),
                       ("pbi", "PBI"), ("inner_product", "inner product")):
        rows.append((label, metrics[key]))
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  value", file=stream)
    print("-" * (width + 12), file=stream)
    for label, v in rows:
        print(f"{label:<{width}}  {_fmt(v)}", file=stream)

    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "metrics.json"), "w") as fh:
            json.dump(result, fh, indent=2)
        with open(os.path.join(out, "front.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([f"f{i + 1}" for i in range(m)] + [f"p{i + 1}" for i in range(m)])
            for fi, pi in zip(f, p, strict=True):
                w.writerow([repr(float(v)) for v in fi] + [repr(float(v)) for v in pi])
        true_front = None
        if prob.has_pareto_front:
            true_front = prob.pareto_front(200 if m == 2 else 300)
        semantics = "inverse" if method in ("tch", "stch") else "proportional"
        fig = pj.plot.plot_front(
            f,
            true_front=true_front,
            prefs=p if (family != "set" and m <= 3 and method not in ("ls",)) else None,
            ref=ref if m <= 3 else None,
            title=f"{method} on {problem} (K={k}, {int(steps)} steps)",
            pref_semantics=semantics,
        )
        fig.savefig(os.path.join(out, "front.png"), dpi=100)
        print(f"wrote {os.path.join(out, 'metrics.json')}, front.csv, front.png", file=stream)
    return result


def _print_rows(rows: list[tuple[str, Any]], stream: TextIO) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  value", file=stream)
    print("-" * (width + 12), file=stream)
    for label, v in rows:
        print(f"{label:<{width}}  {_fmt(v)}", file=stream)


def run_psl(
    problem: str,
    method: str,
    *,
    prefs: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    lr: float | None = None,
    out: str | os.PathLike[str] | None = "paretojax_run",
    progress: bool = True,
    stream: TextIO | None = None,
    hidden: tuple[int, ...] = (512, 512),
) -> dict[str, Any]:
    """Train a PSL-MLP with ``psl-<loss>`` on one problem (module docstring); print and write.

    Example:
      >>> from paretojax._run import run_psl
      >>> res = run_psl("stch_f1", "psl-stch", steps=20, out=None, progress=False,
      ...               stream=open("/dev/null", "w"), hidden=(16,))
      >>> res["family"], res["metrics"]["delta_hv"] > 0
      ('psl', True)
    """
    from flax import nnx

    import paretojax as pj
    from paretojax.manifold import ParetoSetMLP, evaluate_psl, fit_psl, plot_psl

    stream = sys.stdout if stream is None else stream
    loss = psl_methods().get(method)
    if loss is None:
        _check_method(method)
        raise ValueError(f"{method!r} is not a PSL method; use one of {', '.join(psl_methods())}")
    prefs = PSL_DEFAULT_PREFS if prefs is None else int(prefs)
    steps = PSL_DEFAULT_STEPS if steps is None else int(steps)
    lr = PSL_DEFAULT_LR if lr is None else float(lr)
    if steps < 1:
        raise ValueError(f"--steps must be a positive integer, got {steps}")
    if prefs < 1:
        raise ValueError(f"--prefs must be a positive integer, got {prefs}")
    if not lr > 0:
        raise ValueError(f"--lr must be positive, got {lr}")
    prob = _get_problem(problem)
    if prob.ideal is None or prob.nadir is None:
        raise ValueError(f"problem {problem!r} has no ideal/nadir point; PSL normalises with them")
    m = prob.n_obj
    model = ParetoSetMLP(m, prob.n_var, hidden=hidden, lower=prob.lower, upper=prob.upper,
                         rngs=nnx.Rngs(int(seed)))
    t0 = time.perf_counter()
    res = fit_psl(model, prob, loss, steps=steps, num_prefs=prefs, key=int(seed),
                  optimizer=optax.adam(lr), progress=progress)
    jax.block_until_ready(res.state.params)
    elapsed = time.perf_counter() - t0
    ev = evaluate_psl(model, prob)
    f = ev.front
    igd = None
    if prob.has_pareto_front:
        pf = prob.normalize(prob.pareto_front(1000 if m == 2 else 2000))
        igd = float(pj.metrics.igd(jnp.asarray(ev.front_normalized), jnp.asarray(pf)))
    metrics = {
        "hv": ev.hv,
        "hv_reference_front": None if math.isnan(ev.hv_reference) else ev.hv_reference,
        "delta_hv": None if math.isnan(ev.delta_hv) else ev.delta_hv,
        "igd": igd,
        "final_loss": float(res.history.loss[-1]),
        "all_finite": bool(np.all(np.isfinite(f))),
    }
    result: dict[str, Any] = {
        "problem": problem,
        "method": method,
        "family": "psl",
        "loss": loss,
        "n_var": prob.n_var,
        "n_obj": m,
        "model": f"ParetoSetMLP(hidden={list(hidden)})",
        "prefs_per_step": prefs,
        "eval_prefs": int(ev.prefs.shape[0]),
        "steps": steps,
        "seed": int(seed),
        "lr": lr,
        "optimizer": "adam",
        "normalized": True,
        "hv_ref": ev.ref.tolist(),
        "seconds": elapsed,
        "steps_per_s": steps / elapsed if elapsed > 0 else None,
        "metrics": metrics,
    }
    rows: list[tuple[str, Any]] = [
        ("problem", f"{problem} (n={prob.n_var}, m={m})"), ("method", f"{method} (psl)"),
        ("prefs/step", prefs), ("steps", steps), ("seconds", elapsed),
        ("HV (normalised, ref 1.1)", ev.hv),
    ]
    if metrics["delta_hv"] is not None:
        rows += [("HV reference front", ev.hv_reference), ("delta HV", ev.delta_hv)]
    if igd is not None:
        rows.append(("IGD (normalised)", igd))
    _print_rows(rows, stream)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "metrics.json"), "w") as fh:
            json.dump(result, fh, indent=2)
        with open(os.path.join(out, "front.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([f"f{i + 1}" for i in range(m)] + [f"p{i + 1}" for i in range(m)])
            for fi, pi in zip(f, ev.prefs, strict=True):
                w.writerow([repr(float(v)) for v in fi] + [repr(float(v)) for v in pi])
        fig = plot_psl(ev, prob, title=f"{method} on {problem} ({steps} steps, normalised)")
        fig.savefig(os.path.join(out, "front.png"), dpi=100)
        print(f"wrote {os.path.join(out, 'metrics.json')}, front.csv, front.png", file=stream)
    return result
