"""Shared test utilities (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import numpy as np

J_BASE = np.array([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
G_BASE = J_BASE @ J_BASE.T
J3 = np.array([[4.0, 0.0, 1.0, 0.0], [-3.0, 1.0, 0.0, 0.5], [0.5, -2.0, 1.0, 0.0]])
G3 = J3 @ J3.T


def random_jacobian(rng: np.random.Generator, m: int, d: int, rank: int | None = None) -> np.ndarray:
    """A random m×d Jacobian of the given rank (default full)."""
    rank = min(m, d) if rank is None else rank
    a = rng.standard_normal((m, rank))
    b = rng.standard_normal((rank, d))
    return a @ b


def ill_conditioned_gram(rng: np.random.Generator, m: int, d: int = 100, cond: float = 1e4) -> np.ndarray:
    """A Gram matrix with log-spread singular values (the realistic multi-task case)."""
    j = rng.standard_normal((m, d))
    u, _, vt = np.linalg.svd(j, full_matrices=False)
    s = np.logspace(0, -np.log10(np.sqrt(cond)), len(_))
    j = (u * s) @ vt + 0.3 * rng.standard_normal((1, d))  # common component ⇒ sparse optima
    return j @ j.T
