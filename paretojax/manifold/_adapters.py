r"""Preference-conditioned low-rank adapters around any dense layer: Panacea SVD-LoRA and PBLoRA.

Both wrap an existing :class:`flax.nnx.Linear` (``y = x W₀ᵀ + b``, Flax kernel ``W₀ᵀ``) and add a
preference-dependent ``ΔW(p)``; the adapter's trainable parameters are :class:`AdapterParam`
(train only them with ``nnx.Optimizer(model, tx, wrt=AdapterParam)`` / ``nnx.DiffState``; the
wrapped layer keeps ordinary ``nnx.Param`` s). ``p`` is a call argument, not a parameter.

* **Panacea** (Zhong et al., "Panacea: Pareto Alignment via Preference Adaptation for LLMs",
  NeurIPS 2024): ``W = W₀ + (α/k)·U diag(σ_1..σ_k, s·p_1..s·p_m) Vᵀ``.
* **PBLoRA** (Lin, Jiang, Xu, Chen, Chen, "PARM", ICML 2025; official ``Baijiong-Lin/PARM``
  ``peft/src/peft/tuners/pblora/layer.py``): a preference-agnostic block ``B₁W₁A₁`` plus a
  preference block ``B₂ reshape(pᵀW₂) A₂``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from paretojax.manifold._conditioning import (
    check_num_objectives,
    check_positive_int,
    layer_pref,
)

Array = jax.Array

__all__ = ["AdapterParam", "PanaceaDense", "PBLoRADense"]


class AdapterParam(nnx.Param):
    """Trainable parameters of a preference adapter (Panacea / PBLoRA).

    Example:
      >>> from flax import nnx
      >>> from paretojax.manifold import AdapterParam, PanaceaDense
      >>> base = nnx.Linear(6, 4, rngs=nnx.Rngs(0))
      >>> ad = PanaceaDense(base, rank=2, num_objectives=3, rngs=nnx.Rngs(1))
      >>> sorted(nnx.state(ad, AdapterParam).keys())  # the adapter only, not the base layer
      ['lora_u', 'lora_v', 'pref_scale', 'sigma']
    """


def _kaiming_uniform(key: Array, shape: tuple[int, ...], fan_in: int) -> Array:
    # torch's nn.init.kaiming_uniform_(a=√5): bound = sqrt(6 / ((1 + a²) fan_in)) = 1/√fan_in.
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def _check_linear(base: nnx.Linear, who: str) -> None:
    if not isinstance(base, nnx.Linear):
        raise ValueError(f"{who} wraps an nnx.Linear, got {type(base).__name__}.")


def _merged_linear(base: nnx.Linear, delta: Array) -> nnx.Linear:
    lin = nnx.Linear(base.in_features, base.out_features, use_bias=base.bias is not None,
                     rngs=nnx.Rngs(0))
    lin.kernel[...] = base.kernel[...] + delta.T
    if base.bias is not None:
        lin.bias[...] = base.bias[...]
    return lin


def _apply(base: nnx.Linear, x: Array, delta_kernel_apply: Array) -> Array:
    if x.shape[-1] != base.in_features:
        raise ValueError(f"x has {x.shape[-1]} features, expected {base.in_features}.")
    return base(x) + delta_kernel_apply


class PanaceaDense(nnx.Module):
    r"""Panacea SVD-LoRA adapter: preference values injected as singular values.

    .. math:: W(p) = W_0 + \frac{\alpha}{k}\,U\,\mathrm{diag}(\sigma_1,\dots,\sigma_k,
              s p_1,\dots,s p_m)\,V^\top,
              \quad U \in R^{d_\text{out}\times(k+m)},\ V \in R^{d_\text{in}\times(k+m)}

    ``σ`` (preference-agnostic) and the per-layer scale ``s`` are learned; ``p`` is injected.
    Init as the public PyTorch re-implementations of Panacea's ``Panacea_SVD_Linear``:
    ``Vᵀ`` Kaiming-uniform (``a = √5``), ``U = 0`` (so ``ΔW = 0`` at init), ``σ ~ N(0, 0.02²)``,
    ``s ~ N(0, 0.5²)``; ``α = lora_alpha`` (default 1), ``k = rank`` (default 8). Zhong et al.,
    NeurIPS 2024 (paper; training p ~ uniform on Δ, LS or TCH over per-objective losses).

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from paretojax.manifold import PanaceaDense
      >>> base = nnx.Linear(6, 4, rngs=nnx.Rngs(0))
      >>> ad = PanaceaDense(base, rank=2, num_objectives=3, rngs=nnx.Rngs(1))
      >>> x, p = jnp.ones((5, 6)), jnp.array([0.2, 0.3, 0.5])
      >>> bool(jnp.allclose(ad(x, p), base(x)))  # U = 0 at init
      True
    """

    def __init__(
        self,
        base: nnx.Linear,
        rank: int = 8,
        num_objectives: int = 2,
        *,
        lora_alpha: float = 1.0,
        rngs: nnx.Rngs,
    ) -> None:
        _check_linear(base, "PanaceaDense")
        self.base = base
        self.rank = check_positive_int(rank, "rank")
        self.num_objectives = m = check_num_objectives(num_objectives)
        self.scaling = float(lora_alpha) / self.rank
        d_in, d_out, k = base.in_features, base.out_features, self.rank + m
        self.lora_v = AdapterParam(_kaiming_uniform(rngs.params(), (k, d_in), d_in))  # Vᵀ
        self.lora_u = AdapterParam(jnp.zeros((d_out, k)))
        self.sigma = AdapterParam(0.02 * jax.random.normal(rngs.params(), (self.rank,)))
        self.pref_scale = AdapterParam(0.5 * jax.random.normal(rngs.params(), ()))

    def singular_values(self, pref: Array) -> Array:
        """``[σ_1..σ_k, s·p_1..s·p_m]``."""
        p = layer_pref(pref, self.num_objectives)
        return jnp.concatenate([self.sigma[...], self.pref_scale[...] * p])

    def delta(self, pref: Array) -> Array:
        """``ΔW(p)`` as ``[d_out, d_in]``."""
        d = self.singular_values(pref)
        return self.scaling * (self.lora_u[...] * d[None, :]) @ self.lora_v[...]

    def __call__(self, x: Array, pref: Array) -> Array:
        d = self.singular_values(pref).astype(x.dtype)
        h = x @ self.lora_v[...].T
        h = h * d.reshape((1,) * (h.ndim - 1) + d.shape)
        return _apply(self.base, x, self.scaling * (h @ self.lora_u[...].T))

    def merge(self, pref: Array) -> nnx.Linear:
        """A plain :class:`flax.nnx.Linear` with ``W(p) = W₀ + ΔW(p)``."""
        return _merged_linear(self.base, self.delta(pref))


class PBLoRADense(nnx.Module):
    r"""PBLoRA (PARM) adapter: a shared block plus a preference-generated core.

    .. math:: \Delta W(p) = \frac{\alpha}{r_2}\Big(B_{:, :r_1} W_1 A_{:r_1}
              + B_{:, r_1:}\,\mathrm{reshape}(p^\top W_2,\ r_2\times r_2)\,A_{r_1:}\Big)

    ``A ∈ R^{(r₁+r₂)×d_in}``, ``B ∈ R^{d_out×(r₁+r₂)}``, ``W₁ ∈ R^{r₁×r₁}``, ``W₂ ∈ R^{m×r₂²}``.
    Init (official ``Baijiong-Lin/PARM`` ``pblora/layer.py``): ``A, W₁, W₂`` Kaiming-uniform
    (``a = √5``, torch fan-in = last axis), ``B = 0`` ⇒ ``ΔW = 0`` at init. Defaults
    ``r₁ = r₂ = 4``, ``α = 8``. Lin et al., ICML 2025.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from paretojax.manifold import PBLoRADense
      >>> base = nnx.Linear(6, 4, rngs=nnx.Rngs(0))
      >>> ad = PBLoRADense(base, num_objectives=2, rngs=nnx.Rngs(1))
      >>> x = jnp.ones((5, 6))
      >>> bool(jnp.allclose(ad(x, jnp.array([0.5, 0.5])), base(x)))  # B = 0 at init
      True
    """

    def __init__(
        self,
        base: nnx.Linear,
        num_objectives: int = 2,
        *,
        r1: int = 4,
        r2: int = 4,
        lora_alpha: float = 8.0,
        rngs: nnx.Rngs,
    ) -> None:
        _check_linear(base, "PBLoRADense")
        self.base = base
        self.num_objectives = m = check_num_objectives(num_objectives)
        self.r1 = check_positive_int(r1, "r1")
        self.r2 = check_positive_int(r2, "r2")
        self.scaling = float(lora_alpha) / self.r2
        d_in, d_out, r = base.in_features, base.out_features, self.r1 + self.r2
        self.lora_a = AdapterParam(_kaiming_uniform(rngs.params(), (r, d_in), d_in))
        self.lora_b = AdapterParam(jnp.zeros((d_out, r)))
        self.w1 = AdapterParam(_kaiming_uniform(rngs.params(), (self.r1, self.r1), self.r1))
        self.w2 = AdapterParam(
            _kaiming_uniform(rngs.params(), (m, self.r2 * self.r2), self.r2 * self.r2)
        )

    def core(self, pref: Array) -> Array:
        """Block-diagonal core ``diag(W₁, reshape(pᵀW₂))`` ``[(r₁+r₂), (r₁+r₂)]``."""
        p = layer_pref(pref, self.num_objectives)
        w2 = (p @ self.w2[...]).reshape(self.r2, self.r2)
        top = jnp.concatenate([self.w1[...], jnp.zeros((self.r1, self.r2))], axis=1)
        bot = jnp.concatenate([jnp.zeros((self.r2, self.r1)), w2], axis=1)
        return jnp.concatenate([top, bot], axis=0)

    def delta(self, pref: Array) -> Array:
        """``ΔW(p)`` as ``[d_out, d_in]``."""
        return self.scaling * self.lora_b[...] @ self.core(pref) @ self.lora_a[...]

    def __call__(self, x: Array, pref: Array) -> Array:
        c = self.core(pref).astype(x.dtype)
        h = x @ self.lora_a[...].T @ c.T
        return _apply(self.base, x, self.scaling * (h @ self.lora_b[...].T))

    def merge(self, pref: Array) -> nnx.Linear:
        """A plain :class:`flax.nnx.Linear` with ``W(p) = W₀ + ΔW(p)``."""
        return _merged_linear(self.base, self.delta(pref))
