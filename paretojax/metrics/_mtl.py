r"""Multi-task summary metrics against single-task baselines (METHODS.md §10.3).

* :func:`delta_m` — Δm% of Maninis, Radosavovic & Kokkinos (CVPR 2019), averaged over all N
  metrics (the Nash-MTL / FAMO convention; lower is better):
  :math:`\Delta_m\% = \frac{100}{N}\sum_k (-1)^{\delta_k} (M_{m,k} - M_{b,k}) / M_{b,k}`,
  :math:`\delta_k = 1` when higher is better for metric k.
* :func:`delta_p` — LibMTL's ``count_improvement`` (``LibMTL/utils.py``): averages per task first,
  opposite sign (higher is better) and a fraction, not a percentage:
  :math:`\Delta_p = \frac1T\sum_t \frac1{M_t}\sum_k (-1)^{w_{t,k}} (B_{t,k} - N_{t,k}) / B_{t,k}`.

The baseline must be a separately trained single-task model per task. Do not copy LibMTL's
trainer, which uses the epoch-0 results of the same run as the baseline for model selection
(``LibMTL/_record.py``).

Inputs: ``results``, ``baseline`` and ``higher_is_better`` share one structure — a mapping
``task -> sequence of metric values``, a sequence of per-task sequences, or a flat 1-D array
(read as one metric per task). ``higher_is_better`` holds booleans or 0/1 flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = ["delta_m", "delta_p"]


def _tasks(x: Any, keys: list | None, name: str) -> list[Array]:
    if isinstance(x, Mapping):
        if keys is None:
            keys = list(x.keys())
        missing = [k for k in keys if k not in x]
        if missing or len(x) != len(keys):
            raise ValueError(f"{name}: tasks {sorted(map(str, x))} do not match {keys}.")
        return [jnp.atleast_1d(jnp.asarray(x[k])) for k in keys]
    if isinstance(x, (Sequence, np.ndarray, jax.Array)) and not isinstance(x, str):
        arr_like = isinstance(x, (np.ndarray, jax.Array))
        if arr_like and jnp.ndim(x) == 1:
            return [jnp.atleast_1d(v) for v in jnp.asarray(x)]
        return [jnp.atleast_1d(jnp.asarray(v)) for v in x]
    raise ValueError(f"{name}: expected a mapping task -> metrics, a sequence or an array.")


def _parse(results, baseline, higher_is_better, fname: str):
    keys = list(baseline.keys()) if isinstance(baseline, Mapping) else None
    base = _tasks(baseline, keys, f"{fname}: baseline")
    new = _tasks(results, keys, f"{fname}: results")
    hib = _tasks(higher_is_better, keys, f"{fname}: higher_is_better")
    if not (len(base) == len(new) == len(hib)) or len(base) == 0:
        raise ValueError(
            f"{fname}: results, baseline and higher_is_better need the same (non-empty) tasks, "
            f"got {len(new)}, {len(base)} and {len(hib)}."
        )
    for t, (b, n, h) in enumerate(zip(base, new, hib, strict=True)):
        if b.shape != n.shape or b.shape != h.shape or b.ndim != 1 or b.shape[0] == 0:
            raise ValueError(
                f"{fname}: task {keys[t] if keys else t} has mismatched metric shapes "
                f"{n.shape} (results), {b.shape} (baseline), {h.shape} (higher_is_better)."
            )
        if not isinstance(b, jax.core.Tracer) and bool(jnp.any(b == 0)):
            raise ValueError(f"{fname}: baseline metrics must be non-zero (relative change).")
    dt = jnp.result_type(*[b.dtype for b in base], *[n.dtype for n in new], jnp.float32)
    base = [b.astype(dt) for b in base]
    new = [n.astype(dt) for n in new]
    sign = [jnp.where(h.astype(bool), -1.0, 1.0).astype(dt) for h in hib]
    return base, new, sign


def delta_m(results, baseline, higher_is_better) -> Array:
    r"""Δm% (Maninis et al. 2019): mean relative change over *all* metrics, in percent,
    lower is better.

    .. math:: \Delta_m\% = \frac{100}{N}\sum_{k=1}^{N} (-1)^{\delta_k}
       \frac{M_{m,k} - M_{b,k}}{M_{b,k}}

    Example (LibMTL docstring data):
      >>> from paretojax.metrics import delta_m
      >>> b = {"A": [96.0, 98.0], "B": [0.2]}; n = {"A": [93.0, 99.0], "B": [0.5]}
      >>> round(float(delta_m(n, b, {"A": [1, 0], "B": [1]})), 3)
      -48.618
    """
    base, new, sign = _parse(results, baseline, higher_is_better, "delta_m")
    rel = jnp.concatenate([s * (n - b) / b for b, n, s in zip(base, new, sign, strict=True)])
    return 100.0 * jnp.mean(rel)


def delta_p(results, baseline, higher_is_better) -> Array:
    r"""LibMTL's Δp (``count_improvement``): per-task mean relative improvement, averaged over
    tasks, as a fraction; higher is better.

    .. math:: \Delta_p = \frac1T\sum_{t=1}^{T}\frac1{M_t}\sum_{k=1}^{M_t}
       (-1)^{w_{t,k}}\frac{B_{t,k} - N_{t,k}}{B_{t,k}}

    Example (LibMTL docstring data):
      >>> from paretojax.metrics import delta_p
      >>> b = {"A": [96.0, 98.0], "B": [0.2]}; n = {"A": [93.0, 99.0], "B": [0.5]}
      >>> round(float(delta_p(n, b, {"A": [1, 0], "B": [1]})), 6)
      0.739636
    """
    base, new, sign = _parse(results, baseline, higher_is_better, "delta_p")
    per_task = jnp.stack(
        [jnp.mean(s * (b - n) / b) for b, n, s in zip(base, new, sign, strict=True)]
    )
    return jnp.mean(per_task)
