r"""PMGDA — preference-based MGDA (f ∝ p), in Gram space.

Zhang, Lin, Zhang, "PMGDA: A preference-based multiple gradient descent algorithm",
arXiv:2402.09492 (2024). Reference behaviour: LibMOON ``pmgda_core.py`` (``solve_pmgda``,
``get_pmgda_DWA_coeff``) with the defaults of ``libmoon/config/pmgda.json``: **h_eps = 0.01,
σ = 0.95** (the class defaults σ = 0.1, h_tol = 1e-3 are never used by LibMOON's runs).

Constraint ``h(f) = ‖f − ⟨f, p̂⟩p̂‖`` (PBI perpendicular distance, ``p̂ = p/‖p‖``), with
``c = ∂h/∂f`` and ``∇_θ h = cᵀJ``.

* If ``h < h_eps``: ``α = MGDA(G)`` (min-norm point, :func:`paretojax.core.qp.min_norm`; for
  m = 2 the LibMOON rule clips γ to [0.001, 0.999]).
* Else, rows ``R = [g_1; …; g_m; ∇h]`` normalised ``r̂_j = r_j/(‖r_j‖ + 10⁻⁴)``,
  ``d = Σ_j μ_j r̂_j``; LP over ``(μ ∈ Δ^{m}, t ∈ R)``: ``min t`` s.t. ``r_iᵀd ≥ −t`` (i ≤ m) and
  ``∇hᵀd ≥ σ‖∇h‖``. Objective weights ``α_i = μ_i/‖g_i‖ + (μ_{m+1}/‖∇h‖) c_i``.

Every inner product is read off the (m+1)×(m+1) Gram of ``R``:
``[[G, Gc], [cᵀG, cᵀGc]]``, so only ``G`` is needed. The LP (m + 3 non-negative variables with
``t = t⁺ − t⁻``) is solved by :func:`paretojax.solve_lp`; if it fails (e.g. ``‖∇h‖`` tiny so that
``σ‖∇h‖`` cannot be reached, or non-convergence) the MGDA weights are used. Zero-norm rows are
guarded (``‖g_i‖`` floored at machine-tiny in the map back), so no NaN for zero gradients.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.lp import solve_lp
from paretojax.core.qp import min_norm
from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["pmgda", "pmgda_weights", "pmgda_weighting", "pbi_constraint"]


def pbi_constraint(losses: Array, pref: Array) -> Array:
    r"""``h(f) = ‖f − ⟨f, p̂⟩ p̂‖`` with ``p̂ = p/‖p‖`` (PBI d₂; 0 iff f ∝ p).

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.preference._pmgda import pbi_constraint
      >>> round(float(pbi_constraint(jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]))), 6)
      0.707107
    """
    p = pref / jnp.linalg.norm(pref)
    d1 = jnp.dot(losses, p)
    v = losses - d1 * p
    n2 = jnp.sum(v * v)
    pos = n2 > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, n2, 1.0)), 0.0)


def _mgda(g: Array) -> Array:
    m = g.shape[-1]
    w = min_norm(g)
    if m == 2:
        gam = jnp.clip(w[0], 1e-3, 1.0 - 1e-3)
        w = jnp.stack([gam, 1.0 - gam]).astype(w.dtype)
    return w


def _correction_lp(
    g: Array, c: Array, sigma: float, max_iter: int
) -> tuple[Array, Array, Array, Array]:
    """The PMGDA correction LP in Gram terms: returns ``(μ [m+1], t, converged, ‖r_j‖ [m+1])``.

    Rows ``R = [J; cᵀJ]`` have Gram ``[[G, Gc], [cᵀG, cᵀGc]]``; ``r_iᵀr̂_j = (RRᵀ)_ij/(‖r_j‖+1e-4)``.
    Variables ``(μ, t⁺, t⁻) ≥ 0``: ``min t⁺ − t⁻`` s.t. ``Σμ = 1``, ``r_iᵀd + t ≥ 0`` (i < m),
    ``∇hᵀd ≥ σ‖∇h‖``.
    """
    m = g.shape[-1]
    dtype = g.dtype
    gc = g @ c
    big = jnp.concatenate(
        [jnp.concatenate([g, gc[:, None]], axis=1),
         jnp.concatenate([gc, (c @ gc)[None]])[None, :]], axis=0
    )
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(big), 0.0))
    ggn = big / (norms + 1e-4)[None, :]
    n = m + 3
    cvec = jnp.zeros((n,), dtype).at[m + 1].set(1.0).at[m + 2].set(-1.0)
    a_eq = jnp.concatenate([jnp.ones((1, m + 1), dtype), jnp.zeros((1, 2), dtype)], axis=1)
    tcol = jnp.concatenate([jnp.ones((m, 1), dtype), jnp.zeros((1, 1), dtype)], axis=0)
    cmat = jnp.concatenate([ggn, tcol, -tcol], axis=1)
    dvec = jnp.zeros((m + 1,), dtype).at[m].set(sigma * norms[m])
    sol = solve_lp(cvec, a_eq, jnp.ones((1,), dtype), cmat, dvec, max_iter=max_iter)
    mu = jnp.clip(sol.x[: m + 1], 0.0, None)
    t = sol.x[m + 1] - sol.x[m + 2]
    return mu, t, sol.converged, norms


def pmgda_weights(
    gram: Array,
    losses: Array,
    state: Any = None,
    *,
    pref: Array,
    h_eps: float = 0.01,
    sigma: float = 0.95,
    max_iter: int = 50,
) -> tuple[Array, Any]:
    r"""PMGDA objective weights ``α`` (not on the simplex) from ``G``, the losses and ``p``.

    Args:
      gram: ``G = JJᵀ`` ``[m, m]``.
      losses: the loss vector ``[m]``.
      state: passed through (stateless).
      pref: preference ``[m]`` (f ∝ p).
      h_eps: constraint tolerance below which plain MGDA is used (LibMOON config 0.01).
      sigma: required fraction of ``‖∇h‖`` along ``∇h`` in the correction step (config 0.95).
      max_iter: interior-point iterations of the LP.

    Returns:
      ``(α [m], state)``; the update is ``Jᵀα``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> w, _ = pj.pmgda_weights(G, jnp.array([0.8, 0.2]), pref=jnp.array([0.5, 0.5]))
      >>> bool(w[0] > w[1])       # far from the ray: push f₁ down
      True
    """
    g = jnp.asarray(gram)
    m = g.shape[-1]
    if g.shape != (m, m):
        raise ValueError(f"pmgda: gram must be square [m, m], got {g.shape}.")
    if losses is None or pref is None:
        raise ValueError("pmgda: losses and pref are required.")
    losses = jnp.asarray(losses)
    pref = jnp.asarray(pref)
    if losses.shape != (m,) or pref.shape != (m,):
        raise ValueError(
            f"pmgda: losses and pref must have shape ({m},), got {losses.shape} and {pref.shape}."
        )
    dtype = jnp.result_type(g.dtype, losses.dtype, jnp.float32)
    g = g.astype(dtype)
    g = 0.5 * (g + g.T)
    f = losses.astype(dtype)
    p = pref.astype(dtype)
    h, c = jax.value_and_grad(pbi_constraint)(f, p)
    w_mgda = _mgda(g)
    mu, _, conv, norms = _correction_lp(g, c, sigma, max_iter)
    tiny = jnp.finfo(dtype).tiny
    safe = jnp.maximum(norms, tiny)
    alpha = mu[:m] / safe[:m] + (mu[m] / safe[m]) * c
    ok = conv & jnp.all(jnp.isfinite(alpha)) & (norms[m] > 0)
    use_lp = (h >= h_eps) & ok
    w = jnp.where(use_lp, alpha, w_mgda.astype(dtype))
    return w, state


def _check_hp(h_eps: float, sigma: float, max_iter: int) -> None:
    if not h_eps >= 0:
        raise ValueError(f"pmgda: h_eps must be ≥ 0, got {h_eps}.")
    if not 0 < sigma < 1:
        raise ValueError(f"pmgda: sigma must lie in (0, 1), got {sigma}.")
    if int(max_iter) < 1:
        raise ValueError(f"pmgda: max_iter must be ≥ 1, got {max_iter}.")


def pmgda_weighting(h_eps: float = 0.01, sigma: float = 0.95, max_iter: int = 50) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`pmgda` (needs losses and pref).

    ``weights(G, losses, state, pref)`` returns the MGDA weights when ``h(f) < h_eps`` (on the
    ray ``f ∝ p``), else the LP weights that decrease ``h`` (module docstring).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> G = jnp.array([[18., -22.], [-22., 38.]])
      >>> wt = pj.pmgda_weighting()
      >>> w, _ = wt.weights(G, jnp.array([1., 2.]), None, jnp.array([0.5, 0.5]))
      >>> [round(float(v), 4) for v in w]  # off the ray, f₂ too large for p
      [0.0029, 0.1602]
    """
    _check_hp(h_eps, sigma, max_iter)

    def fn(gram: Array, losses: Array | None, state: Any, pref: Array | None):
        return pmgda_weights(gram, losses, state, pref=pref, h_eps=h_eps, sigma=sigma,
                             max_iter=max_iter)

    return Weighting(init=None, weights=fn, name="pmgda", needs_losses=True, needs_pref=True)


def pmgda(
    h_eps: float = 0.01,
    sigma: float = 0.95,
    max_iter: int = 50,
    *,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""PMGDA as an optax transform: ``u = Jᵀα`` (PBI constraint, f ∝ p).

    Args:
      h_eps: below this constraint value the step is plain MGDA (0.01, LibMOON config).
      sigma: constraint-decrease fraction of the correction LP (0.95, LibMOON config).
      max_iter: interior-point iterations of the LP.
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> tx = pj.pmgda()
      >>> u, _ = tx.update({"w": jnp.eye(2)}, tx.init(None), task_losses=jnp.array([0.8, 0.2]),
      ...                  pref=jnp.array([0.5, 0.5]))
      >>> bool(u["w"][0] > u["w"][1])
      True
    """
    return as_transform(pmgda_weighting(h_eps, sigma, max_iter), num_tasks)


INFO = MethodInfo(
    name="pmgda",
    family="preference",
    factory=pmgda,
    description="Preference-based MGDA: PBI-constraint correction LP, MGDA on the ray (f ∝ p).",
    reference="Zhang, Lin, Zhang, arXiv 2402.09492; LibMOON pmgda_core.py, config h_eps .01 σ .95",
    requires=("task_losses", "pref"),
)
