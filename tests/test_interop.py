"""paretojax transforms inside the optax / flax ecosystem.

* ``optax.chain`` (method → optimizer), against the two steps done by hand;
* ``optax.inject_hyperparams``: the preference (``pj.tch``, ``pj.stch``) or a numeric
  hyperparameter (``pj.cagrad(c=…)``) becomes a state entry that can be changed between steps
  without re-jitting — the result must equal a fresh transform built with that value;
* ``flax.nnx.Optimizer`` with per-task gradients from ``jax.jacrev`` on the ``nnx.State``;
* ``optax.experimental.aggregating``: paretojax transforms *are* ``Aggregator`` s and follow its
  leading-axis convention, so ``aggregating.process`` composes them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from optax.experimental import aggregating

import paretojax as pj

_J = {"w": jnp.array([[1.0, 0.5, -1.0], [-0.5, 2.0, 0.3]]), "b": jnp.array([[0.2], [-0.4]])}
_L = jnp.array([1.0, 2.0])
_P = {"w": jnp.zeros(3), "b": jnp.zeros(1)}


def _close(a, b, tol=1e-6):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def _upd(tx, **kw):
    return jax.jit(lambda j, s: tx.update(j, s, _P, task_losses=_L, **kw))(_J, tx.init(_P))


def test_chain_equals_manual_two_stage():
    tx = optax.chain(pj.mgda(), optax.adam(0.1))
    u, _ = _upd(tx)
    d, _ = pj.mgda().update(_J, pj.mgda().init(_P), _P, task_losses=_L)
    adam = optax.adam(0.1)
    ref, _ = adam.update(d, adam.init(_P), _P)
    _close(u, ref)


@pytest.mark.parametrize("factory", [pj.tch, pj.stch])
def test_inject_hyperparams_preference(factory):
    """The preference as an injected hyperparameter: set ``state.hyperparams["pref"]``."""
    tx = optax.inject_hyperparams(factory)(pref=jnp.array([0.3, 0.7]))
    step = jax.jit(lambda s, p: tx.update(_J, s, _P, task_losses=_L))
    state = tx.init(_P)
    for p in (jnp.array([0.3, 0.7]), jnp.array([0.9, 0.1])):
        state.hyperparams["pref"] = p
        u, state = step(state, None)
        ref_tx = factory(pref=p)
        ref, _ = ref_tx.update(_J, ref_tx.init(_P), _P, task_losses=_L)
        _close(u, ref)
    assert step._cache_size() == 1  # changing the preference did not re-trace
    # an update-time ``pref=`` takes precedence over the injected one (documented order)
    u, _ = tx.update(_J, tx.init(_P), _P, task_losses=_L, pref=jnp.array([0.5, 0.5]))
    ref_tx = factory()
    ref, _ = ref_tx.update(_J, ref_tx.init(_P), _P, task_losses=_L, pref=jnp.array([0.5, 0.5]))
    _close(u, ref)


def test_inject_hyperparams_stch_mu():
    """STCH's smoothing μ as an injected (traced) hyperparameter."""
    tx = optax.inject_hyperparams(pj.stch)(mu=0.5, pref=jnp.array([0.3, 0.7]))
    step = jax.jit(lambda s: tx.update(_J, s, _P, task_losses=_L))
    state = tx.init(_P)
    for mu in (0.5, 0.05):
        state.hyperparams["mu"] = jnp.asarray(mu)
        u, state = step(state)
        ref_tx = pj.stch(mu=mu, pref=jnp.array([0.3, 0.7]))
        _close(u, ref_tx.update(_J, ref_tx.init(_P), _P, task_losses=_L)[0])
    assert step._cache_size() == 1


def test_inject_hyperparams_numeric_cagrad_c():
    """A numeric hyperparameter (CAGrad's c); loop counts and flags stay static."""
    static = ("eps", "norm_eps", "num_iters", "rescale", "torchjd")
    tx = optax.chain(
        optax.inject_hyperparams(pj.cagrad, static_args=static)(c=0.2),
        optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
    )
    step = jax.jit(lambda s: tx.update(_J, s, _P, task_losses=_L))
    state = tx.init(_P)
    for c in (0.2, 0.8):
        state[0].hyperparams["c"] = jnp.asarray(c)
        u, _ = step(state)
        ref, _ = pj.cagrad(c=c).update(_J, pj.cagrad(c=c).init(_P), _P, task_losses=_L)
        _close(u, jax.tree_util.tree_map(lambda g: -0.1 * g, ref), tol=2e-5)
    assert step._cache_size() == 1


def test_inject_hyperparams_epo_update_time_pref():
    tx = optax.inject_hyperparams(pj.epo, static_args=("eps", "relaxed", "max_iter"))()
    p = jnp.array([0.25, 0.75])
    u, _ = tx.update(_J, tx.init(_P), _P, task_losses=_L, pref=p)
    ref, _ = pj.epo().update(_J, pj.epo().init(_P), _P, task_losses=_L, pref=p)
    _close(u, ref)


class _TwoHeads(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.body = nnx.Linear(3, 4, rngs=rngs)
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(jnp.tanh(self.body(x)))


def test_nnx_optimizer_with_per_task_gradients():
    """The nnx pattern: split → ``jacrev`` of the loss vector on the params state → update."""
    x = jax.random.normal(jax.random.key(0), (16, 3))
    y = jnp.stack([x.sum(1), x[:, 0] * x[:, 1]], 1)

    def loss_vector(model: _TwoHeads) -> jax.Array:
        return jnp.mean((model(x) - y) ** 2, axis=0)  # [m] = [2]

    model = _TwoHeads(nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.chain(pj.upgrad(), optax.adam(1e-2))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    # reference: the same step as a pure function of the params pytree
    pure = nnx.as_pure(params)
    f = lambda p: loss_vector(nnx.merge(graphdef, p, rest))  # noqa: E731
    losses_ref, jac_ref = pj.value_and_jacobian(f)(pure)
    upd, _ = tx.update(jac_ref, tx.init(pure), pure, task_losses=losses_ref)
    expected = optax.apply_updates(pure, upd)

    @nnx.jit
    def train_step(model: _TwoHeads, optimizer: nnx.Optimizer) -> jax.Array:
        gdef, p, r = nnx.split(model, nnx.Param, ...)
        losses = loss_vector(model)
        jac = jax.jacrev(lambda q: loss_vector(nnx.merge(gdef, q, r)))(p)  # leaves [m, ...]
        optimizer.update(model, jac, task_losses=losses)
        return losses

    losses = train_step(model, optimizer)
    _close(losses, losses_ref)
    _close(nnx.as_pure(nnx.state(model, nnx.Param)), expected, tol=1e-6)
    for _ in range(30):
        losses = train_step(model, optimizer)
    assert bool(jnp.all(losses < losses_ref))  # a descent direction for both tasks


def test_transforms_are_aggregators():
    assert isinstance(pj.upgrad(), aggregating.Aggregator)


def test_optax_experimental_aggregating():
    """Leading-axis convention, and composition with ``aggregating.process``."""
    # leading-axis convention: pj.linear (uniform) == optax's per-element average
    avg = aggregating.average_per_element_updates()
    u_avg, _ = avg.update(_J, avg.init(_P))
    u_lin, _ = pj.linear().update(_J, pj.linear().init(_P))
    _close(u_avg, u_lin)
    # preprocess (per-task clipping) → paretojax aggregator → optimizer
    clip = optax.with_extra_args_support(
        optax.stateless(lambda g, _: jax.vmap(optax.projections.projection_l2_ball)(g))
    )
    tx = aggregating.process(clip, pj.upgrad(), optax.sgd(0.1))
    u, _ = jax.jit(lambda s: tx.update(_J, s, _P, task_losses=_L))(tx.init(_P))
    clipped = jax.vmap(optax.projections.projection_l2_ball)(_J)
    ref, _ = optax.chain(pj.upgrad(), optax.sgd(0.1)).update(
        clipped, optax.chain(pj.upgrad(), optax.sgd(0.1)).init(_P), _P, task_losses=_L
    )
    _close(u, ref)


# ---- jaxtyping shapes on public signatures --------------------------------------------------
# beartype / typeguard are not installed, so the annotations are checked here with jaxtyping's
# own isinstance machinery inside one ``jaxtyped`` memo (dimension names bind across arguments
# and the return value), which is what a runtime type checker would do.


def _matches(x, hint) -> bool:
    import typing

    if typing.get_origin(hint) in (typing.Union, __import__("types").UnionType):
        return any(_matches(x, h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is not None or hint is typing.Any:
        return True  # only jaxtyping array annotations are checked
    return isinstance(x, hint) if isinstance(hint, type) else True


def _typecheck(fn, *args, **kwargs):
    """Call ``fn``; raise TypeError if an argument or the result violates its annotation."""
    import inspect
    import typing

    import jaxtyping

    hints = typing.get_type_hints(fn, include_extras=True)
    bound = inspect.signature(fn).bind(*args, **kwargs)

    @jaxtyping.jaxtyped(typechecker=None)
    def run():
        for name, value in bound.arguments.items():
            if name in hints and not _matches(value, hints[name]):
                raise TypeError(f"{fn.__name__}: argument {name} does not match {hints[name]}")
        out = fn(*bound.args, **bound.kwargs)
        if "return" in hints and not _matches(out, hints["return"]):
            raise TypeError(f"{fn.__name__}: result does not match {hints['return']}")
        return out

    return run()


_Y = jnp.array([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0]])
_PREFS = jnp.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8]])

_TYPED_OK = [
    (pj.project_simplex, (jnp.ones((4, 3)),)),
    (pj.das_dennis, (3, 4)),
    (pj.linspace_prefs, (5,)),
    (pj.sample_dirichlet, (jax.random.key(0), 3, 4)),
    (pj.hypervolume, (_Y, jnp.array([4.0, 4.0]))),
    (pj.hv_gradient, (_Y, jnp.array([4.0, 4.0]))),
    (pj.hv_contributions, (_Y, jnp.array([4.0, 4.0]))),
    (pj.igd, (_Y, _Y[:2])),
    (pj.metrics.nondominated, (_Y,)),
    (pj.metrics.nondominated_sort, (_Y,)),
    (pj.metrics.inner_product, (_Y, _PREFS)),
    (pj.metrics.normalize, (_Y, jnp.zeros(2), jnp.full((2,), 4.0))),
]


@pytest.mark.parametrize("fn,args", _TYPED_OK, ids=lambda v: getattr(v, "__name__", ""))
def test_jaxtyping_annotations_hold(fn, args):
    _typecheck(fn, *args)


def test_jaxtyping_annotations_catch_shape_mismatch():
    # the checker itself must be able to fail: m differs between the two fronts
    with pytest.raises(TypeError, match="reference_front"):
        _typecheck(pj.igd, _Y, jnp.ones((4, 3)))
    with pytest.raises(TypeError, match="ref"):
        _typecheck(pj.hypervolume, _Y, jnp.ones((3,)))
    with pytest.raises(TypeError, match="prefs"):
        _typecheck(pj.metrics.inner_product, _Y, _PREFS[:2])
