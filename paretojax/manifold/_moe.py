r"""PWE-MoE: Pareto-weight-ensembling mixture of task vectors with a preference router.

Tang, Shen, Luo, Liu, Hu, Du, "Towards Efficient Pareto Set Approximation via Mixture of Experts
Based Model Fusion", arXiv 2406.09770 (2024); official ``tanganke/fusion_bench``
(``fusion_bench/method/pwe_moe/module.py``). From a pre-trained ``θ₀`` and ``K`` fine-tuned experts
``θ_k`` (same architecture), task vectors ``τ_k = θ_k − θ₀`` are frozen and

.. math::

    \theta_g(p) = \theta_{0,g} + \sum_{k=1}^K w_{g,k}(p)\,\tau_{k,g}
    \quad\text{(selected modules } g\text{)},\qquad
    \theta_\text{rest} = \theta_{0} + \lambda_0 \sum_k \tau_k \quad\text{(task arithmetic)},

with one router per selected module ``w_g(p) = W_2\,\mathrm{ReLU}(W_1 p + b_1) + b_2``
(``K → 2K → K``; weights ``N(0, 0.01²)``, ``b_1 = 0``, ``b_2 = λ_0 = 0.3``), so at init every
module is close to task arithmetic. Only the routers train (``nnx.Param``); ``θ₀``, ``τ`` and the
merged rest are :class:`FrozenWeights`. Training (official): ``p ~ Dir(1)``, LS ``Σ p_k CE_k``,
Adam 1e-5 cosine to 0.1·lr over 8000 steps, batch 16 per task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from paretojax.manifold._conditioning import check_num_objectives, layer_pref

Array = jax.Array

__all__ = ["FrozenWeights", "PWEMoE"]


class FrozenWeights(nnx.Variable):
    """Frozen ``θ₀``, task vectors and merged weights of :class:`PWEMoE` (never trained).

    Example:
      >>> from flax import nnx
      >>> from paretojax.manifold import FrozenWeights, PWEMoE
      >>> mk = lambda s: nnx.Linear(3, 2, rngs=nnx.Rngs(s))
      >>> moe = PWEMoE(mk(0), [mk(1), mk(2)], rngs=nnx.Rngs(3))
      >>> sorted(nnx.state(moe, FrozenWeights).keys())
      ['rest', 'segment', 'task_vectors', 'theta0']
      >>> sorted(nnx.state(moe, nnx.Param).keys())  # only the router is trainable
      ['b1', 'b2', 'w1', 'w2']
    """


def _key_name(k: Any) -> Any:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return getattr(k, attr)
    return str(k)


def _paths_and_leaves(state: Any) -> tuple[list[tuple], list[np.ndarray], Any]:
    # Host (NumPy) copies: the one-off fusion bookkeeping below needs no device compiles.
    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    paths = [tuple(_key_name(k) for k in path if _key_name(k) != "value") for path, _ in flat]
    return paths, [np.asarray(v) for _, v in flat], treedef


class PWEMoE(nnx.Module):
    r"""Preference-routed fusion of ``K`` experts sharing ``base``'s architecture (PWE-MoE).

    Args:
      base: the pre-trained module ``θ₀`` (any NNX module; its call signature is reused).
      experts: ``K ≥ 2`` fine-tuned copies (identical structure).
      select: ``path -> bool`` on a parameter path (tuple of attribute names / indices, e.g.
        ``('layers', 0, 'kernel')``); selected parameters are routed, one router per module
        (path without its last entry). Default: every floating-point parameter.
      init_lambda: ``λ₀`` (default 0.3): task-arithmetic coefficient and router output bias.
      router_layers: 2 (``K → 2K → K``, default) or 1 (``K → K``).

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from paretojax.manifold import PWEMoE
      >>> mk = lambda s: nnx.Linear(3, 2, rngs=nnx.Rngs(s))
      >>> moe = PWEMoE(mk(0), [mk(1), mk(2)], rngs=nnx.Rngs(3))
      >>> moe(jnp.ones((4, 3)), jnp.array([0.5, 0.5])).shape
      (4, 2)
      >>> moe.router_weights(jnp.array([0.5, 0.5])).shape  # one router per module
      (1, 2)
    """

    def __init__(
        self,
        base: nnx.Module,
        experts: Sequence[nnx.Module],
        *,
        select: Callable[[tuple], bool] | None = None,
        init_lambda: float = 0.3,
        router_layers: int = 2,
        rngs: nnx.Rngs,
    ) -> None:
        self.num_objectives = k = check_num_objectives(len(experts), "len(experts)")
        if router_layers not in (1, 2):
            raise ValueError(f"router_layers must be 1 or 2, got {router_layers}.")
        graphdef, state = nnx.split(base)
        paths, leaves, treedef = _paths_and_leaves(state)
        exp_leaves = []
        for e in experts:
            g, s = nnx.split(e)
            p_e, l_e, t_e = _paths_and_leaves(s)
            if g != graphdef or t_e != treedef or any(
                a.shape != b.shape for a, b in zip(l_e, leaves, strict=True)
            ):
                raise ValueError("PWEMoE: every expert must have the base's exact structure.")
            exp_leaves.append(l_e)
        sel_fn = select if select is not None else (lambda path: True)
        if not all(np.issubdtype(v.dtype, np.floating) for v in leaves):
            raise ValueError("PWEMoE: the base module must hold only floating-point variables.")
        selected = [bool(sel_fn(p)) for p in paths]
        if not any(selected):
            raise ValueError("PWEMoE: `select` matched no floating-point parameter.")
        groups = sorted({p[:-1] for p, s in zip(paths, selected, strict=True) if s}, key=str)
        gid = {g: i for i, g in enumerate(groups)}

        lam = float(init_lambda)
        sel_base, sel_tau, seg, rest = [], [], [], []
        layout = []  # per leaf: (selected, offset, shape)
        off_s = off_r = 0
        for i, (p, v) in enumerate(zip(paths, leaves, strict=True)):
            taus = [el[i] - v for el in exp_leaves]
            if selected[i]:
                sel_base.append(v.ravel())
                sel_tau.append(np.stack([t.ravel() for t in taus]))
                seg.append(np.full(v.size, gid[p[:-1]], np.int32))
                layout.append((True, off_s, v.shape, str(v.dtype)))
                off_s += v.size
            else:
                rest.append((v + lam * sum(taus)).ravel().astype(np.float32))
                layout.append((False, off_r, v.shape, str(v.dtype)))
                off_r += v.size
        self.theta0 = FrozenWeights(jnp.asarray(np.concatenate(sel_base), jnp.float32))
        self.task_vectors = FrozenWeights(
            jnp.asarray(np.concatenate(sel_tau, axis=1), jnp.float32)
        )
        self.segment = FrozenWeights(jnp.asarray(np.concatenate(seg)))
        self.rest = FrozenWeights(
            jnp.asarray(np.concatenate(rest) if rest else np.zeros((0,)), jnp.float32)
        )
        self.module_paths = tuple(groups)
        self._graphdef = graphdef
        self._treedef = treedef
        self._layout = tuple(layout)

        n_g, init = len(groups), nnx.initializers.normal(0.01)
        self.router_layers = int(router_layers)
        if router_layers == 2:
            self.w1 = nnx.Param(init(rngs.params(), (n_g, k, 2 * k)))
            self.b1 = nnx.Param(jnp.zeros((n_g, 2 * k)))
            self.w2 = nnx.Param(init(rngs.params(), (n_g, 2 * k, k)))
        else:
            self.w2 = nnx.Param(init(rngs.params(), (n_g, k, k)))
        self.b2 = nnx.Param(jnp.full((n_g, k), lam))

    def router_weights(self, pref: Array) -> Array:
        """``w_g(p)`` for every routed module ``g``: ``[G, K]``."""
        p = layer_pref(pref, self.num_objectives)
        if self.router_layers == 2:
            h = jax.nn.relu(jnp.einsum("k,gkh->gh", p, self.w1[...]) + self.b1[...])
        else:
            h = jnp.broadcast_to(p[None, :], (self.b2.shape[0], self.num_objectives))
        return jnp.einsum("gh,ghk->gk", h, self.w2[...]) + self.b2[...]

    def merge(self, pref: Array) -> nnx.Module:
        """The fused module ``θ(p)`` (a plain instance of the base's class)."""
        w = self.router_weights(pref)  # [G, K]
        coef = w[self.segment[...]]  # [D_s, K]
        sel = self.theta0[...] + jnp.sum(coef * self.task_vectors[...].T, axis=1)
        leaves = []
        for is_sel, off, shape, dtype in self._layout:
            size = int(np.prod(shape, dtype=np.int64))
            src = sel if is_sel else self.rest[...]
            leaves.append(src[off : off + size].reshape(shape).astype(dtype))
        return nnx.merge(self._graphdef, jax.tree_util.tree_unflatten(self._treedef, leaves))

    def __call__(self, x: Any, pref: Array, *args: Any, **kwargs: Any) -> Any:
        return self.merge(pref)(x, *args, **kwargs)
