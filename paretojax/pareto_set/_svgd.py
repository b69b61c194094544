r"""MOO-SVGD: Stein variational descent of K particles with per-particle MGDA drift (METHODS §6).

Liu, Tong, Liu, "Profiling Pareto Front With Multi-Objective Stein Variational Gradient Descent",
NeurIPS 2021. Reference behaviour: the original ``gnobitab/MultiObjectiveSampling`` code as
reproduced by LibMOON's ``get_svgd_gradient``.

For particles ``x_k`` with objectives ``f_k = f(x_k) ∈ R^m`` and Jacobians ``J_k``:

.. math::

    g_k &= J_k^\top \alpha_k,\quad \alpha_k = \text{min\_norm}(J_k J_k^\top)\ \ (\text{MGDA}) \\
    D_{kl} &= \|f_k - f_l\|^2,\quad h = \operatorname{median}(D)/\log K \\
    k_{kl} &= \exp(-D_{kl}\,h/A),\ A = 5\cdot 10^{-6}\ \ (\texttt{bandwidth="original"}) \quad
    \text{or}\quad \exp(-D_{kl}/h)\ \ (\texttt{bandwidth="median"}) \\
    \varphi_k &= \tfrac{1}{K}\Big[\sum_l k_{kl}\, g_l + \sum_l \nabla_{x_k} k_{kl}\Big],
    \qquad x_k \leftarrow x_k - \text{lr}\cdot\varphi_k.

``h`` is the numpy median of all K² entries of D (zero diagonal included; average of the two
middle values) and is held constant (``stop_gradient``) in ``∇_{x_k} k_{kl}``, which goes through
``f_k`` only: ``∇_{x_k} k_{kl} = −c\,k_{kl}\,2 J_k^\top(f_k − f_l)`` with ``c = h/A`` (original)
or ``1/h`` (median). Subtracting it moves ``f_k`` away from ``f_l``: repulsion in objective space.
The "original" kernel reproduces the reference's operator precedence (``exp(-D / A * h)``,
bandwidth *inversely* proportional to the median heuristic); with objective gaps of order 1 its
off-diagonal entries underflow to 0 and the update reduces to ``g_k / K`` (plain MGDA per
particle) — the flag ``bandwidth="median"`` gives the textbook SVGD kernel.

Why not a :class:`~paretojax.pareto_set.SetWeighting`: the driving term ``Σ_l k_{kl} g_l`` mixes
*other particles' Jacobians* into particle k's update, which the driver's ``u_k = J_kᵀ α_k`` cannot
express (LibMOON's solver mixes the MGDA *weights* across particles and applies them to each
particle's own Jacobian — not equivalent; do not copy). Hence the standalone
:func:`moo_svgd_direction` / :func:`svgd_step` / :func:`run_moo_svgd`. With ``K = 1``: ``k = [[1]]``
and φ = g (no repulsion, no ``log 1`` division).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.core.jacobian import gram, value_and_jacobian
from paretojax.core.qp import min_norm

Array = jax.Array
PyTree = Any

__all__ = [
    "SVGD_A",
    "svgd_kernel",
    "moo_svgd_direction",
    "svgd_step",
    "run_moo_svgd",
    "SVGDResult",
]

#: The original code's constant in ``exp(-D / A * h)``.
SVGD_A = 5e-6
_BANDWIDTHS = ("original", "median")


def _check_bw(bandwidth: str, who: str) -> None:
    if bandwidth not in _BANDWIDTHS:
        raise ValueError(f"{who}: bandwidth must be one of {_BANDWIDTHS}, got {bandwidth!r}.")


def svgd_kernel(f: Array, *, bandwidth: str = "original", a: float = SVGD_A) -> tuple[Array, Array]:
    r"""RBF kernel on objective vectors: returns ``(k [K, K], c)`` with ``k = exp(−c·D)``.

    ``c = h/A`` (``"original"``) or ``1/h`` (``"median"``), ``h = median(D)/log K`` (stopped
    gradient). All-equal objectives (``h = 0``) give ``k = 1`` for "original" and, for "median",
    ``c`` is capped so that ``k = 1`` too (no NaN). ``K = 1`` → ``([[1]], 0)``.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> k, c = pj.svgd_kernel(jnp.array([[0.0, 1.0], [1.0, 0.0]]), bandwidth="median")
      >>> [round(v, 4) for v in k[0].tolist()]
      [1.0, 0.25]
    """
    _check_bw(bandwidth, "svgd_kernel")
    y = jnp.asarray(f)
    if y.ndim != 2:
        raise ValueError(f"svgd_kernel: f must be [K, m], got shape {y.shape}.")
    kk = y.shape[0]
    diff = y[:, None, :] - y[None, :, :]
    d = jnp.sum(diff * diff, axis=-1)
    if kk == 1:
        return jnp.ones((1, 1), y.dtype), jnp.zeros((), y.dtype)
    h = jax.lax.stop_gradient(jnp.median(d) / jnp.log(jnp.asarray(kk, y.dtype)))
    if bandwidth == "original":
        c = h / jnp.asarray(a, y.dtype)
    else:
        tiny = jnp.finfo(y.dtype).tiny
        c = jnp.where(h > tiny, 1.0 / jnp.maximum(h, tiny), 0.0)
    c = jnp.where(jnp.isfinite(c), c, 0.0)
    return jnp.exp(-d * c), c


def moo_svgd_direction(
    f: Array,
    jac: PyTree,
    *,
    bandwidth: str = "original",
    a: float = SVGD_A,
    mgda_weights: Array | None = None,
) -> tuple[PyTree, Array]:
    r"""The MOO-SVGD update ``φ`` (a descent direction: ``x ← x − lr·φ``) and the MGDA weights.

    Args:
      f: objectives ``[K, m]``.
      jac: per-particle Jacobians, a pytree whose leaves are ``[K, m, …]`` (``[K, m, n]`` for
        array particles).
      bandwidth: ``"original"`` (default, reference precedence) or ``"median"`` (textbook).
      a: the constant ``A`` of the original kernel (5e-6).
      mgda_weights: precomputed ``α [K, m]``; default ``min_norm`` of each ``J_k J_kᵀ``.

    Returns:
      ``(φ, α)`` with ``φ`` shaped like one particle stack (leaves ``[K, …]``).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> f = jnp.array([[1.0, 2.0], [2.0, 1.0]]); jac = jnp.stack([jnp.eye(2)] * 2)
      >>> phi, alpha = pj.moo_svgd_direction(f, jac)
      >>> phi.shape, alpha.shape
      ((2, 2), (2, 2))
    """
    _check_bw(bandwidth, "moo_svgd_direction")
    y = jnp.asarray(f)
    kk = y.shape[0]
    if mgda_weights is None:
        alpha = jax.vmap(lambda j: min_norm(gram(j)))(jac)
    else:
        alpha = jnp.asarray(mgda_weights)
    alpha = jax.lax.stop_gradient(alpha).astype(y.dtype)
    kmat, c = svgd_kernel(y, bandwidth=bandwidth, a=a)
    # Σ_l ∇_{x_k} k_kl = J_kᵀ β_k,  β_k = −2c Σ_l k_kl (f_k − f_l)
    beta = -2.0 * c * (jnp.sum(kmat, axis=1, keepdims=True) * y - kmat @ y)

    def leaf(j: Array) -> Array:
        jf = j.reshape(j.shape[0], j.shape[1], -1).astype(y.dtype)
        g = jnp.einsum("km,kmd->kd", alpha, jf)
        drive = kmat @ g
        rep = jnp.einsum("km,kmd->kd", beta, jf)
        return ((drive + rep) / kk).reshape(j.shape[:1] + j.shape[2:]).astype(j.dtype)

    return jax.tree_util.tree_map(leaf, jac), alpha


class SVGDResult(NamedTuple):
    """Output of :func:`run_moo_svgd`: final particles, objectives, objective history."""

    x: Array
    f: Array
    f_history: Array


def svgd_step(
    problem_fn: Callable[[PyTree], Array],
    optimizer: optax.GradientTransformation,
    *,
    bandwidth: str = "original",
    a: float = SVGD_A,
    lower: Any = None,
    upper: Any = None,
    clamp_eps: float = 1e-5,
) -> tuple[Callable[[PyTree], Any], Callable[..., Any]]:
    """``(init, step)`` for MOO-SVGD on stacked particles (pure, ``jit``/``scan``-able).

    ``step(x, opt_state) -> (x, opt_state, f [K, m])``; ``φ`` is handed to the optax optimizer
    as the update (``optax.sgd(lr)`` gives the reference ``x ← x − lr·φ``), then the iterate is
    clamped to ``[lower + eps, upper − eps]`` when bounds are given.

    Example:
      >>> import jax, jax.numpy as jnp, optax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> init, step = pj.svgd_step(prob.fn, optax.sgd(1e-2), lower=prob.lower, upper=prob.upper)
      >>> x = jnp.zeros((3, 10)); st = init(x)
      >>> x, st, f = jax.jit(step)(x, st)
      >>> f.shape
      (3, 2)
    """
    _check_bw(bandwidth, "svgd_step")
    vj = jax.vmap(value_and_jacobian(problem_fn))

    def clamp(x):
        if lower is None and upper is None:
            return x

        def c(v):
            lo = -jnp.inf if lower is None else jnp.asarray(lower, v.dtype) + clamp_eps
            hi = jnp.inf if upper is None else jnp.asarray(upper, v.dtype) - clamp_eps
            return jnp.clip(v, jnp.broadcast_to(lo, v.shape), jnp.broadcast_to(hi, v.shape))

        return jax.tree_util.tree_map(c, x)

    def init(x: PyTree):
        return optimizer.init(x)

    def step(x: PyTree, opt_state: Any):
        f, jac = vj(x)
        phi, _ = moo_svgd_direction(f, jac, bandwidth=bandwidth, a=a)
        phi = jax.tree_util.tree_map(lambda p: jnp.where(jnp.isfinite(p), p, 0.0), phi)
        upd, opt_state = optimizer.update(phi, opt_state, x)
        x = clamp(optax.apply_updates(x, upd))
        return x, opt_state, f

    return init, step


def run_moo_svgd(
    problem: Any,
    num_particles: int | None = None,
    steps: int = 500,
    lr: float = 1e-2,
    key: Array | None = None,
    *,
    x0: Any = None,
    optimizer: optax.GradientTransformation | None = None,
    bandwidth: str = "original",
    a: float = SVGD_A,
    clamp: bool = True,
) -> SVGDResult:
    """Run MOO-SVGD for ``steps`` iterations in one compiled ``lax.scan``.

    ``problem`` is a :class:`paretojax.problems.Problem` (start ``U(−1/√n, 1/√n)`` from ``key``,
    box clamp) or a function ``x -> [m]`` with an explicit ``x0 [K, n]``.

    Example:
      >>> import jax, paretojax as pj
      >>> prob = pj.problems.get("fonseca_fleming")
      >>> res = pj.run_moo_svgd(prob, 4, steps=20, key=jax.random.key(0))
      >>> res.f.shape
      (4, 2)
    """
    fn = getattr(problem, "fn", problem)
    if int(steps) < 1:
        raise ValueError(f"run_moo_svgd: steps must be ≥ 1, got {steps}.")
    if x0 is None:
        n = getattr(problem, "n_var", None)
        if n is None or key is None or num_particles is None:
            raise ValueError("run_moo_svgd: give x0, or a Problem, num_particles and a key.")
        if int(num_particles) < 1:
            raise ValueError(f"run_moo_svgd: num_particles must be ≥ 1, got {num_particles}.")
        s = 1.0 / float(n) ** 0.5
        x0 = jax.random.uniform(key, (int(num_particles), n), jnp.float32, -s, s)
    x0 = jnp.asarray(x0)
    if x0.ndim < 2:
        raise ValueError(f"run_moo_svgd: x0 must be [K, n], got shape {x0.shape}.")
    opt = optax.sgd(lr) if optimizer is None else optimizer
    lower = getattr(problem, "lower", None) if clamp else None
    upper = getattr(problem, "upper", None) if clamp else None
    init, step = svgd_step(fn, opt, bandwidth=bandwidth, a=a, lower=lower, upper=upper)

    @jax.jit
    def go(x0):
        def body(carry, _):
            x, st = carry
            x, st, f = step(x, st)
            return (x, st), f

        (x, _), fh = jax.lax.scan(body, (x0, init(x0)), None, length=int(steps))
        return x, jax.vmap(fn)(x), fh

    x, f, fh = go(x0)
    return SVGDResult(x=x, f=f, f_history=fh)
