r"""Hypervolume, hypervolume contributions and the hypervolume gradient.

Minimisation convention. For a finite set :math:`Y = \{y_1, \dots, y_n\} \subset R^m` and a
reference point :math:`r` the hypervolume is the Lebesgue measure of the dominated box union

.. math:: HV(Y; r) = \lambda\Big(\bigcup_k [y_k, r)\Big).

A point that is not *strictly* inside the box (``any(y_k >= r)``) spans an empty box and
contributes nothing; non-finite points (NaN) are treated the same way. The reference point is
always an explicit argument (LibMOON reports HV with ``r = 1`` on raw objectives, METHODS.md §1.1).

Paths (METHODS.md §10.1):

* ``m = 2`` — exact, in JAX: sort by :math:`y_1`, running minimum of :math:`y_2`,
  :math:`HV = \sum_k (y_{k+1,1} - y_{k,1})(r_2 - \min_{j \le k} y_{j,2})`. O(n log n).
* ``m = 3`` — exact, in JAX: a sweep over :math:`y_1` keeping, per column of the sorted
  :math:`y_2` grid, the smallest :math:`y_3` of the points seen so far (the grid-cell
  decomposition of §10.1 with the third axis as the cell value,
  :math:`HV = \sum_{i,j} w_i v_j (r_3 - h_{ij})`). ``h`` is non-increasing along the columns, so
  an insertion only rewrites the contiguous run of columns it improves; the sweep touches that
  run in fixed-size windows (``dynamic_update_slice`` in place). Work :math:`O(\sum_k L_k)`
  with :math:`L_k` the run lengths — about :math:`O(n^{1.5})` on typical 3-D fronts,
  :math:`O(n^2)` in the worst case — and O(n) memory, but n sequential steps. moocore's HV3D+
  is O(n log n): see ``bench/bench_hv.py`` for the measured gap (it grows with n).
* ``m >= 4`` — exact on the host with ``moocore`` (HV4D+ for m = 4, FPL recursion beyond) behind
  :func:`jax.pure_callback`: callable from ``jit``/``vmap`` code, meant for logging/evaluation,
  not for training loops. :func:`hypervolume_mc` is an in-``jit`` Monte-Carlo estimate.

Sorting goes through integer keys of the float bits (XLA:CPU sorts one integer operand several
times faster than floats or several operands).

Differentiation. For m = 2, 3 :func:`hypervolume` carries a ``custom_jvp`` whose derivative is the
exact Emmerich–Deutz gradient (Emmerich & Deutz, "Time complexity and zeros of the hypervolume
indicator gradient field", 2014): :math:`\partial HV/\partial y_{k,i}` is minus the
(m−1)-volume of the face, orthogonal to axis i, of the region dominated by :math:`y_k` only.
Conventions (the gradient exists almost everywhere; at ties these are the values returned):

* dominated, weakly dominated and outside-the-box points get 0;
* duplicates: the set is treated as a set — the first copy (lowest index) carries the gradient
  of the de-duplicated set, later copies get 0 (so identical solutions still move under HV
  ascent). Contributions follow the definition instead and are 0 for every copy.
* at other ties between distinct points (an equal coordinate) HV is not differentiable; the
  value returned is then a one-sided derivative fixed by the sweep's tie order, which can differ
  from :func:`hv_gradient_host` (always the exclusive face, i.e. the derivative for increasing
  coordinates);
* the reference point also receives its exact derivative (the (m−1)-volume of the dominated
  region's face on the plane :math:`y_i = r_i`).

For m >= 4 the gradient is computed on the host from the same definition (one moocore
contribution call per point and axis: for small sets only).
"""

from __future__ import annotations

# ruff: noqa: F722  (jaxtyping shape strings such as "n m" are not Python expressions)
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import ArrayLike, Float

Array = jax.Array

__all__ = [
    "hypervolume",
    "hv_contributions",
    "hv_gradient",
    "hypervolume_mc",
    "hypervolume_host",
    "hv_contributions_host",
    "hv_gradient_host",
    "delta_hv",
]


# --------------------------------------------------------------------------- validation


def _prepare(points, ref, name: str) -> tuple[Array, Array]:
    """Validate ``points [n, m]`` and ``ref [m]``; promote to a common float dtype."""
    y = jnp.asarray(points)
    r = jnp.asarray(ref)
    if y.ndim != 2:
        raise ValueError(f"{name}: points must be a 2-D array [n, m], got shape {y.shape}.")
    m = y.shape[1]
    if m < 1:
        raise ValueError(f"{name}: points need at least one objective, got shape {y.shape}.")
    if r.ndim == 0:
        raise ValueError(
            f"{name}: ref must be a vector of length m={m} (no broadcasting of a scalar reference "
            f"point; pass jnp.full({m}, value))."
        )
    if r.shape != (m,):
        raise ValueError(f"{name}: ref must have shape ({m},), got {r.shape}.")
    dtype = jnp.result_type(y.dtype, r.dtype, jnp.float32)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return y.astype(dtype), r.astype(dtype)


def _clip_to_box(y: Array, r: Array) -> tuple[Array, Array]:
    """Points not strictly inside ``[-inf, r)`` are replaced by ``r`` (they span nothing)."""
    inside = jnp.all(y < r[None, :], axis=1)
    return jnp.where(inside[:, None], y, r[None, :]), inside


def _inverse_perm(p: Array) -> Array:
    n = p.shape[0]
    return jnp.zeros(n, jnp.int32).at[p].set(jnp.arange(n, dtype=jnp.int32))


def _has_int64() -> bool:
    return jax.dtypes.canonicalize_dtype(jnp.int64) == jnp.dtype(jnp.int64)


def _float_key(x: Array) -> Array:
    """Integer key with the order of ``x`` (IEEE-754 sign trick; an involution).

    XLA:CPU sorts a single integer operand several times faster than floats or multi-operand
    sorts, so the sorts below go through these keys whenever the bit budget allows.
    """
    it = jnp.int64 if x.dtype == jnp.float64 else jnp.int32
    mask = 0x7FFFFFFFFFFFFFFF if it == jnp.int64 else 0x7FFFFFFF
    b = lax.bitcast_convert_type(x, it)
    return jnp.where(b < 0, b ^ jnp.asarray(mask, it), b)


def _key_to_float(k: Array, dtype) -> Array:
    mask = 0x7FFFFFFFFFFFFFFF if k.dtype == jnp.int64 else 0x7FFFFFFF
    return lax.bitcast_convert_type(jnp.where(k < 0, k ^ jnp.asarray(mask, k.dtype), k), dtype)


def _rank_left(x: Array) -> tuple[Array, Array]:
    """``(rank, sorted x)``: rank = number of entries strictly smaller (ties share a rank)."""
    if x.dtype not in (jnp.float32, jnp.float64) or (x.dtype == jnp.float64 and not _has_int64()):
        xs = jnp.sort(x)
        return jnp.searchsorted(xs, x, side="left", method="scan").astype(jnp.int32), xs
    k = _float_key(x)
    sk = jnp.sort(k)
    rank = jnp.searchsorted(sk, k, side="left", method="scan").astype(jnp.int32)
    return rank, _key_to_float(sk, x.dtype)


def _lexsort(keys: tuple[Array, ...]) -> Array:
    """Permutation sorting by ``keys[0]``, then ``keys[1]``, ..., then index (stable).

    Fast path: pack the per-key ranks and the index into one integer and sort that.
    """
    n = keys[0].shape[0]
    bits = max(1, (n - 1).bit_length())
    budget = 62 if _has_int64() else 30
    if (len(keys) + 1) * bits <= budget and all(
        k.dtype in (jnp.float32, jnp.float64) for k in keys
    ):
        it = jnp.int64 if budget == 62 else jnp.int32
        code = jnp.zeros(n, it)
        for k in keys:
            code = (code << bits) | _rank_left(k)[0].astype(it)
        code = (code << bits) | jnp.arange(n, dtype=it)
        return (jnp.sort(code) & jnp.asarray((1 << bits) - 1, it)).astype(jnp.int32)
    idx = jnp.arange(n, dtype=jnp.int32)
    out = lax.sort((*keys, idx), num_keys=len(keys) + 1)
    return out[-1]


# --------------------------------------------------------------------------- m = 1


def _hv1_parts(y: Array, r: Array):
    yc, inside = _clip_to_box(y, r)
    v = yc[:, 0]
    k = jnp.argmin(v)  # first occurrence
    hv = r[0] - v[k]
    g = jnp.zeros_like(y).at[k, 0].set(jnp.where(inside[k], -1.0, 0.0).astype(y.dtype))
    gr = jnp.where(inside[k], 1.0, 0.0).astype(y.dtype)[None]
    return hv, g, gr


def _hvc1(y: Array, r: Array) -> Array:
    yc, _ = _clip_to_box(y, r)
    v = yc[:, 0]
    n = v.shape[0]
    k = jnp.argmin(v)
    second = jnp.min(jnp.where(jnp.arange(n) == k, r[0], v))
    return jnp.zeros_like(v).at[k].set(second - v[k])


# --------------------------------------------------------------------------- m = 2


def _hv2_value(y: Array, r: Array) -> Array:
    yc, _ = _clip_to_box(y, r)
    # sorted x and, per sorted slot, the smallest y among the points with that x (ties share a
    # slot; the slots they leave empty keep r2 and have zero width).
    rank, x = _rank_left(yc[:, 0])
    z = jnp.full_like(x, r[1]).at[rank].min(yc[:, 1])
    pm = lax.cummin(z)
    xn = jnp.concatenate([x[1:], r[:1]])
    return jnp.sum((xn - x) * (r[1] - pm))


def _hv2_parts(y: Array, r: Array):
    """Value, gradient w.r.t. points, gradient w.r.t. ref (2-D, explicit formulas)."""
    yc, inside = _clip_to_box(y, r)
    a, b = yc[:, 0], yc[:, 1]
    p = _lexsort((a, b))
    xs, ys = a[p], b[p]
    pm = lax.cummin(ys)
    prev = jnp.concatenate([r[1:2], pm[:-1]])  # exclusive prefix min of y (or r2)
    nd = ys < prev  # not weakly dominated by an earlier point, not a later duplicate
    xn = jnp.concatenate([xs[1:], r[:1]])
    hv = jnp.sum((xn - xs) * (r[1] - pm))
    xnd = jnp.where(nd, xs, r[0])
    sufmin = lax.cummin(xnd, reverse=True)
    nxt = jnp.concatenate([sufmin[1:], r[:1]])  # x of the next non-dominated point (or r1)
    ga = jnp.where(nd, -(prev - ys), 0.0)
    gb = jnp.where(nd, -(nxt - xs), 0.0)
    g_sorted = jnp.stack([ga, gb], axis=1)
    g = jnp.zeros_like(yc).at[p].set(g_sorted)
    g = jnp.where(inside[:, None], g, 0.0)
    gr = jnp.stack([r[1] - pm[-1], r[0] - xs[0]])
    return hv, g, gr


def _top2_combine(a, b):
    """Associative merge of (smallest, second smallest, owner of smallest); ties keep ``a``."""
    a1, a2, ao = a
    b1, b2, bo = b
    take_a = a1 <= b1
    first = jnp.where(take_a, a1, b1)
    second = jnp.where(take_a, jnp.minimum(a2, b1), jnp.minimum(b2, a1))
    owner = jnp.where(take_a, ao, bo)
    return first, second, owner


def _hvc2(y: Array, r: Array) -> Array:
    """Exact 2-D contributions by a sweep over the first axis.

    Over ``[x_(i), x_(i+1))`` the dominated region is ``y2 >= h1`` where ``h1``/``h2`` are the two
    smallest second coordinates seen so far; removing the owner of ``h1`` uncovers
    ``(x_(i+1) - x_(i)) (h2 - h1)``. Dominated points shield exactly as in the definition.
    """
    yc, inside = _clip_to_box(y, r)
    n = yc.shape[0]
    p = _lexsort((yc[:, 0], yc[:, 1]))
    xs, ys = yc[p, 0], yc[p, 1]

    def step(carry, e):
        h1, h2, ow = carry
        y_, i_ = e
        new = _top2_combine((h1, h2, ow), (y_, r[1], i_))
        return new, new

    init = (r[1], r[1], jnp.asarray(n, p.dtype))
    _, (h1, h2, owner) = lax.scan(step, init, (ys, p))
    w = jnp.concatenate([xs[1:], r[:1]]) - xs
    contrib = w * (jnp.minimum(h2, r[1]) - h1)
    c = jax.ops.segment_sum(contrib, owner, num_segments=n + 1)[:n]
    return jnp.where(inside, c, 0.0)


# --------------------------------------------------------------------------- m = 3 (sweep)


def _count_gt(h: Array, z: Array, k: int = 64) -> Array:
    """Length of the leading run of ``h > z`` for a non-increasing ``h`` (k-ary search)."""
    n = h.shape[0]
    levels = 1
    while k**levels < n:
        levels += 1
    base = jnp.zeros((), jnp.int32)
    ar = jnp.arange(k, dtype=jnp.int32)
    for lvl in range(levels - 1, -1, -1):
        stride = k**lvl
        pos = base + ar * stride + (stride - 1)
        vals = h[jnp.minimum(pos, n - 1)]
        ok = (pos < n) & (vals > z)
        base = base + jnp.sum(ok, dtype=jnp.int32) * stride
    return base


def _window(n: int) -> int:
    """Static window length for the 3-D sweep (≈ the typical run length, √n)."""
    w = 1 << max(4, int(math.ceil(math.log2(max(1.0, math.sqrt(n))))))
    return min(w, 128)


def _sweep_setup(a, b, c, r, lex: bool):
    n = a.shape[0]
    if lex:
        px = _lexsort((a, b, c))
        py = _lexsort((b, a, c))
        ry = _inverse_perm(py)
        bs = b[py]
    else:
        # value only: tied columns may share their leftmost rank (the tied slots have width 0).
        px = _lexsort((a,))
        py = None
        ry, bs = _rank_left(b)
    xs = a[px]
    xn = jnp.concatenate([xs[1:], r[:1]])
    ys = jnp.concatenate([bs, r[1:2]])
    v = ys[1:] - ys[:-1]
    return n, px, py, xs, xn - xs, v, c[px], ry[px]


def _hv3_value(y: Array, r: Array) -> Array:
    yc, _ = _clip_to_box(y, r)
    return _hv3_sweep(yc[:, 0], yc[:, 1], yc[:, 2], r, with_cols=False, lex=False)[0]


def _hv3_sweep(a, b, c, r3, *, with_cols: bool, lex: bool):
    """One sweep with rows ``a``, columns ``b``, heights ``c`` (clipped coordinates).

    Returns ``(hv, row_grad, col_grad or None, nondominated)`` in original point order, where
    ``row_grad[k] = ∂HV/∂a_k`` and ``col_grad[k] = ∂HV/∂b_k`` (before masking).

    State ``S`` rows: ``h`` (smallest height per column, non-increasing), a scratch row holding
    the current window's area increments (written by the same in-place update and read back
    after it, so XLA never copies ``S``), and with ``with_cols`` the lazy column integrals
    ``T`` (x of the last change) and ``acc`` (∫ (r_c − h) dx so far).
    """
    ra, rc = r3[0], r3[2]
    n, px, py, xs, w, v, zr, jr = _sweep_setup(a, b, c, r3, lex=lex)
    W = _window(n)
    dt = a.dtype
    vp = jnp.concatenate([v, jnp.zeros(W, dt)])
    h0 = jnp.concatenate([jnp.full(n, rc), jnp.full(W, -jnp.inf, dt)])
    N = n + W
    rows = [h0, jnp.zeros(N, dt), jnp.zeros(N, dt)]  # h, scratch: area increments, mask
    if with_cols:
        rows += [jnp.zeros(N, dt), jnp.zeros(N, dt)]  # T, acc
    S0 = jnp.stack(rows, axis=0)
    nrow = S0.shape[0]
    zero_i = jnp.zeros((), jnp.int32)
    one_i = jnp.ones((), jnp.int32)

    def win(S, s, z, x):
        # h is non-increasing, so {j >= j0 : h_j > z} is a run starting at j0: no search needed.
        blk = lax.dynamic_slice(S, (zero_i, s), (nrow, W))
        vs = lax.dynamic_slice(vp, (s,), (W,))
        hs = blk[0]
        msk = hs > z
        new = [jnp.where(msk, z, hs), jnp.where(msk, vs * (hs - z), 0.0), msk.astype(dt)]
        if with_cols:
            Ts, As = blk[3], blk[4]
            new += [jnp.where(msk, x, Ts), As + jnp.where(msk, (x - Ts) * (rc - hs), 0.0)]
        S = lax.dynamic_update_slice(S, jnp.stack(new, axis=0), (zero_i, s))
        back = lax.dynamic_slice(S, (one_i, s), (2, W))  # read back after the in-place update
        return S, jnp.sum(back[0]), back[1, 0] > 0, back[1, W - 1] > 0

    def row(carry, xs_):
        S, area, hv = carry
        z, j0, wi, x = xs_

        def step(st):
            s, S, da, _, nd = st
            S, d, first, cont = win(S, s, z, x)
            return s + W, S, da + d, cont, jnp.where(s == j0, first, nd)

        init = (j0, S, jnp.zeros((), dt), jnp.ones((), bool), jnp.zeros((), bool))
        _, S, da, _, nd = lax.while_loop(lambda st: st[3], step, init)
        area = area + da
        return (S, area, hv + wi * area), (da, nd)

    zero = jnp.zeros((), dt)
    (S, _, hv), (das, nd_sorted) = lax.scan(row, (S0, zero, zero), (zr, jr, w, xs))
    row_grad = jnp.zeros(n, dt).at[px].set(-das)
    nd = jnp.zeros(n, bool).at[px].set(nd_sorted)
    col_grad = None
    if with_cols:
        h, T, acc = S[0, :n], S[3, :n], S[4, :n]
        B = acc + (ra - T) * (rc - h)
        Bprev = jnp.concatenate([jnp.zeros((1,), dt), B[:-1]])
        col_grad = jnp.zeros(n, dt).at[py].set(Bprev - B)
    return hv, row_grad, col_grad, nd


def _hv3_parts(y: Array, r: Array):
    yc, inside = _clip_to_box(y, r)
    a, b, c = yc[:, 0], yc[:, 1], yc[:, 2]
    # two sweeps sharing one compiled body: rows x / columns y, then rows z / columns x.
    perm = (
        jnp.stack([a, c]),
        jnp.stack([b, a]),
        jnp.stack([c, b]),
        jnp.stack([r, jnp.stack([r[2], r[0], r[1]])]),
    )
    hvs, rows, cols, nds = lax.map(lambda t: _hv3_sweep(*t, with_cols=True, lex=True), perm)
    hv, nd = hvs[0], nds[0]
    g0, g1, g2 = rows[0], cols[0], rows[1]
    g = jnp.stack([g0, g1, g2], axis=1)
    g = jnp.where((nd & inside)[:, None], g, 0.0)
    # ∂HV/∂r_i = area of the projection dropping axis i (outside points were clipped to r).
    gr = jnp.stack(
        [
            _hv2_value(yc[:, 1:3], r[1:3]),
            _hv2_value(yc[:, ::2], r[::2]),
            _hv2_value(yc[:, 0:2], r[0:2]),
        ]
    )
    return hv, g, gr


def _hvc3(y: Array, r: Array) -> Array:
    """Exact 3-D contributions: sweep tracking the two smallest heights per column and owner."""
    yc, inside = _clip_to_box(y, r)
    ra, rc = r[0], r[2]
    n, px, _, xs, _, v, zr, jr = _sweep_setup(yc[:, 0], yc[:, 1], yc[:, 2], r, lex=True)
    W = _window(n)
    dt = y.dtype
    vp = jnp.concatenate([v, jnp.zeros(W, dt)])
    N = n + W
    h0 = jnp.concatenate([jnp.full(n, rc), jnp.full(W, -jnp.inf, dt)])
    owner0 = jnp.full(N, float(n), dt)  # owner index stored as a float (exact below 2**24)
    zeros = jnp.zeros(N, dt)
    # rows: h1, h2, owner, T, then two scratch rows (contribution, old owner)
    S0 = jnp.stack([h0, h0, owner0, zeros, zeros, owner0], axis=0)
    iw = jnp.arange(W, dtype=jnp.int32)
    zero_i = jnp.zeros((), jnp.int32)
    four_i = jnp.full((), 4, jnp.int32)

    def win(S, hvc, s, J1, J2, z, x, p):
        blk = lax.dynamic_slice(S, (zero_i, s), (6, W))
        vs = lax.dynamic_slice(vp, (s,), (W,))
        h1, h2, ow, T = blk[0], blk[1], blk[2], blk[3]
        pos = s + iw
        m1 = pos < J1
        mc = pos < J2
        m2 = mc & ~m1
        contrib = jnp.where(mc, (x - T) * vs * (h2 - h1), 0.0)
        nh2 = jnp.where(m1, h1, jnp.where(m2, z, h2))
        nh1 = jnp.where(m1, z, h1)
        now = jnp.where(m1, p, ow)
        nT = jnp.where(mc, x, T)
        new = jnp.stack([nh1, nh2, now, nT, contrib, ow], 0)
        S = lax.dynamic_update_slice(S, new, (zero_i, s))
        back = lax.dynamic_slice(S, (four_i, s), (2, W))  # read back after the in-place update
        hvc = hvc.at[back[1].astype(jnp.int32)].add(back[0])
        return S, hvc

    def row(carry, xs_):
        S, hvc = carry
        z, j0, x, p = xs_
        J1 = jnp.maximum(j0, _count_gt(S[0], z))
        J2 = jnp.maximum(j0, _count_gt(S[1], z))

        def more(st):
            return st[0] < J2

        def step(st):
            s, S, hvc = st
            S, hvc = win(S, hvc, s, J1, J2, z, x, p)
            return s + W, S, hvc

        _, S, hvc = lax.while_loop(more, step, (j0, S, hvc))
        return (S, hvc), None

    hvc0 = jnp.zeros(n + 1, dt)
    (S, hvc), _ = lax.scan(row, (S0, hvc0), (zr, jr, xs, px.astype(dt)))
    h1, h2, ow, T = S[0, :n], S[1, :n], S[2, :n], S[3, :n]
    hvc = hvc.at[ow.astype(jnp.int32)].add((ra - T) * v * (h2 - h1))
    return jnp.where(inside, hvc[:n], 0.0)


# --------------------------------------------------------------------------- host (moocore)


def _np_clip(y: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, np.float64)
    r = np.asarray(r, np.float64)
    with np.errstate(invalid="ignore"):
        inside = np.all(y < r[None, :], axis=1) if y.ndim == 2 else np.zeros(0, bool)
    return y, inside


def hypervolume_host(points, ref) -> float:
    """Exact hypervolume on the host with ``moocore`` (any m; NumPy in, float out).

    Points not strictly inside the box ``y < ref`` contribute nothing; an empty set has HV 0.

    Example:
      >>> import numpy as np, paretojax as pj
      >>> from paretojax.metrics import hypervolume_host
      >>> round(hypervolume_host(np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]]), np.ones(2)), 6)
      0.39
    """
    import moocore

    y, inside = _np_clip(points, ref)
    if y.ndim != 2:
        raise ValueError(f"hypervolume_host: points must be [n, m], got shape {y.shape}.")
    y = y[inside]
    if y.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(y, ref=np.asarray(ref, np.float64)))


def hv_contributions_host(points, ref) -> np.ndarray:
    """Exact contributions ``HV(Y) − HV(Y∖y_k)`` on the host (moocore, any m).

    Dominated points keep their effect on the others, so this is the definition of
    METHODS.md §10.1; duplicates, dominated and outside points get 0. When the inside points are
    mutually non-dominated (duplicates allowed) moocore's default ``ignore_dominated=True`` path
    is used: it gives the same numbers, and moocore 0.3.2's ``ignore_dominated=False`` path
    returns 0 for some tiny (~1e-9) contributions of large 3-D fronts.

    Example:
      >>> import numpy as np
      >>> from paretojax.metrics import hv_contributions_host
      >>> y = np.array([[1., 3.], [2., 2.], [3., 1.], [3., 3.]])  # the last point is dominated
      >>> hv_contributions_host(y, np.array([4., 4.])).tolist()
      [1.0, 1.0, 1.0, 0.0]
    """
    import moocore

    y, inside = _np_clip(points, ref)
    if y.ndim != 2:
        raise ValueError(f"hv_contributions_host: points must be [n, m], got shape {y.shape}.")
    out = np.zeros(y.shape[0])
    if inside.sum() == 0:
        return out
    yi = y[inside]
    r = np.asarray(ref, np.float64)
    ignore = bool(np.all(moocore.is_nondominated(yi, keep_weakly=True)))
    out[inside] = moocore.hv_contributions(yi, ref=r, ignore_dominated=ignore)
    return out


def _np_first_nondominated(y: np.ndarray) -> np.ndarray:
    """Not weakly dominated by any other point, and not a later copy of a duplicate."""
    n = y.shape[0]
    le = np.all(y[:, None, :] <= y[None, :, :], axis=2)  # le[i, j]: y_i <= y_j
    eq = np.all(y[:, None, :] == y[None, :, :], axis=2)
    idx = np.arange(n)
    dom = le & ~eq  # i dominates j
    dup_earlier = eq & (idx[:, None] < idx[None, :])
    return ~np.any(dom | dup_earlier, axis=0)


def hv_gradient_host(points, ref) -> np.ndarray:
    r"""Exact Emmerich–Deutz hypervolume gradient on the host (any m; small sets).

    :math:`\partial HV/\partial y_{k,i} = -HVC` of :math:`y_k` without coordinate i among the
    projections of the kept points with :math:`y_{j,i} \le y_{k,i}` (reference point without
    coordinate i); 0 for dominated, outside and later-duplicate points. Costs one moocore
    contribution call per (point, axis).

    Example:
      >>> import numpy as np
      >>> from paretojax.metrics import hv_gradient_host
      >>> y = np.array([[1., 3.], [2., 2.], [3., 1.]])
      >>> hv_gradient_host(y, np.array([4., 4.])).tolist()  # −(exclusive edge length)
      [[-1.0, -1.0], [-1.0, -1.0], [-1.0, -1.0]]
    """
    import moocore

    y, inside = _np_clip(points, ref)
    r = np.asarray(ref, np.float64)
    n, m = y.shape
    g = np.zeros((n, m))
    if inside.sum() == 0:
        return g
    keep = np.zeros(n, bool)
    keep[inside] = _np_first_nondominated(y[inside])
    ks = np.flatnonzero(keep)
    yk = y[ks]
    for i in range(m):
        others = [t for t in range(m) if t != i]
        for a, k in enumerate(ks):
            sel = yk[:, i] <= yk[a, i]
            sub = yk[sel][:, others]
            pos = int(np.sum(sel[:a]))
            if m == 1:
                g[k, i] = -1.0
                continue
            if len(others) == 1:
                # 1-D contribution: gap to the next coordinate among the others (or the ref).
                vals = sub[:, 0]
                rest = np.delete(vals, pos)
                bound = min(float(np.min(rest, initial=np.inf)), float(r[others[0]]))
                g[k, i] = -max(0.0, bound - vals[pos])
                continue
            c = moocore.hv_contributions(sub, ref=r[others], ignore_dominated=False)
            g[k, i] = -c[pos]
    return g


def _host_value(y, r):
    return np.asarray(hypervolume_host(np.asarray(y), np.asarray(r)), dtype=np.asarray(y).dtype)


def _host_hvc(y, r):
    return np.asarray(
        hv_contributions_host(np.asarray(y), np.asarray(r)), dtype=np.asarray(y).dtype
    )


def _host_grad(y, r):
    return np.asarray(hv_gradient_host(np.asarray(y), np.asarray(r)), dtype=np.asarray(y).dtype)


def _to_f64(bits) -> np.ndarray:
    b = np.ascontiguousarray(np.asarray(bits, np.uint32))
    return b.view(np.float64).reshape(b.shape[:-1])


def _callback(fn, shape, y, r):
    """``pure_callback`` computing ``fn(y, r)`` on the host with ``y``'s float dtype.

    float64 operands and results travel as their raw bits (``uint32[..., 2]``): JAX converts
    callback operands and results with the *callback thread's* x64 flag, which differs from the
    caller's when x64 was turned on with the ``jax.enable_x64`` context manager (silently
    rounding the points to float32).
    """
    if y.dtype == jnp.float64:

        def bits(yb, rb):
            out = np.asarray(fn(_to_f64(yb), _to_f64(rb)), np.float64).reshape(shape)
            return np.ascontiguousarray(out).view(np.uint32).reshape(*shape, 2)

        raw = jax.pure_callback(
            bits,
            jax.ShapeDtypeStruct((*shape, 2), jnp.uint32),
            lax.bitcast_convert_type(y, jnp.uint32),
            lax.bitcast_convert_type(r, jnp.uint32),
            vmap_method="sequential",
        )
        return lax.bitcast_convert_type(raw, jnp.float64)
    return jax.pure_callback(
        lambda yy, rr: np.asarray(fn(np.asarray(yy), np.asarray(rr)), np.float32).reshape(shape),
        jax.ShapeDtypeStruct(shape, y.dtype),
        y,
        r,
        vmap_method="sequential",
    )


def _hvn_ref_grad(y: Array, r: Array) -> Array:
    # ∂HV/∂r_i = (m−1)-volume of the projection dropping axis i (host, exact).
    yc, _ = _clip_to_box(y, r)
    m = y.shape[1]
    out = []
    for i in range(m):
        keep = [t for t in range(m) if t != i]
        out.append(_hv_value(yc[:, keep], r[jnp.array(keep)]))
    return jnp.stack(out)


# --------------------------------------------------------------------------- dispatch


def _hv_value(y: Array, r: Array) -> Array:
    n, m = y.shape
    if n == 0:
        return jnp.zeros((), y.dtype)
    if m == 1:
        return _hv1_parts(y, r)[0]
    if m == 2:
        return _hv2_value(y, r)
    if m == 3:
        return _hv3_value(y, r)
    return _callback(_host_value, (), y, r)


def _hv_parts(y: Array, r: Array):
    n, m = y.shape
    if n == 0:
        return jnp.zeros((), y.dtype), jnp.zeros_like(y), jnp.zeros_like(r)
    if m == 1:
        return _hv1_parts(y, r)
    if m == 2:
        return _hv2_parts(y, r)
    if m == 3:
        return _hv3_parts(y, r)
    return (
        _callback(_host_value, (), y, r),
        _callback(_host_grad, y.shape, y, r),
        _hvn_ref_grad(y, r),
    )


@jax.custom_jvp
def _hv(y: Array, r: Array) -> Array:
    return _hv_value(y, r)


@_hv.defjvp
def _hv_jvp(primals, tangents):
    y, r = primals
    dy, dr = tangents
    hv, g, gr = _hv_parts(y, r)
    return hv, jnp.sum(g * dy) + jnp.sum(gr * dr)


_hv_jit = jax.jit(_hv)
_grad_jit = jax.jit(lambda y, r: _hv_parts(y, r)[1])


def hypervolume(points: Float[ArrayLike, "n m"], ref: Float[ArrayLike, " m"]) -> Float[Array, ""]:
    r"""Exact hypervolume of ``points [n, m]`` w.r.t. the reference point ``ref [m]`` (minimise).

    .. math:: HV(Y; r) = \lambda\Big(\bigcup_{k:\ y_k < r} [y_k, r)\Big)

    Dispatches on m: closed-form sweep in JAX for m ≤ 3 (jit/vmap-safe and differentiable —
    ``jax.grad`` returns the exact Emmerich–Deutz gradient of :func:`hv_gradient`), moocore on
    the host through :func:`jax.pure_callback` for m ≥ 4 (usable under ``jit``/``vmap`` for
    logging; its derivative is also exact but costs one host contribution call per point and
    axis — use :func:`hypervolume_mc` or m ≤ 3 inside training loops). Points with any
    coordinate ``>= ref`` contribute 0; ``n = 0`` gives 0.

    Args:
      points: ``[n, m]`` objective vectors (minimisation).
      ref: ``[m]`` reference point (explicit: LibMOON uses ``ones(m)`` on raw objectives).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> p = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> round(float(pj.hypervolume(p, jnp.ones(2))), 6)
      0.39
    """
    y, r = _prepare(points, ref, "hypervolume")
    return _hv_jit(y, r)


def hv_gradient(points: Float[ArrayLike, "n m"], ref: Float[ArrayLike, " m"]) -> Float[Array, "n m"]:
    r"""Exact hypervolume gradient :math:`\partial HV/\partial y` (Emmerich & Deutz 2014).

    :math:`\partial HV / \partial y_{k,i} = -\,` the (m−1)-volume of the face orthogonal to axis
    i of the region dominated by :math:`y_k` alone (equivalently minus the contribution of
    :math:`y_k` with coordinate i dropped, among the points with :math:`y_{j,i} \le y_{k,i}`).
    Conventions: 0 for dominated, weakly dominated and outside-the-box points; among exact
    duplicates the first (lowest index) gets the gradient of the de-duplicated set, the others 0.
    m = 2: O(n log n); m = 3: the sweep of :func:`hypervolume` run twice; m ≥ 4: host.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> from paretojax.metrics import hv_gradient
      >>> p = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> import numpy as np
      >>> np.round(np.asarray(hv_gradient(p, jnp.ones(2)), np.float64), 6).tolist()
      [[-0.2, -0.3], [-0.3, -0.3], [-0.4, -0.2]]
    """
    y, r = _prepare(points, ref, "hv_gradient")
    return _grad_jit(y, r)


def hv_contributions(points: Float[ArrayLike, "n m"], ref: Float[ArrayLike, " m"]) -> Float[Array, " n"]:
    r"""Exclusive hypervolume contributions :math:`HVC_k = HV(Y) - HV(Y \setminus \{y_k\})`.

    Exact; duplicates, dominated and outside points get 0 (dominated points still shield the
    others, as in the definition — moocore's ``ignore_dominated=False``). m = 2: two sorts,
    O(n log n); m = 3: a sweep keeping the two smallest heights per column (same cost profile as
    :func:`hypervolume`); m ≥ 4: moocore on the host through :func:`jax.pure_callback`.
    Not differentiated (a contribution is a box volume: use :func:`hv_gradient` for HV).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> p = jnp.array([[0.2, 0.6, 0.7], [0.5, 0.3, 0.4], [0.7, 0.7, 0.1]])
      >>> import numpy as np
      >>> np.round(np.asarray(pj.hv_contributions(p, jnp.ones(3)), np.float64), 6).tolist()
      [0.036, 0.123, 0.027]
    """
    y, r = _prepare(points, ref, "hv_contributions")
    return _hvc_jit(lax.stop_gradient(y), lax.stop_gradient(r))


@jax.jit
def _hvc_jit(y: Array, r: Array) -> Array:
    n, m = y.shape
    if n == 0:
        return jnp.zeros((0,), y.dtype)
    if m == 1:
        return _hvc1(y, r)
    if m == 2:
        return _hvc2(y, r)
    if m == 3:
        return _hvc3(y, r)
    return _callback(_host_hvc, (n,), y, r)


def delta_hv(
    points: Float[ArrayLike, "n m"], reference_front: Float[ArrayLike, "k m"], ref: Float[ArrayLike, " m"]
) -> Float[Array, ""]:
    r"""Hypervolume gap :math:`HV(R; r) - HV(A; r)` of ``points`` A to a ``reference_front`` R.

    Non-negative when R weakly dominates A; same ``ref`` for both. Example:

      >>> import jax.numpy as jnp, paretojax as pj
      >>> from paretojax.metrics import delta_hv
      >>> a = jnp.array([[0.5, 0.5]]); rf = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> round(float(delta_hv(a, rf, jnp.ones(2))), 6)
      0.14
    """
    return hypervolume(reference_front, ref) - hypervolume(points, ref)


@partial(jax.jit, static_argnames=("num_samples",))
def _hv_mc(y, r, key, num_samples):
    yc, _ = _clip_to_box(y, r)
    lo = jnp.minimum(jnp.min(yc, axis=0), r)
    u = jax.random.uniform(key, (num_samples, y.shape[1]), y.dtype)
    s = lo[None, :] + u * (r - lo)[None, :]
    chunk = 4096
    pad = (-num_samples) % chunk
    s = jnp.concatenate([s, jnp.broadcast_to(r, (pad, y.shape[1]))]).reshape(-1, chunk, y.shape[1])

    def count(block):
        dom = jnp.any(jnp.all(yc[None, :, :] <= block[:, None, :], axis=2), axis=1)
        return jnp.sum(dom & jnp.all(block < r[None, :], axis=1))

    hits = jnp.sum(lax.map(count, s))
    return jnp.prod(r - lo) * hits.astype(y.dtype) / num_samples


def hypervolume_mc(
    points: Float[ArrayLike, "n m"],
    ref: Float[ArrayLike, " m"],
    key: Array,
    num_samples: int = 100_000,
) -> Float[Array, ""]:
    r"""Monte-Carlo hypervolume estimate, fully in ``jit`` (any m; a fallback for m ≥ 4).

    Uniform samples in the box ``[min(points), ref)`` (the box spanned by the inside points and
    the reference point, which contains the whole dominated region); the estimate is the box
    volume times the dominated fraction. Unbiased, standard error
    :math:`V\sqrt{q(1-q)/S}` with :math:`q = HV/V`. Not differentiable in a useful way (use the
    exact paths for gradients). Cost O(S·n·m).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> from paretojax.metrics import hypervolume_mc
      >>> p = jnp.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.1]])
      >>> est = hypervolume_mc(p, jnp.ones(2), jax.random.key(0), 200_000)
      >>> bool(abs(float(est) - 0.39) < 0.01)
      True
    """
    y, r = _prepare(points, ref, "hypervolume_mc")
    if num_samples < 1:
        raise ValueError(f"hypervolume_mc: num_samples must be ≥ 1, got {num_samples}.")
    if y.shape[0] == 0:
        return jnp.zeros((), y.dtype)
    return _hv_mc(lax.stop_gradient(y), lax.stop_gradient(r), key, int(num_samples))
