r"""Preference conditioning of one network: COSMOS input conditioning and FiLM / YOTO modulation.

Both turn an ordinary network into a Pareto-set learner ``f(x; θ, p)`` whose preference
``p ∈ Δ^{m-1}`` is an ordinary call argument (batch several preferences with ``jax.vmap``).

* **COSMOS** (Ruchte & Grabocka, "Scalable Pareto Front Approximation for Deep Multi-Objective
  Learning", ICDM 2021; official ``ruchtem/cosmos``): append ``p`` to every input row (tabular);
  for images the official code maps ``p`` through two transposed convolutions and an upsample
  to ``H×W`` and concatenates the result as ``m`` extra input channels. paretojax's image variant
  is the *simple* one: ``p`` broadcast to ``H×W`` as ``m`` constant extra channels (the learned
  upsampling of a constant map is absorbed by the first convolution up to a per-channel
  spatial pattern; documented deviation).
* **FiLM / YOTO** (Perez, Strub, de Vries, Dumoulin, Courville, AAAI 2018; Dosovitskiy &
  Djolonga, "You Only Train Once", ICLR 2020): ``h ← γ(p)⊙h + β(p)`` per conditioned layer,
  ``(γ, β)`` from a small MLP of ``p``; YOTO shares one 2-layer MLP emitting every layer's FiLM
  parameters. Initialised at ``γ = 1, β = 0`` exactly (zero last layer), so the conditioned
  network starts as the unconditioned one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from paretojax.core.simplex import check_pref

Array = jax.Array

__all__ = ["cosmos_condition", "CosmosMLP", "FiLM", "FiLMMLP"]


def check_num_objectives(m: int, name: str = "num_objectives") -> int:
    """``m ≥ 2`` objectives (a Pareto-set learner with one objective is a plain network)."""
    if int(m) != m or int(m) < 2:
        raise ValueError(f"{name} must be an integer ≥ 2, got {m!r}.")
    return int(m)


def check_positive_int(v: int, name: str) -> int:
    if int(v) != v or int(v) < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}.")
    return int(v)


def layer_pref(pref: Any, m: int, dtype: Any = jnp.float32) -> Array:
    """Validate one preference ``[m]`` (values when concrete; shape always) and cast it."""
    return check_pref(pref, m).astype(dtype)


def cosmos_condition(x: Any, pref: Any, *, image: bool = False) -> Array:
    r"""COSMOS input conditioning: append the preference to every input row (or pixel).

    .. math:: \tilde x_n = [x_n; p] \in R^{d+m} \quad\text{(tabular)},\qquad
              \tilde x_{n,h,w} = [x_{n,h,w}; p] \in R^{C+m} \quad\text{(images, NHWC)}.

    The image form is the simple variant (``p`` broadcast as ``m`` constant channels) of the
    official transposed-convolution + upsample map (Ruchte & Grabocka, ICDM 2021).

    Args:
      x: ``[..., d]`` features, or ``[N, H, W, C]`` images with ``image=True``.
      pref: ``[m]`` preference on the simplex.
      image: treat ``x`` as channels-last images.

    Example:
      >>> import jax.numpy as jnp, paretojax.manifold as pm
      >>> pm.cosmos_condition(jnp.zeros((4, 3)), jnp.array([0.25, 0.75])).shape
      (4, 5)
      >>> pm.cosmos_condition(jnp.zeros((2, 8, 8, 1)), jnp.array([0.5, 0.5]), image=True).shape
      (2, 8, 8, 3)
    """
    x = jnp.asarray(x)
    p = jnp.asarray(pref)
    if p.ndim != 1:
        raise ValueError(f"cosmos_condition: pref must be [m], got shape {p.shape}.")
    check_num_objectives(p.shape[0], "len(pref)")
    p = check_pref(p, p.shape[0])
    if image and x.ndim != 4:
        raise ValueError(f"cosmos_condition: images must be [N, H, W, C], got shape {x.shape}.")
    if x.ndim == 0:
        raise ValueError("cosmos_condition: x must have at least one (feature) axis.")
    pb = jnp.broadcast_to(p.reshape((1,) * (x.ndim - 1) + p.shape), x.shape[:-1] + p.shape)
    return jnp.concatenate([x, pb.astype(x.dtype)], axis=-1)


class CosmosMLP(nnx.Module):
    r"""MLP with COSMOS input conditioning: ``f(x, p) = MLP([x; p])``.

    ``features = (d_in, h_1, …, d_out)``; activation between layers (ReLU by default), none
    after the last. The input layer has ``d_in + m`` inputs (so ``m·h_1`` extra parameters over
    the plain MLP). Paper: Ruchte & Grabocka, ICDM 2021 (tabular "M1" net, ``ruchtem/cosmos``).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.CosmosMLP((5, 16, 3), num_objectives=2, rngs=nnx.Rngs(0))
      >>> net(jnp.ones((4, 5)), jnp.array([0.3, 0.7])).shape
      (4, 3)
      >>> jax.vmap(net, in_axes=(None, 0))(jnp.ones((4, 5)), jnp.eye(2)).shape
      (2, 4, 3)
    """

    def __init__(
        self,
        features: Sequence[int],
        num_objectives: int,
        *,
        activation: Callable[[Array], Array] = jax.nn.relu,
        rngs: nnx.Rngs,
    ) -> None:
        features = tuple(check_positive_int(f, "features") for f in features)
        if len(features) < 2:
            raise ValueError(f"features needs at least (d_in, d_out), got {features}.")
        self.num_objectives = check_num_objectives(num_objectives)
        self.activation = activation
        dims = (features[0] + self.num_objectives,) + features[1:]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:], strict=True)]
        )

    def __call__(self, x: Array, pref: Array) -> Array:
        h = cosmos_condition(x, layer_pref(pref, self.num_objectives))
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < len(self.layers) - 1:
                h = self.activation(h)
        return h


class FiLM(nnx.Module):
    r"""Feature-wise linear modulation by the preference: ``h ← γ(p) ⊙ h + β(p)``.

    .. math:: [\Delta\gamma; \beta] = W_2\,\mathrm{ReLU}(W_1 p + b_1) + b_2,\qquad
              \gamma = 1 + \Delta\gamma

    with ``W_2 = 0, b_2 = 0`` at init, so ``γ = 1, β = 0`` exactly (the layer starts as the
    identity). Modulates the last axis of ``h``. Perez et al., AAAI 2018; YOTO (Dosovitskiy &
    Djolonga, ICLR 2020) for the preference-conditioned use. Default ``hidden = 32``.

    Example:
      >>> import jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> film = pm.FiLM(8, num_objectives=3, rngs=nnx.Rngs(0))
      >>> h = jnp.ones((2, 8))
      >>> bool(jnp.all(film(h, jnp.array([0.2, 0.3, 0.5])) == h))
      True
    """

    def __init__(
        self, num_features: int, num_objectives: int, *, hidden: int = 32, rngs: nnx.Rngs
    ) -> None:
        self.num_features = check_positive_int(num_features, "num_features")
        self.num_objectives = check_num_objectives(num_objectives)
        self.hidden = nnx.Linear(self.num_objectives, check_positive_int(hidden, "hidden"),
                                 rngs=rngs)
        self.out = nnx.Linear(hidden, 2 * self.num_features, kernel_init=nnx.initializers.zeros,
                              rngs=rngs)

    def params_for(self, pref: Array) -> tuple[Array, Array]:
        """``(γ(p), β(p))``, each ``[num_features]``."""
        p = layer_pref(pref, self.num_objectives)
        gb = self.out(jax.nn.relu(self.hidden(p)))
        return 1.0 + gb[: self.num_features], gb[self.num_features :]

    def __call__(self, h: Array, pref: Array) -> Array:
        if h.shape[-1] != self.num_features:
            raise ValueError(f"FiLM: h has {h.shape[-1]} features, expected {self.num_features}.")
        gamma, beta = self.params_for(pref)
        shape = (1,) * (h.ndim - 1) + (self.num_features,)
        return gamma.reshape(shape) * h + beta.reshape(shape)


class FiLMMLP(nnx.Module):
    r"""MLP whose hidden layers are FiLM-modulated by one shared YOTO generator of ``p``.

    ``h_{l} = act(γ_l(p) ⊙ (W_l h_{l−1} + b_l) + β_l(p))`` for every hidden layer; the output
    layer is plain. The generator is the YOTO 2-layer MLP ``m → g → g → Σ_l 2·h_l`` (ReLU),
    last layer zero-initialised (``γ = 1, β = 0`` at init). ``features = (d_in, h_1, …, d_out)``,
    default ``generator_hidden = 32``. Dosovitskiy & Djolonga, ICLR 2020; used as LORPMAN's
    CelebA baseline and by GMOOAR.

    Example:
      >>> import jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.FiLMMLP((5, 16, 16, 3), num_objectives=2, rngs=nnx.Rngs(0))
      >>> net(jnp.ones((4, 5)), jnp.array([0.3, 0.7])).shape
      (4, 3)
    """

    def __init__(
        self,
        features: Sequence[int],
        num_objectives: int,
        *,
        generator_hidden: int = 32,
        activation: Callable[[Array], Array] = jax.nn.relu,
        rngs: nnx.Rngs,
    ) -> None:
        features = tuple(check_positive_int(f, "features") for f in features)
        if len(features) < 3:
            raise ValueError(f"FiLMMLP needs at least one hidden layer, got features {features}.")
        self.num_objectives = check_num_objectives(num_objectives)
        self.activation = activation
        self.hidden_sizes = features[1:-1]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(features[:-1], features[1:], strict=True)]
        )
        g = check_positive_int(generator_hidden, "generator_hidden")
        self.gen1 = nnx.Linear(self.num_objectives, g, rngs=rngs)
        self.gen2 = nnx.Linear(g, g, rngs=rngs)
        self.gen_out = nnx.Linear(g, 2 * sum(self.hidden_sizes),
                                  kernel_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, x: Array, pref: Array) -> Array:
        p = layer_pref(pref, self.num_objectives)
        film = self.gen_out(jax.nn.relu(self.gen2(jax.nn.relu(self.gen1(p)))))
        h, off = x, 0
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < len(self.layers) - 1:
                f = self.hidden_sizes[k]
                shape = (1,) * (h.ndim - 1) + (f,)
                gamma = 1.0 + film[off : off + f]
                beta = film[off + f : off + 2 * f]
                off += 2 * f
                h = self.activation(gamma.reshape(shape) * h + beta.reshape(shape))
        return h
