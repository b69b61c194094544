r"""TrimmedMean: coordinate-wise trimmed mean of the task gradients.

Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates", ICML 2018. Per coordinate, sort the ``m`` values over tasks, drop the ``t``
largest and the ``t`` smallest and average the remaining ``m − 2t``:

.. math:: u_k = \frac{1}{m - 2t}\sum_{r = t+1}^{m-t} (J_{\cdot k})_{(r)}

Needs ``m ≥ 2t + 1``. Not a weighting (the kept tasks differ per coordinate), so it works on the
Jacobian leaf by leaf. Permutation invariant. ``t = 0`` is the mean.

Reference matched: TorchJD ``aggregation/_trimmed_mean.py`` (``trim_number`` required).
Golden: ``[[1e11, 3], [1, −1e11], [−1e10, 1e10], [2, 2]]``, ``t = 1`` → ``[1.5, 2.5]``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from paretojax.core.jacobian import accumulation_dtype, num_tasks as _num_tasks
from paretojax.registry import MethodInfo
from paretojax.transforms import jacobian_transform

Array = jax.Array
PyTree = Any

__all__ = ["trimmed_mean", "trimmed_mean_update"]


def _check_trim(trim_number: Any) -> int:
    if isinstance(trim_number, bool) or not isinstance(trim_number, int) or trim_number < 0:
        raise ValueError(f"trimmed_mean: trim_number must be an int ≥ 0, got {trim_number!r}.")
    return int(trim_number)


def trimmed_mean_update(jac: PyTree, trim_number: int) -> PyTree:
    """Coordinate-wise trimmed mean over the task axis of every leaf.

    Example:
      >>> import jax.numpy as jnp
      >>> from paretojax.manipulation._trimmed_mean import trimmed_mean_update
      >>> J = jnp.array([[1e11, 3.], [1., -1e11], [-1e10, 1e10], [2., 2.]])
      >>> trimmed_mean_update(J, 1)
      Array([1.5, 2.5], dtype=float32)
    """
    t = _check_trim(trim_number)
    m = _num_tasks(jac)
    if m < 2 * t + 1:
        raise ValueError(
            f"trimmed_mean: needs m ≥ 2·trim_number + 1 = {2 * t + 1} tasks, got m = {m}."
        )

    def one(leaf: Array) -> Array:
        dtype = accumulation_dtype(leaf.dtype)
        s = jnp.sort(leaf.astype(dtype), axis=0)
        return jnp.mean(s[t : m - t], axis=0).astype(leaf.dtype)

    return jax.tree_util.tree_map(one, jac)


def trimmed_mean(
    trim_number: int, *, num_tasks: int | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""TrimmedMean (Yin et al., ICML 2018): drop the ``t`` extreme values per coordinate, average.

    Args:
      trim_number: ``t``, the number of largest and of smallest values removed per coordinate
        (required, as in TorchJD); needs ``m ≥ 2t + 1``.
      num_tasks: m (optional; checked against the input).

    Example:
      >>> import jax.numpy as jnp, paretojax as pj
      >>> jac = {"w": jnp.array([[1e11, 3.], [1., -1e11], [-1e10, 1e10], [2., 2.]])}
      >>> tx = pj.trimmed_mean(trim_number=1)
      >>> tx.update(jac, tx.init({"w": jnp.zeros(2)}))[0]["w"]
      Array([1.5, 2.5], dtype=float32)
    """
    t = _check_trim(trim_number)
    if num_tasks is not None and num_tasks < 2 * t + 1:
        raise ValueError(
            f"trimmed_mean: num_tasks = {num_tasks} < 2·trim_number + 1 = {2 * t + 1}."
        )

    def update_fn(jac: PyTree, losses: Any, state: Any, pref: Any):
        del losses, pref
        return trimmed_mean_update(jac, t), state

    return jacobian_transform(update_fn, None, num_tasks=num_tasks, name="trimmed_mean")


INFO = MethodInfo(
    name="trimmed_mean",
    family="manipulation",
    factory=trimmed_mean,
    description="Coordinate-wise trimmed mean of the task gradients (Byzantine-robust).",
    reference="Yin et al., ICML 2018; TorchJD _trimmed_mean.py",
    example_kwargs=lambda m: {"trim_number": 1 if m >= 3 else 0},
    properties=frozenset({"PI"}),
)
