r"""LORPMAN: a low-rank Pareto manifold of networks (Chen & Kwok, ICML 2024).

Every adapted layer carries a shared base ``W⁰`` and ``m`` task-specific rank-``r`` factors:

.. math::

    W(\alpha) = W^0 + s\sum_{i=1}^m \alpha_i B_i A_i, \qquad
    B_i \in R^{d_\text{out}\times r},\ A_i \in R^{r\times d_\text{in}}

(convolution kernels as ``d_out × d_in·k·k`` matrices), so one merged dense network exists for
every ``α ∈ Δ^{m-1}`` and the parameter count grows by ``m·r·(d_in + d_out)`` per layer instead
of ``m×`` (PaMaL). Training: ``E_{α∼Dir(β)}[Σ_i α_i L_i(θ(α))] + λ_o R_o + λ_p R_p``
(:func:`~paretojax.multi_forward_regularizer` for ``R_p``), with ``W⁰`` frozen after a fraction of
the steps (:func:`lorpman_optimizer`). Defaults (METHODS.md §7): ``r = 8``, ``s = 1``, freeze at
0.8 of training. The paper has no code; PaLoRA (Dimitriadis, Frossard, Fleuret, ICLR 2025) is
the closest public implementation. Init (not published): ``A_i ~ N(0, 1/d_in)``,
``B_i ~ N(0, 0.01²)`` — small but non-zero, so the cosine regulariser is defined at init.
Biases are shared (part of ``W⁰``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from paretojax.manifold._conditioning import (
    check_num_objectives,
    check_positive_int,
    layer_pref,
)

Array = jax.Array

__all__ = [
    "LowRankParetoBase",
    "LowRankParetoFactor",
    "LowRankParetoDense",
    "LowRankParetoConv",
    "LowRankParetoMLP",
    "low_rank_gram",
    "orthogonality_regularizer",
    "lorpman_optimizer",
]


class LowRankParetoBase(nnx.Param):
    """Shared base weights ``W⁰`` (and shared biases) of a LORPMAN layer; frozen late in training.

    Example:
      >>> import jax, paretojax.manifold as pm
      >>> from flax import nnx
      >>> layer = pm.LowRankParetoDense(6, 4, rank=2, num_objectives=3, rngs=nnx.Rngs(0))
      >>> sum(x.size for x in jax.tree.leaves(nnx.state(layer, pm.LowRankParetoBase)))  # 6·4 + 4
      28
    """


class LowRankParetoFactor(nnx.Param):
    """Task-specific low-rank factors ``A_i`` / ``B_i`` of a LORPMAN layer.

    Example:
      >>> import jax, paretojax.manifold as pm
      >>> from flax import nnx
      >>> layer = pm.LowRankParetoDense(6, 4, rank=2, num_objectives=3, rngs=nnx.Rngs(0))
      >>> st = nnx.state(layer, pm.LowRankParetoFactor)
      >>> (sorted(st.keys()), sum(x.size for x in jax.tree.leaves(st)))  # m·r·(d_in + d_out)
      (['lora_a', 'lora_b'], 60)
    """


def _check_scale(scale: float) -> float:
    s = float(scale)
    if not math.isfinite(s):
        raise ValueError(f"scale must be finite, got {scale!r}.")
    return s


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _init_arrays(key, kernel_shape, m, rank, d_in, d_out, b_std):
    # One compiled init per layer shape (eager init compiles every random op separately).
    kw, ka, kb = jax.random.split(key, 3)
    w = nnx.initializers.lecun_normal()(kw, kernel_shape, jnp.float32)
    a = jax.random.normal(ka, (m, rank, d_in), jnp.float32) / jnp.sqrt(float(d_in))
    b = b_std * jax.random.normal(kb, (m, d_out, rank), jnp.float32)
    return w, a, b


def _init_layer(layer, rngs, kernel_shape, d_in, b_std):
    w, a, b = _init_arrays(rngs.params(), kernel_shape, layer.num_objectives, layer.rank, d_in,
                           layer.out_features, float(b_std))
    layer.kernel = LowRankParetoBase(w)
    layer.bias = (LowRankParetoBase(jnp.zeros((layer.out_features,), jnp.float32))
                  if layer._use_bias else None)
    layer.lora_a, layer.lora_b = LowRankParetoFactor(a), LowRankParetoFactor(b)


def _delta_matrix(a: Array, b: Array, p: Array, scale: float) -> Array:
    """``s Σ_i p_i B_i A_i`` as ``[d_out, d_in]``."""
    return scale * jnp.einsum("m,mor,mrd->od", p.astype(a.dtype), b, a)


class LowRankParetoDense(nnx.Module):
    r"""Dense layer ``y = x W(α)ᵀ + b`` with ``W(α) = W⁰ + s Σ_i α_i B_i A_i`` (LORPMAN).

    The low-rank part is applied as ``Σ_i α_i ((x A_iᵀ) B_iᵀ)``: ``O(m r (d_in + d_out))`` per row,
    ``W(α)`` is never formed. Parameters: ``d_in·d_out + d_out`` (shared) ``+ m·r·(d_in + d_out)``.
    Flax layout: ``kernel`` is ``W⁰ᵀ`` ``[d_in, d_out]``; ``lora_a`` ``[m, r, d_in]``,
    ``lora_b`` ``[m, d_out, r]``.

    Args:
      in_features, out_features: ``d_in``, ``d_out``.
      rank: ``r`` (default 8).
      num_objectives: ``m ≥ 2``.
      scale: ``s`` (default 1).
      use_bias: shared bias (default True).
      b_init_std: std of the ``B_i`` init (default 0.01).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> layer = pm.LowRankParetoDense(6, 4, rank=2, num_objectives=3, rngs=nnx.Rngs(0))
      >>> x, p = jnp.ones((5, 6)), jnp.array([0.2, 0.3, 0.5])
      >>> bool(jnp.allclose(layer(x, p), layer.merge(p)(x), atol=1e-5))
      True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int = 8,
        num_objectives: int = 2,
        scale: float = 1.0,
        *,
        use_bias: bool = True,
        b_init_std: float = 0.01,
        rngs: nnx.Rngs,
    ) -> None:
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.rank = check_positive_int(rank, "rank")
        self.num_objectives = check_num_objectives(num_objectives)
        self.scale = _check_scale(scale)
        self._use_bias = bool(use_bias)
        _init_layer(self, rngs, (self.in_features, self.out_features), self.in_features,
                    b_init_std)

    def delta(self, pref: Array) -> Array:
        """``s Σ_i p_i B_i A_i`` as a ``[d_out, d_in]`` matrix (for checks and merging)."""
        p = layer_pref(pref, self.num_objectives)
        return _delta_matrix(self.lora_a[...], self.lora_b[...], p, self.scale)

    def __call__(self, x: Array, pref: Array) -> Array:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"LowRankParetoDense: x has {x.shape[-1]} features, expected {self.in_features}."
            )
        p = layer_pref(pref, self.num_objectives, x.dtype)
        y = x @ self.kernel[...]
        xa = jnp.einsum("...d,mrd->...mr", x, self.lora_a[...])
        y = y + self.scale * jnp.einsum("...mr,m,mor->...o", xa, p, self.lora_b[...])
        if self.bias is not None:
            y = y + self.bias[...].reshape((1,) * (y.ndim - 1) + (self.out_features,))
        return y

    def merge(self, pref: Array) -> nnx.Linear:
        """A plain :class:`flax.nnx.Linear` with kernel ``W(p)ᵀ`` (same outputs for this ``p``)."""
        lin = nnx.Linear(self.in_features, self.out_features, use_bias=self.bias is not None,
                         rngs=nnx.Rngs(0))
        lin.kernel[...] = self.kernel[...] + self.delta(pref).T
        if self.bias is not None:
            lin.bias[...] = self.bias[...]
        return lin


class LowRankParetoConv(nnx.Module):
    r"""2-D convolution (NHWC) with a LORPMAN kernel ``W(α) = W⁰ + s Σ_i α_i B_i A_i``.

    The kernel is a ``d_out × (k_h·k_w·d_in)`` matrix (``A_i ∈ R^{r × k_h k_w d_in}`` with the
    flattening order ``(k_h, k_w, d_in)`` of Flax's ``HWIO`` layout); the merged kernel is
    formed (it is small) and convolved with ``lax.conv_general_dilated`` exactly as
    :class:`flax.nnx.Conv`. Extra parameters ``m·r·(d_out + k_h k_w d_in)``.

    Example:
      >>> import jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> conv = pm.LowRankParetoConv(1, 4, 3, rank=2, num_objectives=2, rngs=nnx.Rngs(0))
      >>> x, p = jnp.ones((2, 8, 8, 1)), jnp.array([0.4, 0.6])
      >>> bool(jnp.allclose(conv(x, p), conv.merge(p)(x), atol=1e-5))
      True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        rank: int = 8,
        num_objectives: int = 2,
        scale: float = 1.0,
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "SAME",
        use_bias: bool = True,
        b_init_std: float = 0.01,
        rngs: nnx.Rngs,
    ) -> None:
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        st = (strides, strides) if isinstance(strides, int) else tuple(strides)
        if len(ks) != 2 or len(st) != 2:
            raise ValueError(f"kernel_size and strides must be 2-D, got {ks}, {st}.")
        self.kernel_size = tuple(check_positive_int(k, "kernel_size") for k in ks)
        self.strides = tuple(check_positive_int(s, "strides") for s in st)
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}.")
        self.padding = padding
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.rank = check_positive_int(rank, "rank")
        self.num_objectives = check_num_objectives(num_objectives)
        self.scale = _check_scale(scale)
        self._use_bias = bool(use_bias)
        shape = self.kernel_size + (self.in_features, self.out_features)
        d_in = self.kernel_size[0] * self.kernel_size[1] * self.in_features
        _init_layer(self, rngs, shape, d_in, b_init_std)

    def merged_kernel(self, pref: Array) -> Array:
        """``W(p)`` in Flax's ``HWIO`` layout."""
        p = layer_pref(pref, self.num_objectives)
        d = _delta_matrix(self.lora_a[...], self.lora_b[...], p, self.scale)  # [out, kh·kw·in]
        d = d.T.reshape(self.kernel_size + (self.in_features, self.out_features))
        return self.kernel[...] + d

    def __call__(self, x: Array, pref: Array) -> Array:
        if x.ndim != 4 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"LowRankParetoConv: x must be [N, H, W, {self.in_features}], got {x.shape}."
            )
        k = self.merged_kernel(pref).astype(x.dtype)
        y = jax.lax.conv_general_dilated(
            x, k, self.strides, self.padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        if self.bias is not None:
            y = y + self.bias[...].reshape((1, 1, 1, self.out_features))
        return y

    def merge(self, pref: Array) -> nnx.Conv:
        """A plain :class:`flax.nnx.Conv` with kernel ``W(p)``."""
        conv = nnx.Conv(self.in_features, self.out_features, self.kernel_size,
                        strides=self.strides, padding=self.padding,
                        use_bias=self.bias is not None, rngs=nnx.Rngs(0))
        conv.kernel[...] = self.merged_kernel(pref)
        if self.bias is not None:
            conv.bias[...] = self.bias[...]
        return conv


class LowRankParetoMLP(nnx.Module):
    r"""MLP of :class:`LowRankParetoDense` layers (every layer, heads included, is adapted).

    ``features = (d_in, h_1, …, d_out)``; activation between layers. :meth:`merge` returns a plain
    :class:`flax.nnx.Sequential` of :class:`flax.nnx.Linear` layers for one preference.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.LowRankParetoMLP((5, 16, 3), rank=4, num_objectives=2, rngs=nnx.Rngs(0))
      >>> x, p = jnp.ones((4, 5)), jnp.array([0.3, 0.7])
      >>> bool(jnp.allclose(net(x, p), net.merge(p)(x), atol=1e-5))
      True
    """

    def __init__(
        self,
        features: Sequence[int],
        rank: int = 8,
        num_objectives: int = 2,
        scale: float = 1.0,
        *,
        activation: Callable[[Array], Array] = jax.nn.relu,
        b_init_std: float = 0.01,
        rngs: nnx.Rngs,
    ) -> None:
        features = tuple(check_positive_int(f, "features") for f in features)
        if len(features) < 2:
            raise ValueError(f"features needs at least (d_in, d_out), got {features}.")
        self.num_objectives = check_num_objectives(num_objectives)
        self.activation = activation
        self.layers = nnx.List([
            LowRankParetoDense(a, b, rank, num_objectives, scale, b_init_std=b_init_std, rngs=rngs)
            for a, b in zip(features[:-1], features[1:], strict=True)
        ])

    def __call__(self, x: Array, pref: Array) -> Array:
        h = x
        for k, layer in enumerate(self.layers):
            h = layer(h, pref)
            if k < len(self.layers) - 1:
                h = self.activation(h)
        return h

    def merge(self, pref: Array) -> nnx.Sequential:
        """The plain dense network ``θ(p)`` (no preference argument)."""
        mods: list[Any] = []
        for k, layer in enumerate(self.layers):
            mods.append(layer.merge(pref))
            if k < len(self.layers) - 1:
                mods.append(self.activation)
        return nnx.Sequential(*mods)


# --------------------------------------------------------------------- orthogonality R_o
def low_rank_gram(lora_a: Array, lora_b: Array) -> Array:
    r"""Frobenius Gram ``G_ij = ⟨B_iA_i, B_jA_j⟩_F`` without forming ``B_iA_i``.

    .. math:: G_{ij} = \operatorname{tr}\big((B_i^\top B_j)(A_j A_i^\top)\big)
              = \sum_{a,b} (B_i^\top B_j)_{ab}\,(A_i A_j^\top)_{ab},

    ``O(m² r² (d_in + d_out))``. ``lora_a`` ``[m, r, d_in]``, ``lora_b`` ``[m, d_out, r]``.

    Example:
      >>> import jax, jax.numpy as jnp, paretojax.manifold as pm
      >>> a = jax.random.normal(jax.random.key(0), (2, 3, 5))
      >>> b = jax.random.normal(jax.random.key(1), (2, 4, 3))
      >>> full = jnp.stack([(b[i] @ a[i]).ravel() for i in range(2)])
      >>> bool(jnp.allclose(pm.low_rank_gram(a, b), full @ full.T, rtol=1e-4))
      True
    """
    bb = jnp.einsum("ioa,job->ijab", lora_b, lora_b)
    aa = jnp.einsum("iad,jbd->ijab", lora_a, lora_a)
    return jnp.sum(bb * aa, axis=(2, 3))


def _layer_ortho(a: Array, b: Array, idx: Array | None, eps: float) -> Array:
    if idx is not None:
        a, b = a[idx], b[idx]
    g = low_rank_gram(a, b)
    d = jnp.sqrt(jnp.maximum(jnp.diagonal(g), 0.0) + eps)
    c = g / (d[:, None] * d[None, :])
    off = 1.0 - jnp.eye(g.shape[0], dtype=g.dtype)
    return jnp.sum(jnp.square(c) * off)


def orthogonality_regularizer(
    model: nnx.Module, *, key: Array | None = None, num_sampled: int = 3, eps: float = 1e-12
) -> Array:
    r"""LORPMAN's orthogonality regulariser ``R_o``, summed over the model's LORPMAN layers.

    Per layer, with ``M = [vec(B_iA_i)]_i`` and the cosine Gram ``C = D^{-1/2} MᵀM D^{-1/2}``
    (``D = diag(MᵀM) + ε``; scale-free: rescaling any ``A_i`` or ``B_i`` leaves it unchanged),

    .. math:: R_o = \sum_{i \ne j \in S} C_{ij}^2,

    computed with :func:`low_rank_gram` (``B_iA_i`` never formed). ``S`` = all tasks when
    ``m ≤ num_sampled``, else ``num_sampled`` (default 3, as the paper) tasks drawn without
    replacement with ``key`` (the same tasks for every layer). The paper penalises the
    off-diagonal of ``MᵀM`` with normalised columns; the squared form is paretojax's choice
    (smooth at 0). Chen & Kwok, ICML 2024.

    Args:
      model: a LORPMAN layer or any module containing them.
      key: PRNG key, required when ``m > num_sampled``.

    Example:
      >>> import jax, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.LowRankParetoMLP((5, 8, 2), rank=2, num_objectives=2, rngs=nnx.Rngs(0))
      >>> float(pm.orthogonality_regularizer(net)) >= 0.0
      True
    """
    layers = [n for _, n in nnx.iter_graph(model)
              if isinstance(n, LowRankParetoDense | LowRankParetoConv)]
    if not layers:
        raise ValueError("orthogonality_regularizer: the model has no LowRankPareto layers.")
    m = layers[0].num_objectives
    num_sampled = check_positive_int(num_sampled, "num_sampled")
    idx = None
    if m > num_sampled:
        if key is None:
            raise ValueError(
                f"orthogonality_regularizer: m = {m} > num_sampled = {num_sampled} needs a key "
                "to sample the task subset."
            )
        idx = jax.random.choice(key, m, (num_sampled,), replace=False)
    return sum(_layer_ortho(ly.lora_a[...], ly.lora_b[...], idx, eps) for ly in layers)


# --------------------------------------------------------------------------- freezing W⁰
def lorpman_optimizer(
    model: nnx.Module, tx: optax.GradientTransformation, freeze_step: int | None
) -> optax.GradientTransformation:
    r"""``tx`` for every parameter, with ``W⁰`` (:class:`LowRankParetoBase`) frozen from
    ``freeze_step`` on (LORPMAN's two phases; paper: ``E_freeze = 0.8·epochs``).

    Built as ``optax.multi_transform``: the base group runs ``tx`` followed by a step schedule
    that zeroes its updates once ``count ≥ freeze_step`` (zeroing *updates*, not gradients, so
    Adam momentum cannot move frozen weights). Use with
    ``nnx.Optimizer(model, tx, wrt=nnx.Param)``. ``freeze_step=None`` never freezes.

    Example:
      >>> import optax, paretojax.manifold as pm
      >>> from flax import nnx
      >>> net = pm.LowRankParetoMLP((4, 8, 2), rank=2, num_objectives=2, rngs=nnx.Rngs(0))
      >>> tx = pm.lorpman_optimizer(net, optax.adam(1e-3), freeze_step=80)
      >>> opt = nnx.Optimizer(net, tx, wrt=nnx.Param)
    """
    if freeze_step is not None and (int(freeze_step) != freeze_step or freeze_step < 0):
        raise ValueError(f"freeze_step must be a non-negative integer or None, got {freeze_step}.")
    labels = jax.tree.map(
        lambda v: "base" if isinstance(v, LowRankParetoBase) else "rest",
        nnx.state(model, nnx.Param),
        is_leaf=lambda v: isinstance(v, nnx.Variable),
    )
    if freeze_step is None:
        base_tx = tx
    else:
        fs = int(freeze_step)
        base_tx = optax.chain(
            tx, optax.scale_by_schedule(lambda c: jnp.where(c < fs, 1.0, 0.0))
        )
    return optax.multi_transform({"base": base_tx, "rest": tx}, labels)
