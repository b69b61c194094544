r"""SDMGrad: stochastic direction-oriented multi-objective gradient descent.

Xiao, Ban, Ji, "Direction-oriented Multi-objective Learning: Simple and Provable Stochastic
Algorithms", NeurIPS 2023. Three independent mini-batches ``ζ, ξ, ξ'``. The weights solve
``min_{w∈Δ} ½‖J w‖² + λ⟨J w, J p̃⟩`` by a few projected SGD-with-momentum steps (K7) on the
cross-batch matrix ``A = J_ξ J_ξ'ᵀ``:

.. math::

    A \leftarrow \frac{A}{s^2 + 10^{-8}},\ s = \operatorname{mean}_i \sqrt{\max(A_{ii}, 0)};
    \quad v \leftarrow μ v + (A w + λ A \tilde p),\ w \leftarrow \Pi_\Delta(w - η v)
    \ (n_{iter}\ \text{times}),

.. math:: u = \frac{J_ζ^\top w + λ J_ζ^\top \tilde p}{1 + λ}
   = J_ζ^\top \frac{w + λ\tilde p}{1 + λ}.

``w`` is warm-started across calls (``w₀ = 1/m``), the velocity is reset on every call (LibMTL
builds a fresh ``torch.optim.SGD`` per step; first momentum buffer = gradient), ``p̃ = 1/m``,
``η = 5``, ``μ = 0.5``, ``n_iter = 20``, ``λ = 0.3``.

Reference matched: LibMTL ``SDMGrad.py``. Flag ``variant="torchjd"`` (TorchJD ``_sdmgrad.py``):
inner learning rate 10 (its gradient ``A(w + λp̃)`` and returned weights ``(w + λp̃)/(1 + λ)``
are the same expressions). A preference given to ``update(..., pref=p)`` replaces ``p̃``
(TorchJD ``pref_vector``). Do not copy: LibMTL's ``np.alltrue`` (removed in NumPy 2).

Calling pattern as MoDo (:mod:`paretojax.weighting._modo`):
``tx.update(j_zeta, state, params, jac1=j_xi, jac2=j_xi_prime)``; a missing ``jac1``/``jac2``
defaults to ``updates``.

Golden (all three batches ``= J_base``, one call from ``w = 1/m``, ``η = 5``): the iterate bangs
between vertices and ends at ``w = [0, 1]``, update ``[4.8462, 1, 1]`` (a deterministic regression
test of the literal recurrence).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from paretojax.core.simplex import project_simplex
from paretojax.registry import MethodInfo
from paretojax.weighting._modo import _check_num_tasks, cross_batch_transform

Array = jax.Array

__all__ = ["sdmgrad", "sdmgrad_weights", "SDMGradState"]

_VARIANTS = {"libmtl": 5.0, "torchjd": 10.0}


class SDMGradState(NamedTuple):
    """State of :func:`sdmgrad`: the inner iterate ``w`` (on the simplex), warm-started."""

    weights: Array


def _resolve(variant: str, lr: float | None, momentum: float, n_iter: int, lambda_: float) -> float:
    if variant not in _VARIANTS:
        raise ValueError(f"sdmgrad: variant must be one of {tuple(_VARIANTS)}, got {variant!r}.")
    lr = _VARIANTS[variant] if lr is None else lr
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"sdmgrad: lr must be a finite number > 0, got {lr!r}.")
    if not (np.isfinite(momentum) and 0 <= momentum < 1):
        raise ValueError(f"sdmgrad: momentum must lie in [0, 1), got {momentum!r}.")
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"sdmgrad: n_iter must be a positive int, got {n_iter!r}.")
    if not (np.isfinite(lambda_) and lambda_ >= 0):
        raise ValueError(f"sdmgrad: lambda_ must be a finite number ≥ 0, got {lambda_!r}.")
    return float(lr)


def sdmgrad_weights(
    cross: Array,
    losses: Array | None = None,
    state: SDMGradState | None = None,
    *,
    pref: Array | None = None,
    lr: float | None = None,
    momentum: float = 0.5,
    n_iter: int = 20,
    lambda_: float = 0.3,
    variant: str = "libmtl",
) -> tuple[Array, SDMGradState]:
    r"""SDMGrad weights ``(w + λp̃)/(1 + λ)`` after ``n_iter`` projected momentum steps on ``A``.

    Args:
      cross: the cross-batch matrix ``A = J_ξ J_ξ'ᵀ`` (``m × m``).
      state: :class:`SDMGradState` (warm start); ``None`` starts from ``1/m``.
      pref: ``p̃`` (default ``1/m``).
      lr: inner learning rate (default 5, or 10 with ``variant="torchjd"``).
      momentum, n_iter, lambda_: see :func:`sdmgrad`.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._sdmgrad import sdmgrad_weights
      >>> w, st = sdmgrad_weights(jnp.array([[18., -22.], [-22., 38.]]))
      >>> st.weights.tolist(), [round(x, 4) for x in w.tolist()]
      ([0.0, 1.0], [0.1154, 0.8846])
    """
    del losses
    eta = _resolve(variant, lr, momentum, n_iter, lambda_)
    a = jnp.asarray(cross)
    a = a.astype(jnp.promote_types(a.dtype, jnp.float32))
    m = a.shape[0]
    p = jnp.full((m,), 1.0 / m, a.dtype) if pref is None else jnp.asarray(pref, a.dtype)
    if p.shape != (m,):
        raise ValueError(f"sdmgrad: pref must have shape ({m},), got {p.shape}.")
    w0 = jnp.full((m,), 1.0 / m, a.dtype) if state is None else state.weights.astype(a.dtype)
    w = _inner(a, p, w0, eta, float(momentum), int(n_iter), float(lambda_))
    out = (w + lambda_ * p) / (1.0 + lambda_)
    dtype = w0.dtype if state is None else state.weights.dtype
    return out, SDMGradState(w.astype(dtype))


@partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _inner(a: Array, p: Array, w0: Array, eta: float, momentum: float, n_iter: int,
           lambda_: float) -> Array:
    """The literal inner recurrence (jitted once per hyperparameter set)."""
    diag = jnp.maximum(jnp.diagonal(a), 0.0)
    scale = jnp.mean(jnp.sqrt(diag))
    a = a / (scale * scale + 1e-8)
    ap = a @ p

    def step(k: int, carry: tuple[Array, Array]) -> tuple[Array, Array]:
        w, vel = carry
        grad = a @ w + lambda_ * ap
        vel = jnp.where(k == 0, grad, momentum * vel + grad)
        return project_simplex(w - eta * vel), vel

    w, _ = lax.fori_loop(0, n_iter, step, (w0, jnp.zeros_like(w0)))
    return w


def sdmgrad(
    num_tasks: int,
    lambda_: float = 0.3,
    lr: float | None = None,
    momentum: float = 0.5,
    n_iter: int = 20,
    variant: str = "libmtl",
) -> optax.GradientTransformationExtraArgs:
    r"""SDMGrad (Xiao et al., NeurIPS 2023): direction-oriented stochastic MGDA.

    .. math:: u = J_ζ^\top \frac{w + λ\tilde p}{1+λ},\quad
        w \approx \arg\min_{w∈Δ} \tfrac12 w^\top A w + λ w^\top A\tilde p,\ A = J_ξJ_{ξ'}^\top

    Call ``update(j_zeta, state, params, jac1=j_xi, jac2=j_xi_prime)`` (independent batches);
    ``pref=p`` replaces ``p̃ = 1/m``.

    Args:
      num_tasks: m (required: ``w`` is state).
      lambda_: pull towards the preference direction (0.3, LibMTL/official experiments).
      lr: inner learning rate (default 5, LibMTL; 10 with ``variant="torchjd"``).
      momentum: inner momentum (0.5).
      n_iter: inner iterations per call (20).
      variant: ``"libmtl"`` (default) or ``"torchjd"``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> j = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.sdmgrad(num_tasks=2)
      >>> out = tx.update(j, tx.init({"w": jnp.zeros(3)}), jac1=j, jac2=j)[0]["w"]
      >>> [round(x, 4) for x in out.tolist()]
      [4.8462, 1.0, 1.0]
    """
    _resolve(variant, lr, momentum, n_iter, lambda_)
    m = _check_num_tasks(num_tasks, "sdmgrad")

    def fn(mat: Array, losses: Any, inner: SDMGradState, pref: Any):
        return sdmgrad_weights(
            mat, losses, inner, pref=pref, lr=lr, momentum=momentum, n_iter=n_iter,
            lambda_=lambda_, variant=variant,
        )

    return cross_batch_transform(
        fn, lambda: SDMGradState(jnp.full((m,), 1.0 / m, jnp.float32)), num_tasks=m, name="sdmgrad"
    )


INFO = MethodInfo(
    name="sdmgrad",
    family="weighting",
    factory=sdmgrad,
    description="Direction-oriented stochastic MGDA: projected momentum steps on J_ξJ_ξ'ᵀ.",
    reference="Xiao et al., NeurIPS 2023; LibMTL SDMGrad.py (TorchJD _sdmgrad.py: flag)",
    requires=("jac1", "jac2"),
    example_kwargs=lambda m: {"num_tasks": m},
    properties=frozenset({"W"}),
)
