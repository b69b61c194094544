r"""MoCo: stochastic multi-objective gradient correction (tracked gradients + weight dynamics).

Fernando, Shen, Liu, Chaudhury, Murugesan, Chen, "Mitigating Gradient Bias in Multi-objective
Learning: A Provably Convergent Approach", ICLR 2023. A tracking variable ``y ∈ R^{m×d}`` follows
the (loss-scaled, normalised) task gradients and the weights take one step on ``½‖yᵀλ‖²``:

.. math::

    \hat g_i = \frac{g_i}{\|g_i\| + 10^{-8}} L_i, \qquad
    y \leftarrow y - β_k (y - \hat g), \qquad
    λ \leftarrow \operatorname{softmax}\big(λ - γ_k (y y^\top + ρ I) λ\big), \qquad
    u = y^\top λ,

with ``β_k = β/k^{σ_β}``, ``γ_k = γ/k^{σ_γ}`` (``k`` = call count from 1), ``y₀ = 0``,
``λ₀ = 1/m``. Defaults ``β = 0.5, σ_β = 0.5, γ = 0.1, σ_γ = 0.5, ρ = 0`` (LibMTL ``MoCo.py``,
from the authors' code).

**Memory.** ``y`` has the shape of the Jacobian (``m`` copies of the parameters): it is a pytree
with a leading ``m`` axis built by ``tx.init(params)``, so ``num_tasks`` is required. Because the
state is ``m × d`` this is a Jacobian-level method; for large models apply it to a feature-level
Jacobian (w.r.t. a shared representation) instead.

Flags where the references disagree: ``simplex="projection"`` replaces the softmax by the
Euclidean projection onto the simplex (the paper's ``Π_Δ``); ``normalize="none"`` feeds the raw
gradients ``ĝ = g`` as TorchJD ``_moco.py`` does (then ``task_losses`` is not needed).

**Optimizer.** ``y`` is already a first-moment estimate (an EMA whose window grows like
``√k``). Chained with Adam's own ``β₁ = 0.9`` the gradient is filtered twice; on the MultiDigits
benchmark (Adam 3e-3, 300 steps) that lag makes the loss oscillate instead of fall (mean accuracy
0.54 vs 0.95 with ``b1=0``). Chain it with ``optax.adam(lr, b1=0.0)`` (or SGD, as in the paper's
analysis), or apply it to the shared parameters only, as LibMTL does.

LibMTL issue #56 reports identical CAGrad/MoCo curves — a harness bug (the method argument was
ignored); the tests check that MoCo and CAGrad differ on the same inputs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.jacobian import accumulation_dtype, combine, gram
from paretojax.core.simplex import project_simplex
from paretojax.registry import MethodInfo
from paretojax.transforms import TransformState, jacobian_transform
from paretojax.weighting._modo import _check_num_tasks

Array = jax.Array
PyTree = Any

__all__ = ["moco", "moco_update", "MoCoState"]

_SIMPLEX = ("softmax", "projection")
_NORMALIZE = ("loss", "none")


class MoCoState(NamedTuple):
    """State of :func:`moco`.

    Attributes:
      y: tracked gradients, a params-shaped pytree with a leading ``m`` axis (init 0).
      weights: ``λ`` (init ``1/m``; float32 or the wider parameter dtype).
      count: number of calls so far (int32).
    """

    y: PyTree
    weights: Array
    count: Array


def _check(beta, beta_sigma, gamma, gamma_sigma, rho, simplex, normalize) -> None:
    for name, v in (("beta", beta), ("beta_sigma", beta_sigma), ("gamma", gamma),
                    ("gamma_sigma", gamma_sigma), ("rho", rho)):
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"moco: {name} must be a finite number ≥ 0, got {v!r}.")
    if simplex not in _SIMPLEX:
        raise ValueError(f"moco: simplex must be one of {_SIMPLEX}, got {simplex!r}.")
    if normalize not in _NORMALIZE:
        raise ValueError(f"moco: normalize must be one of {_NORMALIZE}, got {normalize!r}.")


def _scale_rows(jac: PyTree, scale: Array) -> PyTree:
    def one(leaf: Array) -> Array:
        dtype = accumulation_dtype(leaf.dtype)
        s = jnp.reshape(scale.astype(dtype), scale.shape + (1,) * (leaf.ndim - 1))
        return leaf.astype(dtype) * s

    return jax.tree_util.tree_map(one, jac)


def moco_init(params: PyTree, num_tasks: int) -> MoCoState:
    """``y = 0`` (``m`` copies of the parameter shapes), ``λ = 1/m``, ``count = 0``."""
    m = _check_num_tasks(num_tasks, "moco")
    y = jax.tree_util.tree_map(
        lambda p: jnp.zeros((m, *jnp.shape(p)), accumulation_dtype(jnp.result_type(p))), params
    )
    leaves = jax.tree_util.tree_leaves(params)
    acc = accumulation_dtype(jnp.result_type(*leaves)) if leaves else jnp.float32
    # λ in the accumulation dtype: float64 under x64 (a float32 λ would round the trajectory).
    return MoCoState(y, jnp.full((m,), 1.0 / m, acc), jnp.zeros((), jnp.int32))


def moco_update(
    jac: PyTree,
    losses: Array | None,
    state: MoCoState,
    *,
    beta: float = 0.5,
    beta_sigma: float = 0.5,
    gamma: float = 0.1,
    gamma_sigma: float = 0.5,
    rho: float = 0.0,
    simplex: str = "softmax",
    normalize: str = "loss",
) -> tuple[PyTree, MoCoState]:
    r"""One MoCo step: track ``ĝ``, update ``λ``, return ``u = yᵀλ`` and the new state.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._moco import moco_init, moco_update
      >>> J = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> st = moco_init({"w": jnp.zeros(3)}, 2)
      >>> u, st = moco_update(J, jnp.array([1., 1.]), st)
      >>> st.count
      Array(1, dtype=int32)
    """
    _check(beta, beta_sigma, gamma, gamma_sigma, rho, simplex, normalize)
    if jax.tree_util.tree_structure(jac) != jax.tree_util.tree_structure(state.y):
        raise ValueError("moco: the Jacobian must have the structure of the params given to init.")
    g = gram(jac)
    m = g.shape[0]
    if normalize == "loss":
        if losses is None:
            raise ValueError("moco(normalize='loss') needs the loss vector: pass task_losses=.")
        norms = jnp.sqrt(jnp.maximum(jnp.diagonal(g), 0.0))
        scale = jnp.asarray(losses, g.dtype) / (norms + 1e-8)
        g_hat = _scale_rows(jac, scale)
    else:
        g_hat = _scale_rows(jac, jnp.ones((m,), g.dtype))
    count = state.count + 1
    k = count.astype(g.dtype)
    beta_k = beta / k**beta_sigma
    gamma_k = gamma / k**gamma_sigma
    y = jax.tree_util.tree_map(
        lambda yl, gl: (yl - beta_k * (yl - gl.astype(yl.dtype))).astype(yl.dtype), state.y, g_hat
    )
    yy = gram(y)
    lam = state.weights.astype(yy.dtype)
    z = lam - gamma_k * (yy @ lam + rho * lam)
    lam_new = jax.nn.softmax(z) if simplex == "softmax" else project_simplex(z)
    upd = combine(lam_new, y)
    upd = jax.tree_util.tree_map(lambda u, j: u.astype(j.dtype), upd, jac)
    return upd, MoCoState(y, lam_new.astype(state.weights.dtype), count)


def moco(
    num_tasks: int,
    beta: float = 0.5,
    beta_sigma: float = 0.5,
    gamma: float = 0.1,
    gamma_sigma: float = 0.5,
    rho: float = 0.0,
    simplex: str = "softmax",
    normalize: str = "loss",
) -> optax.GradientTransformationExtraArgs:
    r"""MoCo (Fernando et al., ICLR 2023): tracked gradients with MGDA-style weight dynamics.

    .. math:: y \leftarrow y - β_k(y - \hat g),\quad
        λ \leftarrow \operatorname{softmax}(λ - γ_k(yy^\top + ρI)λ),\quad u = y^\top λ

    ``tx.init(params)`` allocates ``y`` (``m`` copies of the parameters). With the default
    ``normalize="loss"`` the update needs ``task_losses=``.

    Args:
      num_tasks: m (required).
      beta, beta_sigma: tracking rate ``β/k^{σ_β}`` (0.5, 0.5).
      gamma, gamma_sigma: weight step ``γ/k^{σ_γ}`` (0.1, 0.5).
      rho: ℓ2 regularisation of ``λ`` (0).
      simplex: ``"softmax"`` (LibMTL, default) or ``"projection"`` (paper).
      normalize: ``"loss"`` (``ĝ_i = L_i g_i/‖g_i‖``, LibMTL, default) or ``"none"`` (TorchJD).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.moco(num_tasks=2)
      >>> state = tx.init({"w": jnp.zeros(3)})
      >>> u, state = tx.update(jac, state, task_losses=jnp.array([1., 2.]))
      >>> u["w"].shape
      (3,)
    """
    _check(beta, beta_sigma, gamma, gamma_sigma, rho, simplex, normalize)
    m = _check_num_tasks(num_tasks, "moco")

    def update_fn(jac: PyTree, losses: Any, inner: MoCoState, pref: Any):
        del pref
        return moco_update(
            jac, losses, inner, beta=beta, beta_sigma=beta_sigma, gamma=gamma,
            gamma_sigma=gamma_sigma, rho=rho, simplex=simplex, normalize=normalize,
        )

    base = jacobian_transform(
        update_fn, None, num_tasks=m, needs_losses=normalize == "loss", name="moco"
    )

    def init(params: PyTree) -> TransformState:
        return TransformState(moco_init(params, m), None, jnp.zeros((), jnp.int32))

    return base._replace(init=init)


INFO = MethodInfo(
    name="moco",
    family="weighting",
    factory=moco,
    description="Tracked (bias-corrected) task gradients combined with MGDA-style weight steps.",
    reference="Fernando et al., ICLR 2023; LibMTL MoCo.py (TorchJD _moco.py: normalize='none')",
    requires=("task_losses",),
    example_kwargs=lambda m: {"num_tasks": m},
)
