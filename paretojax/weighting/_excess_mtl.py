r"""ExcessMTL: robust multi-task weighting by excess risks.

He, Zhou, Zhang, Yun, Xu, Zeng, Chilimbi, Zhao, "Robust Multi-Task Learning with Excess Risks",
ICML 2024. Per task an AdaGrad accumulator ``h_i`` of squared gradients gives a diagonal
curvature proxy and the excess-risk estimate (Eqs. 6–7)

.. math:: h_i \leftarrow h_i + g_i \odot g_i, \qquad
    e_i = \sum_k \frac{g_{ik}^2}{\sqrt{h_{ik} + 10^{-7}}}.

The first ``n_warmup_steps`` calls (default 1) only collect the baseline ``e⁰`` (their mean) and
keep the weights; afterwards an exponentiated-gradient step (Eq. 9) follows the relative excess
risks:

.. math:: r = \frac{e}{e^0 + 10^{-7}}, \qquad
   w \leftarrow S\cdot\frac{w \odot \exp(η r)}{\sum_j w_j \exp(η r_j)}, \qquad u = \sum_i w_i g_i.

Reference matched: LibMTL ``ExcessMTL.py`` (``w₀ = 1``, renormalised to ``S = m``,
``η = robust_step_size = 1e-2``, baseline = the first call). Flag ``variant="torchjd"``
(TorchJD ``_excess_mtl.py``, following the paper): ``w₀ = 1/m``, ``S = 1``, ``η = 1``.
``n_warmup_steps`` averages the baseline over several calls (TorchJD; the paper's Appendix C.1
suggests 3 epochs). Deviations: the baseline division carries TorchJD's ``+1e-7`` in both
variants (LibMTL divides by a zero baseline when a task's first gradient is zero), and the
exponentiated step is computed in log space (no overflow to inf/NaN for huge ratios).

**Memory.** ``h`` has the shape of the Jacobian (``m`` copies of the parameters), allocated by
``tx.init(params)``; ``num_tasks`` is required. For large models feed a feature-level Jacobian.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from paretojax.core.jacobian import accumulation_dtype, combine
from paretojax.registry import MethodInfo
from paretojax.transforms import TransformState, jacobian_transform
from paretojax.weighting._modo import _check_num_tasks

Array = jax.Array
PyTree = Any

__all__ = ["excess_mtl", "excess_mtl_update", "excess_mtl_init", "ExcessMTLState"]

#: variant -> (initial weight as a function of m, total S as a function of m, default step size)
_VARIANTS = {
    "libmtl": (lambda m: 1.0, lambda m: float(m), 1e-2),
    "torchjd": (lambda m: 1.0 / m, lambda m: 1.0, 1.0),
}


class ExcessMTLState(NamedTuple):
    """State of :func:`excess_mtl`.

    Attributes:
      weights: current task weights ``w`` (``(m,)``, positive).
      sq_sum: AdaGrad accumulator ``h`` (params-shaped pytree with a leading ``m`` axis).
      baseline: ``e⁰`` (valid once ``count > n_warmup_steps``).
      warmup_sum: sum of ``e`` over the warm-up calls.
      count: number of calls so far (int32).
    """

    weights: Array
    sq_sum: PyTree
    baseline: Array
    warmup_sum: Array
    count: Array


def _resolve(variant: str, robust_step_size: float | None, n_warmup_steps: int) -> float:
    if variant not in _VARIANTS:
        raise ValueError(f"excess_mtl: variant must be one of {tuple(_VARIANTS)}, got {variant!r}.")
    eta = _VARIANTS[variant][2] if robust_step_size is None else robust_step_size
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"excess_mtl: robust_step_size must be a finite number > 0, got {eta!r}.")
    if (
        isinstance(n_warmup_steps, bool)
        or not isinstance(n_warmup_steps, (int, np.integer))
        or n_warmup_steps < 1
    ):
        raise ValueError(f"excess_mtl: n_warmup_steps must be an int ≥ 1, got {n_warmup_steps!r}.")
    return float(eta)


def excess_mtl_init(params: PyTree, num_tasks: int, variant: str = "libmtl") -> ExcessMTLState:
    """Initial state: ``w = w₀``, ``h = 0`` (``m`` copies of the parameter shapes).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> st = pj.excess_mtl_init({"w": jnp.zeros(3)}, num_tasks=2)
      >>> (st.weights.tolist(), st.sq_sum["w"].shape)
      ([1.0, 1.0], (2, 3))
    """
    m = _check_num_tasks(num_tasks, "excess_mtl")
    _resolve(variant, None, 1)
    w0 = _VARIANTS[variant][0](m)
    sq = jax.tree_util.tree_map(
        lambda p: jnp.zeros((m, *jnp.shape(p)), accumulation_dtype(jnp.result_type(p))), params
    )
    z = jnp.zeros((m,), jnp.float32)
    return ExcessMTLState(jnp.full((m,), w0, jnp.float32), sq, z, z, jnp.zeros((), jnp.int32))


def excess_mtl_update(
    jac: PyTree,
    state: ExcessMTLState,
    *,
    robust_step_size: float | None = None,
    n_warmup_steps: int = 1,
    variant: str = "libmtl",
) -> tuple[PyTree, ExcessMTLState]:
    r"""One ExcessMTL step: accumulate ``h``, estimate ``e``, update ``w``, return ``Σ w_i g_i``.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.weighting._excess_mtl import excess_mtl_init, excess_mtl_update
      >>> J = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> st = excess_mtl_init({"w": jnp.zeros(3)}, 2)
      >>> u, st = excess_mtl_update(J, st)     # first call: baseline only, w = 1
      >>> u["w"]
      Array([2., 2., 2.], dtype=float32)
    """
    eta = _resolve(variant, robust_step_size, n_warmup_steps)
    if jax.tree_util.tree_structure(jac) != jax.tree_util.tree_structure(state.sq_sum):
        raise ValueError(
            "excess_mtl: the Jacobian must have the structure of the params given to init."
        )
    m = state.weights.shape[0]
    total = _VARIANTS[variant][1](m)
    j_leaves = jax.tree_util.tree_leaves(jac)
    h_leaves, h_def = jax.tree_util.tree_flatten(state.sq_sum)
    new_h, e = [], jnp.zeros((m,), jnp.float32)
    for jl, hl in zip(j_leaves, h_leaves, strict=True):
        sq = jnp.square(jl.astype(hl.dtype))
        h = hl + sq
        new_h.append(h)
        contrib = jnp.sum(jnp.reshape(sq / jnp.sqrt(h + 1e-7), (m, -1)), axis=1)
        e = e.astype(jnp.promote_types(e.dtype, contrib.dtype)) + contrib
    count = state.count + 1
    warming = state.count < n_warmup_steps
    warmup_sum = jnp.where(warming, state.warmup_sum + e, state.warmup_sum)
    # The baseline is fixed at the end of the warm-up (the mean of the warm-up estimates).
    baseline = jnp.where(count == n_warmup_steps, warmup_sum / n_warmup_steps, state.baseline)
    ratio = e / (baseline.astype(e.dtype) + 1e-7)
    logits = jnp.log(state.weights.astype(e.dtype)) + eta * ratio
    stepped = total * jax.nn.softmax(logits)
    w = jnp.where(warming, state.weights.astype(e.dtype), stepped)
    upd = combine(w, jac)
    new_state = ExcessMTLState(
        w.astype(state.weights.dtype),
        jax.tree_util.tree_unflatten(h_def, new_h),
        baseline.astype(state.baseline.dtype),
        warmup_sum.astype(state.warmup_sum.dtype),
        count,
    )
    return upd, new_state


def excess_mtl(
    num_tasks: int,
    robust_step_size: float | None = None,
    n_warmup_steps: int = 1,
    variant: str = "libmtl",
) -> optax.GradientTransformationExtraArgs:
    r"""ExcessMTL (He et al., ICML 2024): up-weight tasks with large estimated excess risk.

    .. math:: w \leftarrow S\,\frac{w\odot e^{η e/e^0}}{\sum_j w_j e^{η e_j/e^0_j}},\qquad
        u = J^\top w

    ``tx.init(params)`` allocates the AdaGrad accumulator (``m`` copies of the parameters).

    Args:
      num_tasks: m (required).
      robust_step_size: ``η`` (default 1e-2, LibMTL; 1.0 with ``variant="torchjd"``).
      n_warmup_steps: calls that only collect the baseline (default 1 = LibMTL/official).
      variant: ``"libmtl"`` (``w₀ = 1``, ``Σw = m``; default) or ``"torchjd"`` (``w₀ = 1/m``,
        ``Σw = 1``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.excess_mtl(num_tasks=2)
      >>> state = tx.init({"w": jnp.zeros(3)})
      >>> u, state = tx.update(jac, state)
      >>> u["w"]
      Array([2., 2., 2.], dtype=float32)
    """
    _resolve(variant, robust_step_size, n_warmup_steps)
    m = _check_num_tasks(num_tasks, "excess_mtl")

    def update_fn(jac: PyTree, losses: Any, inner: ExcessMTLState, pref: Any):
        del losses, pref
        return excess_mtl_update(
            jac, inner, robust_step_size=robust_step_size, n_warmup_steps=n_warmup_steps,
            variant=variant,
        )

    base = jacobian_transform(update_fn, None, num_tasks=m, name="excess_mtl")

    def init(params: PyTree) -> TransformState:
        return TransformState(excess_mtl_init(params, m, variant), None, jnp.zeros((), jnp.int32))

    return base._replace(init=init)


INFO = MethodInfo(
    name="excess_mtl",
    family="weighting",
    factory=excess_mtl,
    description="Exponentiated-gradient task weights driven by AdaGrad excess-risk estimates.",
    reference="He et al., ICML 2024; LibMTL ExcessMTL.py (TorchJD _excess_mtl.py: flag)",
    example_kwargs=lambda m: {"num_tasks": m},
)
