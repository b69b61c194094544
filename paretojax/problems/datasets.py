r"""Offline multi-task datasets, built in-process (nothing is downloaded; METHODS.md §13).

The image sets are built from scikit-learn's bundled digits (``sklearn.datasets.load_digits``:
1797 images 8×8 with integer values 0–16, 10 classes of ~180), scaled to ``[0, 1]`` (÷16). The
1797 source images are split into train/test (stratified by class, ``test_fraction = 0.2``,
from ``seed``) **before** any pairing, so no source image occurs on both sides.

Everything is deterministic given the arguments (same seed ⇒ identical arrays) and cached in
memory (``functools.lru_cache``): the returned NumPy arrays are **read-only** and shared between
calls; copy them before modifying. Feed them to JAX with ``jnp.asarray``.

==================  =============================================================================
``multidigits``     MultiDigits-2 (MultiMNIST analogue): two digits on a 12×12 canvas, two
                    10-way tasks (top-left, bottom-right); 10 000 train / 2 000 test pairs.
``many_task_digits``one digit, m ∈ 2..20 binary tasks from its label (parity, > 4, prime, …).
``fairness``        synthetic Adult-like tabular data with a binary sensitive attribute; the two
                    objectives are BCE and the tanh-relaxed DEO (:func:`deo_loss`).
``linnerud``        ``load_linnerud``: 20 samples, 3 inputs, 3 regression targets (3 objectives).
==================  =============================================================================

Example:
  >>> import paretojax as pj
  >>> data = pj.datasets.get("multidigits", n_train=100, n_test=20)
  >>> data.x_train.shape, data.y_train.shape, data.task_names
  ((100, 12, 12), (100, 2), ('top_left', 'bottom_right'))
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "MultiDigits",
    "ManyTaskDigits",
    "Fairness",
    "Linnerud",
    "multidigits",
    "many_task_digits",
    "fairness",
    "linnerud",
    "bce_loss",
    "deo_loss",
    "deo_gap",
    "fairness_losses",
    "digit_tasks",
    "get",
    "names",
    "descriptions",
]


# ----------------------------------------------------------------------------- helpers
def _frozen(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # lazy: keeps `import paretojax` light

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(np.int32)
    _frozen(images, labels)
    return images, labels


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}.")


@functools.lru_cache(maxsize=32)
def _stratified_split(seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test source images (disjoint, stratified, sorted)."""
    _, labels = _digits()
    rng = np.random.default_rng([seed, 7919])
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    tr, te = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    _frozen(tr, te)
    return tr, te


# ------------------------------------------------------------------------- MultiDigits-2
class MultiDigits(NamedTuple):
    """MultiDigits-2 arrays.

    Attributes:
      x_train: ``[n_train, 12, 12]`` float32 in [0, 1] (``[n_train, 144]`` with ``flatten``).
      y_train: ``[n_train, 2]`` int32 in 0..9: (top-left digit, bottom-right digit).
      x_test, y_test: the same for the test pairs.
      src_train, src_test: ``[n, 2]`` int32 indices into ``load_digits()`` of the two source
        images of each pair (train sources and test sources are disjoint).
      task_names: ``("top_left", "bottom_right")``.
      num_classes: ``(10, 10)``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    src_train: np.ndarray
    src_test: np.ndarray
    task_names: tuple[str, ...] = ("top_left", "bottom_right")
    num_classes: tuple[int, ...] = (10, 10)


_HETERO = (None, "invert", "flip")


def _compose(images, idx_a, idx_b, hetero):
    a = images[idx_a]
    b = images[idx_b]
    if hetero == "invert":
        b = 1.0 - b
    elif hetero == "flip":
        b = b[:, :, ::-1]
    canvas = np.zeros((len(idx_a), 12, 12), np.float32)
    canvas[:, 0:8, 0:8] = a
    canvas[:, 4:12, 4:12] = np.maximum(canvas[:, 4:12, 4:12], b)
    return canvas


@functools.lru_cache(maxsize=16)
def _multidigits(n_train, n_test, seed, test_fraction, hetero, flatten):
    images, labels = _digits()
    tr, te = _stratified_split(seed, test_fraction)
    rng = np.random.default_rng([seed, 104729])
    out = []
    for pool, n in ((tr, n_train), (te, n_test)):
        src = pool[rng.integers(0, len(pool), size=(n, 2))].astype(np.int32)
        x = _compose(images, src[:, 0], src[:, 1], hetero)
        if flatten:
            x = x.reshape(n, 144)
        y = labels[src].astype(np.int32)
        _frozen(x, y, src)
        out.append((x, y, src))
    (xtr, ytr, str_), (xte, yte, ste) = out
    return MultiDigits(xtr, ytr, xte, yte, str_, ste)


def multidigits(
    n_train: int = 10_000,
    n_test: int = 2_000,
    seed: int = 0,
    *,
    test_fraction: float = 0.2,
    heterogeneous: bool | str = False,
    flatten: bool = False,
) -> MultiDigits:
    r"""MultiDigits-2: the MultiMNIST analogue built from sklearn's digits.

    Each sample overlays digit A at rows/cols 0–7 and digit B at rows/cols 4–11 of a 12×12 canvas
    (pixel-wise max over the 4×4 overlap). Tasks: classify A (top-left) and B (bottom-right),
    10 classes each (cross-entropy). Pairs are drawn uniformly with replacement, A and B
    independently, from the train (resp. test) source images only. Default 10 000 train /
    2 000 test pairs; about 1437 train and 360 test source images (80/20 stratified split).

    Args:
      n_train, n_test: number of pairs.
      seed: controls the source split and the pairing.
      test_fraction: fraction of the 1797 source images held out for the test pairs.
      heterogeneous: the "Multi-Fashion" analogue: ``"invert"`` (or ``True``) puts ``1 − B``,
        ``"flip"`` a horizontally mirrored B, on the bottom-right. (With ``"invert"`` the overlap
        is dominated by B's bright background — the variant is meant to be harder.)
      flatten: return ``[n, 144]`` instead of ``[n, 12, 12]``.

    Suggested model (METHODS §13): MLP 144–128–128 (or a small conv net) + two 10-way heads.

    Example:
      >>> import paretojax as pj
      >>> d = pj.datasets.multidigits(n_train=20, n_test=10)
      >>> (d.x_train.shape, d.y_train.shape, d.task_names)
      ((20, 12, 12), (20, 2), ('top_left', 'bottom_right'))
      >>> bool(((d.y_train >= 0) & (d.y_train < 10)).all())  # ten classes per task
      True
    """
    hetero = "invert" if heterogeneous is True else (heterogeneous or None)
    if hetero not in _HETERO:
        raise ValueError(
            f"heterogeneous must be False, True, 'invert' or 'flip', got {heterogeneous!r}."
        )
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be ≥ 1, got {n_train}, {n_test}.")
    _check_fraction(test_fraction)
    return _multidigits(
        int(n_train), int(n_test), int(seed), float(test_fraction), hetero, bool(flatten)
    )


# --------------------------------------------------------------------- many-task digits
#: The 20 binary tasks of :func:`many_task_digits`, in order: (name, positive digits).
DIGIT_TASKS: tuple[tuple[str, frozenset[int]], ...] = (
    ("odd", frozenset({1, 3, 5, 7, 9})),
    ("greater_than_4", frozenset({5, 6, 7, 8, 9})),
    ("prime", frozenset({2, 3, 5, 7})),
    ("has_loop", frozenset({0, 6, 8, 9})),
    ("multiple_of_3", frozenset({0, 3, 6, 9})),
    ("one_or_seven", frozenset({1, 7})),
    ("square", frozenset({0, 1, 4, 9})),
    ("fibonacci", frozenset({0, 1, 2, 3, 5, 8})),
    ("multiple_of_4", frozenset({0, 4, 8})),
    ("less_than_3", frozenset({0, 1, 2})),
    *((f"is_{k}", frozenset({k})) for k in range(10)),
)


def digit_tasks(labels: Any, num_tasks: int) -> np.ndarray:
    """Binary targets ``[n, num_tasks]`` (int32) of the first ``num_tasks`` :data:`DIGIT_TASKS`.

    Example:
      >>> import numpy as np, paretojax as pj
      >>> t = pj.datasets.digit_tasks(np.arange(10), 3)
      >>> t.shape, t[:, 0].tolist()  # task 1: odd
      ((10, 3), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
      >>> t[:, 2].tolist()  # task 3: prime
      [0, 0, 1, 1, 0, 1, 0, 1, 0, 0]
    """
    labels = np.asarray(labels)
    table = np.zeros((10, len(DIGIT_TASKS)), np.int32)
    for t, (_, pos) in enumerate(DIGIT_TASKS):
        table[sorted(pos), t] = 1
    return table[labels][:, :num_tasks]


class ManyTaskDigits(NamedTuple):
    """Many-task digits arrays.

    Attributes:
      x_train: ``[n_train, 8, 8]`` float32 in [0, 1] (``[n_train, 64]`` with ``flatten``),
        n_train ≈ 1437 for the default split.
      y_train: ``[n_train, m]`` int32 in {0, 1}, one column per task.
      x_test, y_test: the same for the ≈ 360 test images.
      labels_train, labels_test: the digit labels ``[n]`` (int32, 0..9).
      src_train, src_test: indices ``[n]`` into ``load_digits()`` (disjoint).
      task_names: the m task names (see :data:`DIGIT_TASKS`).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_train: np.ndarray
    labels_test: np.ndarray
    src_train: np.ndarray
    src_test: np.ndarray
    task_names: tuple[str, ...]


@functools.lru_cache(maxsize=16)
def _many_task(num_tasks, seed, test_fraction, flatten):
    images, labels = _digits()
    tr, te = _stratified_split(seed, test_fraction)
    parts = []
    for src in (tr, te):
        x = images[src].copy()
        if flatten:
            x = x.reshape(len(src), 64)
        lab = labels[src].copy()
        y = digit_tasks(lab, num_tasks)
        s = src.astype(np.int32)
        _frozen(x, y, lab, s)
        parts.append((x, y, lab, s))
    (xtr, ytr, ltr, s_tr), (xte, yte, lte, s_te) = parts
    task_names = tuple(n for n, _ in DIGIT_TASKS[:num_tasks])
    return ManyTaskDigits(xtr, ytr, xte, yte, ltr, lte, s_tr, s_te, task_names)


def many_task_digits(
    num_tasks: int = 10, seed: int = 0, *, test_fraction: float = 0.2, flatten: bool = False
) -> ManyTaskDigits:
    r"""One digit image, ``num_tasks`` ∈ {2, …, 20} binary tasks computed from its label.

    Tasks, in order (the first m are used): odd, > 4, prime {2,3,5,7}, has a loop {0,6,8,9},
    multiple of 3 {0,3,6,9}, {1,7} vs rest, square {0,1,4,9}, Fibonacci {0,1,2,3,5,8},
    multiple of 4 {0,4,8}, < 3, then ``is_0`` … ``is_9``. Train on BCE per task. Evaluation
    convention (METHODS §13, LORPMAN): HV in accuracy space with the origin as reference, at the
    m one-hot preferences plus the centre. Sizes: ≈ 1437 train / 360 test images (80/20).

    Example:
      >>> import paretojax as pj
      >>> d = pj.datasets.many_task_digits(num_tasks=3)
      >>> (d.y_train.shape[1], d.task_names)
      (3, ('odd', 'greater_than_4', 'prime'))
      >>> bool((d.y_train[:, 0] == d.labels_train % 2).all())  # task 1: odd
      True
    """
    if not 2 <= int(num_tasks) <= len(DIGIT_TASKS):
        raise ValueError(f"num_tasks must lie in 2..{len(DIGIT_TASKS)}, got {num_tasks}.")
    _check_fraction(test_fraction)
    return _many_task(int(num_tasks), int(seed), float(test_fraction), bool(flatten))


# ------------------------------------------------------------------------------ fairness
class Fairness(NamedTuple):
    """Synthetic fairness arrays.

    Attributes:
      x_train: ``[n_train, d]`` float32 (``d + 1`` columns with ``include_sensitive``).
      y_train: ``[n_train]`` int32 labels in {0, 1}.
      s_train: ``[n_train]`` int32 sensitive attribute in {0, 1}.
      x_test, y_test, s_test: the test part.
      task_names: ``("bce", "deo")`` — the two objectives (:func:`fairness_losses`).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    s_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    s_test: np.ndarray
    task_names: tuple[str, ...] = ("bce", "deo")


@functools.lru_cache(maxsize=8)
def _fairness(n, d, d_inf, gamma, beta, noise, seed, test_fraction, include_sensitive):
    rng = np.random.default_rng([seed, 15485863])
    w = rng.standard_normal(d_inf)
    w /= np.linalg.norm(w)
    s = rng.integers(0, 2, size=n)
    z = rng.standard_normal((n, d_inf))
    eps = noise * rng.standard_normal(n)
    y = (z @ w + beta * s + eps > 0).astype(np.int32)
    x = np.concatenate([z, rng.standard_normal((n, d - d_inf))], axis=1)
    x[:, 0] += gamma * s
    if include_sensitive:
        x = np.concatenate([x, s[:, None].astype(np.float64)], axis=1)
    x = x.astype(np.float32)
    s = s.astype(np.int32)
    n_test = int(round(test_fraction * n))
    perm = rng.permutation(n)
    te, tr = perm[:n_test], perm[n_test:]
    arrays = (x[tr], y[tr], s[tr], x[te], y[te], s[te])
    _frozen(*arrays)
    return Fairness(*arrays)


def fairness(
    n: int = 20_000,
    d: int = 20,
    seed: int = 0,
    *,
    d_informative: int = 10,
    gamma: float = 1.0,
    beta: float = 1.0,
    noise: float = 0.5,
    test_fraction: float = 0.2,
    include_sensitive: bool = False,
) -> Fairness:
    r"""Synthetic Adult-like fairness data (a paretojax-defined generator, METHODS §13).

    ``s ~ Bernoulli(½)``, ``z ~ N(0, I_k)`` (k = ``d_informative``), ``w ~ N(0, I_k)`` fixed by
    the seed and scaled to unit norm (so ``wᵀz ~ N(0, 1)`` and ``noise`` is relative to it),
    ``y = 1[wᵀz + β·s + ε > 0]``, ``ε ~ N(0, noise²)``;
    ``x = [z + γ·s·e₁, N(0,1) noise columns]`` with d columns in all; ``s`` is not an input
    unless ``include_sensitive`` (appended as the last column). Defaults γ = β = 1 (labels
    correlated with s), n = 20 000 split 16 000 / 4 000.

    Objectives (:func:`fairness_losses`): BCE and the tanh-relaxed DEO, HV reference (1, 1) on raw
    losses (for comparability with LibMOON's Adult numbers; not the same data). Suggested model:
    MLP d→128→128→1 (COSMOS/LibMOON "M1").

    Example:
      >>> import numpy as np, paretojax as pj
      >>> d = pj.datasets.fairness(n=200, d=5, d_informative=3)
      >>> (d.x_train.shape, d.y_train.shape, d.task_names)  # 20 % test split
      ((160, 5), (160,), ('bce', 'deo'))
      >>> sorted(np.unique(d.s_train).tolist())
      [0, 1]
    """
    if n < 2 or d < 1 or not 1 <= d_informative <= d:
        raise ValueError(
            f"need n ≥ 2 and 1 ≤ d_informative ≤ d, got n={n}, d={d}, "
            f"d_informative={d_informative}."
        )
    if noise < 0:
        raise ValueError(f"noise must be ≥ 0, got {noise}.")
    _check_fraction(test_fraction)
    return _fairness(
        int(n),
        int(d),
        int(d_informative),
        float(gamma),
        float(beta),
        float(noise),
        int(seed),
        float(test_fraction),
        bool(include_sensitive),
    )


def _check_logits(logits, y, s):
    logits = jnp.asarray(logits)
    if logits.ndim == 2 and logits.shape[-1] == 1:
        logits = logits[:, 0]
    if logits.ndim != 1:
        raise ValueError(f"logits must have shape [n] (or [n, 1]), got {logits.shape}.")
    y = jnp.asarray(y)
    if y.shape != logits.shape:
        raise ValueError(f"labels shape {y.shape} does not match logits {logits.shape}.")
    if s is not None:
        s = jnp.asarray(s)
        if s.shape != logits.shape:
            raise ValueError(
                f"sensitive-attribute shape {s.shape} does not match logits {logits.shape}."
            )
    return logits, y, s


def bce_loss(logits: Any, y: Any) -> jax.Array:
    r"""Mean binary cross-entropy from logits, ``mean(softplus(ℓ) − yℓ)`` (stable).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> round(float(pj.datasets.bce_loss(jnp.zeros(4), jnp.array([0, 1, 1, 0]))), 4)  # log 2
      0.6931
    """
    logits, y, _ = _check_logits(logits, y, None)
    return jnp.mean(jax.nn.softplus(logits) - y.astype(logits.dtype) * logits)


def deo_loss(logits: Any, y: Any, s: Any, c: float = 1.0, *, reduction: str = "n") -> jax.Array:
    r"""Hyperbolic-tangent relaxation of the difference of equal opportunity (DEO).

    .. math:: L_{DEO} = \frac{1}{n}\Big|\sum_{s=0,y=1}\tanh(c\,\mathrm{relu}(\sigma(\ell)))
              - \sum_{s=1,y=1}\tanh(c\,\mathrm{relu}(\sigma(\ell)))\Big|

    (Padh et al. 2020; LibMOON ``problem/mtl/objectives.py`` ``DEOHyperbolicTangentRelaxation``,
    c = 1: ``reduction="n"``.) ``reduction="group_mean"`` uses the two group means instead (the
    later COSMOS code); an empty group contributes 0. Jit-safe (masks, no boolean indexing).

    Example:
      >>> import jax, jax.numpy as jnp, paretojax as pj
      >>> y, s = jnp.ones(2), jnp.array([0, 1])  # one positive in each group
      >>> val = pj.datasets.deo_loss(jnp.array([2., -2.]), y, s)
      >>> ref = jnp.abs(jnp.tanh(jax.nn.sigmoid(2.)) - jnp.tanh(jax.nn.sigmoid(-2.))) / 2
      >>> (round(float(val), 4), bool(jnp.isclose(val, ref)))
      (0.2941, True)
      >>> float(pj.datasets.deo_loss(jnp.array([2., 2.]), y, s))  # equal treatment
      0.0
    """
    logits, y, s = _check_logits(logits, y, s)
    if reduction not in ("n", "group_mean"):
        raise ValueError(f"reduction must be 'n' or 'group_mean', got {reduction!r}.")
    v = jnp.tanh(c * jax.nn.relu(jax.nn.sigmoid(logits)))
    pos = y == 1
    m0 = (pos & (s == 0)).astype(v.dtype)
    m1 = (pos & (s == 1)).astype(v.dtype)
    if reduction == "n":
        return jnp.abs(jnp.sum(v * m0) - jnp.sum(v * m1)) / logits.shape[0]
    mean0 = jnp.sum(v * m0) / jnp.maximum(jnp.sum(m0), 1.0)
    mean1 = jnp.sum(v * m1) / jnp.maximum(jnp.sum(m1), 1.0)
    return jnp.abs(mean0 - mean1)


def deo_gap(logits: Any, y: Any, s: Any) -> jax.Array:
    r"""The (hard) DEO metric ``|P(ŷ=1 | y=1, s=0) − P(ŷ=1 | y=1, s=1)|`` with ŷ = 1[ℓ > 0].

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> logits, y, s = jnp.array([1., -1., 1., 1.]), jnp.ones(4), jnp.array([0, 0, 1, 1])
      >>> float(pj.datasets.deo_gap(logits, y, s))  # |1/2 − 2/2|
      0.5
    """
    logits, y, s = _check_logits(logits, y, s)
    yhat = (logits > 0).astype(jnp.float32)
    pos = y == 1
    m0 = (pos & (s == 0)).astype(jnp.float32)
    m1 = (pos & (s == 1)).astype(jnp.float32)
    tpr0 = jnp.sum(yhat * m0) / jnp.maximum(jnp.sum(m0), 1.0)
    tpr1 = jnp.sum(yhat * m1) / jnp.maximum(jnp.sum(m1), 1.0)
    return jnp.abs(tpr0 - tpr1)


def fairness_losses(logits: Any, y: Any, s: Any, c: float = 1.0) -> jax.Array:
    """The two fairness objectives ``[BCE, DEO]`` (shape ``[2]``), ready for a MOO method.

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> pj.datasets.fairness_losses(jnp.zeros(4), jnp.array([1, 1, 0, 1]),
      ...                             jnp.array([0, 1, 1, 1])).shape
      (2,)
    """
    return jnp.stack([bce_loss(logits, y), deo_loss(logits, y, s, c)])


# ------------------------------------------------------------------------------ linnerud
class Linnerud(NamedTuple):
    """Linnerud arrays (20 middle-aged men; sklearn ``load_linnerud``).

    Attributes:
      x: ``[20, 3]`` float32 exercise data (Chins, Situps, Jumps).
      y: ``[20, 3]`` float32 physiological targets (Weight, Waist, Pulse): 3 regression tasks.
      feature_names: the 3 input names.
      task_names: ``("Weight", "Waist", "Pulse")``.
    """

    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    task_names: tuple[str, ...]


@functools.lru_cache(maxsize=2)
def _linnerud(standardize: bool) -> Linnerud:
    from sklearn.datasets import load_linnerud

    d = load_linnerud()
    x = np.asarray(d.data, np.float64)
    y = np.asarray(d.target, np.float64)
    if standardize:
        x = (x - x.mean(0)) / x.std(0)
        y = (y - y.mean(0)) / y.std(0)
    x, y = x.astype(np.float32), y.astype(np.float32)
    _frozen(x, y)
    return Linnerud(x, y, tuple(d.feature_names), tuple(d.target_names))


def linnerud(standardize: bool = False) -> Linnerud:
    """The Linnerud 3-output regression data (20 samples, no split): a natural 3-objective
    regression (one MSE per target). ``standardize=True`` z-scores inputs and targets.

    Example:
      >>> import numpy as np, paretojax as pj
      >>> d = pj.datasets.linnerud(standardize=True)
      >>> d.x.shape, d.y.shape, len(d.task_names)
      ((20, 3), (20, 3), 3)
      >>> bool(np.allclose(d.y.mean(0), 0.0, atol=1e-6))  # z-scored targets
      True
    """
    return _linnerud(bool(standardize))


# ------------------------------------------------------------------------------ registry
_REGISTRY: dict[str, tuple[Callable[..., Any], str]] = {
    "multidigits": (multidigits, "MultiDigits-2: two digits on a 12x12 canvas, 2 ten-way tasks"),
    "many_task_digits": (many_task_digits, "one digit, 2..20 binary tasks from its label"),
    "fairness": (fairness, "synthetic Adult-like fairness data, BCE vs tanh-relaxed DEO"),
    "linnerud": (linnerud, "sklearn Linnerud: 20 samples, 3 regression targets"),
}


def names() -> tuple[str, ...]:
    """Registered dataset names.

    Example:
      >>> import paretojax as pj
      >>> pj.datasets.names()
      ('multidigits', 'many_task_digits', 'fairness', 'linnerud')
    """
    return tuple(_REGISTRY)


def descriptions() -> dict[str, str]:
    """``{name: one-line description}``.

    Example:
      >>> import paretojax as pj
      >>> set(pj.datasets.descriptions()) == set(pj.datasets.names())
      True
    """
    return {k: v for k, (_, v) in _REGISTRY.items()}


def get(name: str, **kwargs: Any) -> Any:
    """Build the dataset ``name`` with its keyword arguments (see each builder).

    Example:
      >>> import paretojax as pj
      >>> pj.datasets.get("linnerud").y.shape
      (20, 3)
    """
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"Unknown dataset {name!r}. Known: {', '.join(_REGISTRY)}.")
    return _REGISTRY[key][0](**kwargs)
