r"""Layer-wise one-shot pruning: ALPS (single objective) and MOSP (multi-objective, dual ADMM).

A linear layer ``y = x @ W`` (``W [d_in, d_out]``) with calibration inputs ``X [n, d_in]`` is
pruned to ``k`` non-zeros by :math:`\min_{\|\hat W\|_0\le k}\|X\hat W - XW\|_F^2`, i.e. with
:math:`H = X^\top X`, :math:`\min \operatorname{tr}((\hat W-W)^\top H(\hat W-W))`.

* ALPS — Meng, Behdin, Wang, Mazumder, "ALPS: improved optimization for highly sparse one-shot
  pruning for large language models", NeurIPS 2024 (defaults from ``mazumder-lab/ALPS``
  ``alps.py``): damping ``0.01·mean diag H``, columns normalised by ``√diag H``, ADMM
  :math:`W=(H+\rho I)^{-1}(HW_0-V+\rho D)`, :math:`D=P_k(W+V/\rho)`, :math:`V\mathrel{+}=
  \rho(W-D)` from ``ρ₀ = 0.1`` and ``D = P_k(W_0)``, 300 iterations, every 3 iterations
  ``ρ ×1.3`` if the support changed by more than 10 % of k, ``×1.2`` if more than 0.5 %, else
  ``×1.1`` (cap 1e6); one eigendecomposition of H makes every ρ change a diagonal rescale;
  then preconditioned CG on the final support.
* MOSP — Chen, Yang, Gou, Shi, Hu, Li, Kwok, "Multi-objective one-shot pruning for large
  language models", NeurIPS 2025 (METHODS.md §8; no public code): stage 1 runs the ADMM above on
  the stacked Gram :math:`\sum_iH_i` and extracts a core support :math:`S_c` (the
  :math:`\alpha_c k` largest entries of the ADMM solution, α_c = 0.5); stage 2 adapts per task,
  :math:`\min\|X_i(W_0-W_i)\|^2+\gamma\|W_i-W_s\|^2` s.t. :math:`\|W_i\|_0\le k`,
  :math:`S_c\subseteq supp(W_i)` (10 ADMM iterations at fixed ρ, one Cholesky); stage 3 runs
  PCG on each support. A preference λ maps to :math:`\lambda'\propto\lambda^{1/p}` (p = 0.5)
  and :math:`W_\lambda=P_{k,S_c}(W_s+\sum_i\lambda'_i(W_i-W_s))`.

Everything is ``jit``/``vmap``-able with static ``k`` and fixed iteration counts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from paretojax.core.simplex import check_pref, is_tracer

Array = jax.Array

__all__ = [
    "MOSPResult",
    "alps",
    "keep_count",
    "layer_objective",
    "magnitude_prune",
    "mosp",
    "mosp_weights",
    "topk_mask",
]


def keep_count(shape: tuple[int, ...], sparsity: float) -> int:
    """Number of kept weights ``k = round((1 − sparsity)·size)`` (at least 1).

    Example:
      >>> from paretojax import pruning
      >>> pruning.keep_count((10, 10), 0.7)
      30
    """
    if is_tracer(sparsity) or not 0.0 < float(sparsity) < 1.0:
        raise ValueError(f"sparsity must be a number in (0, 1), got {sparsity}.")
    return max(int(round((1.0 - float(sparsity)) * int(np.prod(shape)))), 1)


def topk_mask(scores: Array, k: int, force: Array | None = None) -> Array:
    r"""Boolean mask of the ``k`` largest ``|scores|`` (exactly k entries), :math:`P_k`.

    With ``force`` (a boolean mask of at most k entries) those entries are kept first: the
    projection :math:`P_{k,S_c}` that keeps the core support.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax import pruning
      >>> pruning.topk_mask(jnp.array([[3., -1.], [0.5, 2.]]), 2).tolist()
      [[True, False], [False, True]]
    """
    flat = jnp.abs(scores).reshape(-1)
    if force is not None:
        flat = jnp.where(force.reshape(-1), jnp.inf, flat)
    _, idx = jax.lax.top_k(flat, k)
    return jnp.zeros(flat.shape, bool).at[idx].set(True).reshape(scores.shape)


def magnitude_prune(w: Array, sparsity: float) -> Array:
    """Magnitude pruning baseline: keep the k largest ``|w|`` of the layer.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax import pruning
      >>> pruning.magnitude_prune(jnp.array([[3., -1.], [0.5, 2.]]), 0.5).tolist()
      [[3.0, 0.0], [0.0, 2.0]]
    """
    k = keep_count(w.shape, sparsity)
    return jnp.where(topk_mask(w, k), w, 0.0)


def layer_objective(w_hat: Array, w: Array, h: Array) -> Array:
    r"""Reconstruction error :math:`\operatorname{tr}((\hat W-W)^\top H(\hat W-W))=\|X\hat W-XW\|^2`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import pruning
      >>> x = jax.random.normal(jax.random.key(0), (16, 4))
      >>> w, wh = jnp.ones((4, 3)), jnp.zeros((4, 3))
      >>> bool(jnp.isclose(pruning.layer_objective(wh, w, x.T @ x), jnp.sum((x @ wh - x @ w) ** 2)))
      True
    """
    d = w - w_hat
    return jnp.sum(d * (h @ d))


def _check(w: Array, h: Array) -> None:
    if w.ndim != 2:
        raise ValueError(f"w must be [d_in, d_out], got shape {w.shape}.")
    if h.shape[-2:] != (w.shape[0], w.shape[0]):
        raise ValueError(f"H must be [..., {w.shape[0]}, {w.shape[0]}], got {h.shape}.")
    if not is_tracer(h) and not (np.all(np.isfinite(np.asarray(h)))
                                 and np.all(np.isfinite(np.asarray(w)))):
        raise ValueError("w and H must be finite.")


def _normalise(h: Array, damping: float) -> tuple[Array, Array]:
    """Damped H and the column scale s = √diag(H_damped)."""
    d = h.shape[-1]
    hd = h + damping * jnp.mean(jnp.diagonal(h)) * jnp.eye(d)
    return hd, jnp.sqrt(jnp.diagonal(hd))


def _pcg(h: Array, b: Array, x0: Array, mask: Array, iters: int) -> Array:
    """Jacobi-preconditioned CG for ``H x = b`` restricted to ``mask`` (columns independent)."""
    pinv = 1.0 / jnp.diagonal(h)[:, None]
    x = x0 * mask
    r = (b - h @ x) * mask
    z = r * pinv
    p = z
    rz = jnp.sum(r * z, axis=0)

    def body(_, c):
        x, r, p, rz = c
        hp = (h @ p) * mask
        alpha = rz / jnp.maximum(jnp.sum(p * hp, axis=0), 1e-30)
        x = x + alpha[None, :] * p
        r = r - alpha[None, :] * hp
        z = r * pinv
        rz_new = jnp.sum(r * z, axis=0)
        p = z + (rz_new / jnp.maximum(rz, 1e-30))[None, :] * p
        return x, r, p, rz_new

    x, *_ = jax.lax.fori_loop(0, iters, body, (x, r, p, rz))
    return x * mask


def _admm_support(hn: Array, wn: Array, k: int, rho0: float, max_iter: int,
                  force: Array | None = None) -> tuple[Array, Array, Array]:
    """ALPS ADMM in the normalised space: returns (D, W, final ρ)."""
    evals, q = jnp.linalg.eigh(hn)
    hw = hn @ wn

    def solve(rhs, rho):  # (H + ρI)⁻¹ rhs via the one eigendecomposition
        return q @ ((q.T @ rhs) / (evals + rho)[:, None])

    def proj(x):
        return jnp.where(topk_mask(x, k, force), x, 0.0)

    d0 = proj(wn)

    def body(t, c):
        w, d, v, rho, supp_prev = c
        w = solve(hw - v + rho * d, rho)
        d = proj(w + v / rho)
        v = v + rho * (w - d)
        supp = d != 0
        change = jnp.sum(supp != supp_prev)
        factor = jnp.where(change > 0.1 * k, 1.3, jnp.where(change > 0.005 * k, 1.2, 1.1))
        update = (t % 3) == 2
        rho = jnp.where(update, jnp.minimum(rho * factor, 1e6), rho)
        supp_prev = jnp.where(update, supp, supp_prev)
        return w, d, v, rho, supp_prev

    init = (wn, d0, jnp.zeros_like(wn), jnp.asarray(rho0, wn.dtype), d0 != 0)
    w, d, _, rho, _ = jax.lax.fori_loop(0, max_iter, body, init)
    return d, w, rho


def alps(w: Array, h: Array, sparsity: float, *, rho0: float = 0.1, max_iter: int = 300,
         damping: float = 0.01, pcg_iters: int = 30) -> Array:
    r"""ALPS one-shot pruning of one layer to ``k = (1 − sparsity)·size`` non-zeros.

    See the module docstring for the iteration and its defaults (official ``alps.py``).

    Args:
      w: ``[d_in, d_out]`` dense weights (``y = x @ w``).
      h: ``[d_in, d_in]`` Gram ``XᵀX`` of the calibration inputs.
      sparsity: fraction of zeros in (0, 1).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import pruning
      >>> x = jax.random.normal(jax.random.key(0), (64, 8)); w = jax.random.normal(jax.random.key(1), (8, 4))
      >>> wp = pruning.alps(w, x.T @ x, 0.5)
      >>> int(jnp.sum(wp != 0)), bool(pruning.layer_objective(wp, w, x.T @ x)
      ...                              <= pruning.layer_objective(pruning.magnitude_prune(w, 0.5), w, x.T @ x))
      (16, True)
    """
    _check(w, h)
    k = keep_count(w.shape, sparsity)
    return _alps(w, h, k, rho0, max_iter, damping, pcg_iters)


@jax.jit(static_argnums=(2, 4, 6))
def _alps(w, h, k, rho0, max_iter, damping, pcg_iters):
    hd, s = _normalise(h, damping)
    hn = hd / (s[:, None] * s[None, :])
    wn = w * s[:, None]
    d, _, _ = _admm_support(hn, wn, k, rho0, max_iter)
    mask = d != 0
    out = _pcg(hn, hn @ wn, d, mask, pcg_iters)
    return out / s[:, None]


class MOSPResult(NamedTuple):
    """Output of :func:`mosp` for one layer (original, un-normalised scale).

    Attributes:
      shared: ``[d_in, d_out]`` stage-1 (+PCG) solution W_s on the stacked calibration data.
      tasks: ``[T, d_in, d_out]`` per-task adjusted weights W_i (k non-zeros, ⊇ S_c).
      core: ``[d_in, d_out]`` boolean core support S_c (α_c·k entries).
      k: kept weights per matrix.
    """

    shared: Array
    tasks: Array
    core: Array
    k: int


def mosp(w: Array, hs: Array, sparsity: float, *, alpha_c: float = 0.5, gamma: float = 0.1,
         rho0: float = 0.1, max_iter: int = 300, stage2_iters: int = 10, stage2_rho: float = 1.0,
         damping: float = 0.01, pcg_iters: int = 30) -> MOSPResult:
    r"""MOSP stages 1–3 for one layer with per-task Grams ``hs [T, d_in, d_in]``.

    ``gamma`` (the proximity weight of stage 2) and ``stage2_rho`` are in the column-normalised
    space, where diag H ≈ 1 (defaults 0.1 and 1.0 are ours: the paper gives no values).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import pruning
      >>> xs = jax.random.normal(jax.random.key(0), (2, 32, 6))
      >>> w = jax.random.normal(jax.random.key(1), (6, 4))
      >>> r = pruning.mosp(w, jnp.einsum("tni,tnj->tij", xs, xs), 0.5, max_iter=30)
      >>> r.tasks.shape, int(r.core.sum()), [int(n) for n in (r.tasks != 0).sum((1, 2))]
      ((2, 6, 4), 6, [12, 12])
    """
    _check(w, hs)
    if hs.ndim != 3 or hs.shape[0] < 2:
        raise ValueError(f"hs must be [T ≥ 2, d_in, d_in], got shape {hs.shape}.")
    if not 0.0 < alpha_c <= 1.0:
        raise ValueError(f"alpha_c must lie in (0, 1], got {alpha_c}.")
    if gamma < 0:
        raise ValueError(f"gamma must be ≥ 0, got {gamma}.")
    k = keep_count(w.shape, sparsity)
    kc = max(int(round(alpha_c * k)), 1)
    shared, tasks, core = _mosp(w, hs, k, kc, gamma, rho0, max_iter, stage2_iters, stage2_rho,
                                damping, pcg_iters)
    return MOSPResult(shared, tasks, core, k)


@jax.jit(static_argnums=(2, 3, 6, 7, 10))
def _mosp(w, hs, k, kc, gamma, rho0, max_iter, stage2_iters, stage2_rho, damping, pcg_iters):
    d_in = w.shape[0]
    eye = jnp.eye(d_in)
    hsum = jnp.sum(hs, axis=0)
    hd, s = _normalise(hsum, damping)
    scale = s[:, None] * s[None, :]
    hn = hd / scale
    wn = w * s[:, None]
    # Stage 1: core support from the stacked problem.
    d, _, _ = _admm_support(hn, wn, k, rho0, max_iter)
    core = topk_mask(d, kc)
    ws = _pcg(hn, hn @ wn, d, d != 0, pcg_iters)
    # Per-task Grams in the same normalised space (damped like the stacked one).
    t = hs.shape[0]
    hts = jax.vmap(lambda h: _normalise(h, damping)[0])(hs) / scale[None]
    hts = hts / t  # same scale as the average of the stacked problem

    def stage2(ht):
        a = ht + gamma * eye
        lhs = jnp.linalg.cholesky(a + stage2_rho * eye)
        b = ht @ wn + gamma * ws

        def solve(rhs):
            return jax.scipy.linalg.cho_solve((lhs, True), rhs)

        def proj(x):
            return jnp.where(topk_mask(x, k, core), x, 0.0)

        def body(_, c):
            wi, di, v = c
            wi = solve(b - v + stage2_rho * di)
            di = proj(wi + v / stage2_rho)
            v = v + stage2_rho * (wi - di)
            return wi, di, v

        _, di, _ = jax.lax.fori_loop(0, stage2_iters, body, (ws, ws, jnp.zeros_like(ws)))
        # Stage 3: PCG on the task's support.
        return _pcg(a, b, di, di != 0, pcg_iters)

    wts = jax.vmap(stage2)(hts)
    return ws / s[:, None], wts / s[None, :, None], core


def mosp_weights(result: MOSPResult, pref: Any, p: float = 0.5) -> Array:
    r"""Pruned weights for preference λ: :math:`P_{k,S_c}(W_s+\sum_i\lambda'_i(W_i-W_s))`.

    :math:`\lambda'_i=\lambda_i^{1/p}/\sum_j\lambda_j^{1/p}` (temperature p = 0.5). The result has
    exactly k kept entries and contains the core support. Batch over preferences with
    ``jax.vmap(lambda l: mosp_weights(result, l))`` (pass a traced λ; shapes still checked).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from paretojax import pruning
      >>> xs = jax.random.normal(jax.random.key(0), (2, 32, 6))
      >>> w = jax.random.normal(jax.random.key(1), (6, 4))
      >>> r = pruning.mosp(w, jnp.einsum("tni,tnj->tij", xs, xs), 0.5, max_iter=30)
      >>> int((pruning.mosp_weights(r, jnp.array([0.3, 0.7])) != 0).sum())
      12
    """
    t = result.tasks.shape[0]
    lam = check_pref(pref, t, name="pref")
    if not p > 0:
        raise ValueError(f"temperature p must be > 0, got {p}.")
    lp = jnp.power(jnp.maximum(lam, 0.0), 1.0 / p)
    lp = lp / jnp.sum(lp)
    mix = result.shared + jnp.tensordot(lp, result.tasks - result.shared[None], axes=1)
    return jnp.where(topk_mask(mix, result.k, result.core), mix, 0.0)
