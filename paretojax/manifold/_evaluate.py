r"""Evaluation of a trained Pareto-set model: front on a preference grid, HV and ΔHV, plot.

Protocol of the official STCH PSL code (``Xi-L/STCH`` ``STCH_PSL/run_stch_psl.py``, METHODS.md
§1.3 and §11): preferences ``linspace(0, 1, 100)`` (m = 2) or Das–Dennis ``H = 44`` (m = 3,
1035 points); objectives normalised ``f̂ = (f − ideal)/(nadir − ideal)``; hypervolume at the
reference point ``1.1·1``; ``ΔHV = HV(reference front) − HV(learned front)``, the reference
front being the problem's dense true front (closed form) or its shipped reference front (RE).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from paretojax.core.simplex import das_dennis, linspace_prefs
from paretojax.manifold._mlp import check_num_objectives
from paretojax.metrics import hypervolume

Array = jax.Array

__all__ = ["PSLEvaluation", "eval_prefs", "psl_front", "evaluate_psl", "plot_psl"]

_DD_PARTITIONS = {2: 99, 3: 44, 4: 12}


class PSLEvaluation(NamedTuple):
    """Result of :func:`evaluate_psl` (``front`` raw objectives, ``front_normalized`` the
    objectives HV is computed on)."""

    hv: float
    hv_reference: float
    delta_hv: float
    ref: np.ndarray
    prefs: np.ndarray
    x: np.ndarray
    front: np.ndarray
    front_normalized: np.ndarray


def eval_prefs(num_objectives: int, num_partitions: int | None = None) -> Array:
    r"""The STCH evaluation grid: ``linspace(0, 1, 100)`` pairs (m = 2) or Das–Dennis.

    Default partitions ``H``: 99 (m = 2, 100 points), 44 (m = 3, 1035 points), 12 (m = 4).

    Example:
      >>> import paretojax as pj
      >>> pj.eval_prefs(2).shape, pj.eval_prefs(3).shape
      ((100, 2), (1035, 3))
    """
    m = check_num_objectives(num_objectives)
    h = _DD_PARTITIONS.get(m, 6) if num_partitions is None else int(num_partitions)
    if h < 1:
        raise ValueError(f"eval_prefs: num_partitions must be ≥ 1, got {num_partitions!r}.")
    if m == 2:
        return linspace_prefs(h + 1)
    return das_dennis(m, h)


def psl_front(model: nnx.Module, prefs: Any, objective: Any = None) -> Any:
    r"""``vmap`` a Pareto-set model over a grid: ``x(p_k)`` ``[K, ...]``, and ``f(x(p_k))``
    ``[K, m]`` too when ``objective`` is given (returns ``(x, f)`` then).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from flax import nnx
      >>> model = pj.ParetoSetMLP(2, 3, hidden=(8,), rngs=nnx.Rngs(0))
      >>> pj.psl_front(model, pj.eval_prefs(2)).shape
      (100, 3)
    """
    p = jnp.asarray(prefs)
    m = getattr(model, "num_objectives", None)
    if p.ndim != 2 or (m is not None and p.shape[1] != m):
        raise ValueError(f"psl_front: prefs must be [K, {m}], got shape {p.shape}.")
    pn = np.asarray(p, np.float64)
    if not (np.all(np.isfinite(pn)) and np.all(pn >= -1e-6) and np.allclose(pn.sum(1), 1.0,
                                                                            atol=1e-5)):
        raise ValueError("psl_front: every preference must lie on the simplex.")
    graphdef, state = nnx.split(model)
    return _front(graphdef, objective, state, p)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _front(graphdef: Any, objective: Any, state: Any, p: Array) -> Any:
    # graphdef and objective static: one compile per model structure, reused across models.
    x = jax.vmap(nnx.merge(graphdef, state))(p)
    return (x, jax.vmap(objective)(x)) if objective is not None else x


@functools.lru_cache(maxsize=64)
def _default_reference_hv(problem: Any, ref: tuple[float, ...], normalize: bool) -> float:
    if not problem.has_pareto_front:
        return float("nan")
    r = np.asarray(ref, np.float64)
    identity = (
        problem.ideal is not None and np.all(problem.ideal == 0) and np.all(problem.nadir == 1)
    )
    same_ref = problem.hv_ref is not None and np.array_equal(problem.hv_ref, r)
    if problem.hv_true is not None and same_ref and (identity or not normalize):
        return float(problem.hv_true)  # closed form (F1–F6: 0.87667 / 0.54333 at 1.1)
    front = problem.pareto_front(10000 if problem.n_obj == 2 else 5000)
    return _reference_hv(problem, r, normalize, front)


def _reference_hv(problem: Any, ref: np.ndarray, normalize: bool, front: Any) -> float:
    if front is None:
        return _default_reference_hv(problem, tuple(float(v) for v in ref), bool(normalize))
    front = np.asarray(front, np.float64)
    if normalize:
        front = problem.normalize(front)
    return float(hypervolume(jnp.asarray(front), jnp.asarray(ref)))


def evaluate_psl(
    model: nnx.Module,
    problem: Any,
    *,
    prefs: Any = None,
    ref: Any = 1.1,
    normalize: bool = True,
    reference_front: Any = None,
) -> PSLEvaluation:
    r"""Front, HV and ΔHV of a trained PSL model on a problem (STCH protocol, module docstring).

    Args:
      model: a trained ``model(pref) -> x`` (e.g. :class:`paretojax.ParetoSetMLP`).
      problem: a :class:`paretojax.problems.Problem`.
      prefs: evaluation preferences ``[K, m]`` (default :func:`eval_prefs`).
      ref: HV reference point (scalar or ``[m]``; default 1.1 in normalised space).
      normalize: compute HV on ``(f − ideal)/(nadir − ideal)`` (default, STCH protocol).
      reference_front: ``[k, m]`` raw reference front (default: the problem's, dense).

    Returns:
      :class:`PSLEvaluation`; ``hv_reference``/``delta_hv`` are NaN when no front is known.

    Example:
      >>> import paretojax as pj
      >>> from flax import nnx
      >>> prob = pj.problems.get("stch_f1")
      >>> model = pj.ParetoSetMLP(2, prob.n_var, hidden=(8,), rngs=nnx.Rngs(0))
      >>> ev = pj.evaluate_psl(model, prob)
      >>> ev.front.shape, round(ev.hv_reference, 3), ev.delta_hv > 0
      ((100, 2), 0.877, True)
    """
    m = problem.n_obj
    p = eval_prefs(m) if prefs is None else jnp.asarray(prefs)
    r = np.asarray(ref, np.float64)
    r = np.full((m,), float(r)) if r.ndim == 0 else r
    if r.shape != (m,):
        raise ValueError(f"evaluate_psl: ref must be a scalar or [{m}], got shape {r.shape}.")
    x, f = psl_front(model, p, problem.fn)
    f = np.asarray(f, np.float64)
    fn = problem.normalize(f) if normalize else f
    if not np.all(np.isfinite(fn)):
        raise ValueError("evaluate_psl: the model produced non-finite objectives.")
    hv = float(hypervolume(jnp.asarray(fn), jnp.asarray(r)))
    hv_ref = _reference_hv(problem, r, normalize, reference_front)
    return PSLEvaluation(hv, hv_ref, hv_ref - hv, r, np.asarray(p, np.float64),
                         np.asarray(x, np.float64), f, fn)


def plot_psl(evaluation: PSLEvaluation, problem: Any = None, *, title: str | None = None,
             normalized: bool = True) -> Any:
    r"""Plot a :class:`PSLEvaluation` with :func:`paretojax.plot.plot_front` (learned front,
    true/reference front, HV reference point); returns the Figure.

    Example:
      >>> import paretojax as pj
      >>> from flax import nnx
      >>> prob = pj.problems.get("stch_f1")
      >>> ev = pj.evaluate_psl(pj.ParetoSetMLP(2, 6, hidden=(8,), rngs=nnx.Rngs(0)), prob)
      >>> fig = pj.plot_psl(ev, prob)
    """
    from paretojax.plot import plot_front

    pts = evaluation.front_normalized if normalized else evaluation.front
    true_front = None
    if problem is not None and problem.has_pareto_front:
        true_front = problem.pareto_front(200 if problem.n_obj == 2 else 300)
        if normalized:
            true_front = problem.normalize(true_front)
    ref = evaluation.ref if normalized else None
    fig = plot_front(pts, true_front=true_front, ref=ref, title=title,
                     label="learned front")
    return fig
