r"""RLW: random loss weighting.

.. math::

    w = \operatorname{softmax}(\epsilon),\ \epsilon \sim \mathcal N(0, I_m)
    \quad(\texttt{dist="normal"}),\qquad
    w \sim \operatorname{Dir}(\beta\mathbf 1)\quad(\texttt{dist="dirichlet"}),

drawn afresh every step (``Σw = 1``); the update is ``Jᵀw`` — equivalently the gradient of the
random scalarization ``wᵀL`` (:func:`rlw_loss`, one backward pass, no Jacobian).

Paper: Lin, Ye, Xu, Shi, Zhang, "Reasonable Effectiveness of Random Weighting: A Litmus Test for
Multi-Task Learning", TMLR 2022. Reference matched: TorchJD ``Random`` = LibMTL ``RLW.py``
(``dist="Normal"``, the default). ``dist="dirichlet"`` samples the simplex directly
(``Dir(β·1)``, β = ``concentration``, default 1: uniform on the simplex); note that LibMTL's
``"Dirichlet"`` option applies a softmax to the Dirichlet sample (weights close to ``1/m``) —
use ``dist="dirichlet_softmax"`` to reproduce that. Randomness: a PRNG key in the state, split on
every call (same key ⇒ same weights). RNG-dependent goldens (TorchJD's ``[0.8623, 0.1377]``) are not
portable; the tests check distributional properties.

The weights ignore the Gram matrix, so the transform does not compute it (``uses_gram=False``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from paretojax.registry import MethodInfo
from paretojax.transforms import Weighting, as_transform

Array = jax.Array

__all__ = ["RLWState", "rlw", "rlw_init", "rlw_loss", "rlw_weights", "rlw_weighting"]

DISTS = ("normal", "dirichlet", "dirichlet_softmax")


class RLWState(NamedTuple):
    """State of RLW: the PRNG key (split on every call)."""

    key: Array


def _check(dist: str, concentration: Any) -> None:
    if dist not in DISTS:
        raise ValueError(f"rlw: dist must be one of {DISTS}, got {dist!r}.")
    if isinstance(concentration, (int, float)) and not concentration > 0.0:
        raise ValueError(f"rlw: concentration must be > 0, got {concentration}.")


def rlw_init(key: Array | None = None, seed: int = 0) -> RLWState:
    """Initial :class:`RLWState` from a key (or ``jax.random.key(seed)``).

    Example:
      >>> import jax, paretojax as pj
      >>> a, b = pj.rlw_init(seed=0).key, pj.rlw_init(jax.random.key(0)).key
      >>> bool((jax.random.key_data(a) == jax.random.key_data(b)).all())  # seed=0 ≡ key(0)
      True
    """
    return RLWState(key=jax.random.key(seed) if key is None else key)


def _sample(key: Array, m: int, dist: str, concentration: Any, dtype: Any) -> Array:
    if dist == "normal":
        return jax.nn.softmax(jax.random.normal(key, (m,), dtype))
    alpha = jnp.full((m,), 1.0, dtype) * jnp.asarray(concentration, dtype)
    w = jax.random.dirichlet(key, alpha, dtype=dtype)
    if dist == "dirichlet_softmax":
        return jax.nn.softmax(w)
    # Guard the (measure-zero, float32 underflow) all-zero / non-finite draw.
    s = jnp.sum(w)
    ok = jnp.isfinite(s) & (s > 0)
    return jnp.where(ok, w / jnp.where(ok, s, 1.0), jnp.full((m,), 1.0 / m, dtype))


def rlw_weights(
    gram: Array,
    losses: Array | None = None,
    state: RLWState | None = None,
    *,
    pref: Array | None = None,
    dist: str = "normal",
    concentration: float = 1.0,
) -> tuple[Array, RLWState]:
    r"""Random simplex weights (fresh each call); only ``gram.shape[0]`` (m) is read.

    Args:
      gram: ``[m, m]`` Gram matrix or any ``[m, …]`` placeholder.
      losses, pref: ignored.
      state: :class:`RLWState` (``None``: ``rlw_init()``).
      dist: ``"normal"`` (softmax of N(0, I), default), ``"dirichlet"`` or
        ``"dirichlet_softmax"`` (LibMTL's Dirichlet option).
      concentration: Dirichlet concentration β (a float or a traced scalar).

    Returns:
      ``(weights[m], new_state)``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> w, state = pj.rlw_weights(jnp.eye(3), state=pj.rlw_init(jax.random.key(0)))
      >>> round(float(w.sum()), 5), bool((w > 0).all())
      (1.0, True)
    """
    del losses, pref
    _check(dist, concentration)
    m = jnp.shape(gram)[0]
    if state is None:
        state = rlw_init()
    key, sub = jax.random.split(state.key)
    dtype = jnp.promote_types(jnp.asarray(gram).dtype, jnp.float32)
    w = _sample(sub, m, dist, concentration, dtype)
    return w, RLWState(key=key)


def rlw_loss(
    losses: Array,
    state: RLWState,
    *,
    dist: str = "normal",
    concentration: float = 1.0,
) -> tuple[Array, RLWState]:
    r"""The random scalarization ``S = wᵀL`` (weights held constant) and the new state.

    ``jax.grad`` of ``S`` is the RLW update with one backward pass (the loss-balancing form).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> s, state = pj.rlw_loss(jnp.array([1.0, 1.0]), pj.rlw_init(jax.random.key(0)))
      >>> round(float(s), 5)
      1.0
    """
    losses = jnp.asarray(losses)
    if losses.ndim != 1:
        raise ValueError(f"rlw_loss: losses must be a 1-D vector [m], got shape {losses.shape}.")
    w, state = rlw_weights(losses[:, None], None, state, dist=dist, concentration=concentration)
    return jnp.dot(jax.lax.stop_gradient(w).astype(losses.dtype), losses), state


def rlw_weighting(
    dist: str = "normal",
    concentration: float = 1.0,
    *,
    key: Array | None = None,
    seed: int = 0,
) -> Weighting:
    """The :class:`~paretojax.Weighting` pair of :func:`rlw` (``uses_gram=False``).

    ``weights`` draws ``w = softmax(ε)`` from the key in its state (no Gram read).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> NOG = jnp.zeros((2, 0))  # uses_gram=False: an (m, 0) placeholder carries m
      >>> wt = pj.rlw_weighting(seed=0)
      >>> w, state = wt.weights(NOG, None, wt.init(), None)
      >>> (w.shape, round(float(w.sum()), 4))
      ((2,), 1.0)
    """
    _check(dist, concentration)

    def fn(gram: Array, losses: Array | None, state: RLWState, pref: Array | None):
        return rlw_weights(gram, losses, state, dist=dist, concentration=concentration)

    return Weighting(
        init=lambda: rlw_init(key, seed), weights=fn, name="rlw", uses_gram=False
    )


def rlw(
    dist: str = "normal",
    concentration: float = 1.0,
    *,
    key: Array | None = None,
    seed: int = 0,
    num_tasks: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""RLW as an optax transform: ``u = Jᵀw`` with fresh random simplex weights each step.

    Args:
      dist: ``"normal"`` (default, TorchJD / LibMTL), ``"dirichlet"``, ``"dirichlet_softmax"``.
      concentration: Dirichlet concentration.
      key: PRNG key of the initial state (default ``jax.random.key(seed)``).
      seed: used when ``key`` is not given.
      num_tasks: m, to record the weights in the state.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[-4., 1., 1.], [6., 1., 1.]])}
      >>> tx = pj.rlw(key=jax.random.key(0))
      >>> upd, state = tx.update(jac, tx.init({"w": jnp.zeros(3)}))
      >>> round(float(upd["w"][1]), 5)  # the weights sum to one
      1.0
    """
    return as_transform(rlw_weighting(dist, concentration, key=key, seed=seed), num_tasks)


INFO = MethodInfo(
    name="rlw",
    family="balancing",
    factory=rlw,
    description="RLW: random loss weights softmax(N(0, I)) (or Dirichlet) drawn every step.",
    reference="Lin et al., TMLR 2022; TorchJD Random = LibMTL RLW",
    properties=frozenset({"LUS", "SS", "W"}),
    stochastic=True,
)
