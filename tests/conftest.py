"""Strict numerics for the whole suite (DESIGN.md §6).

* ``jax_numpy_rank_promotion="raise"``: no silent broadcasting between ranks in library code;
* the default dtype stays float32 (what users run); tests that need float64 references use the
  ``x64`` fixture, which turns on 64-bit mode for that test only.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test with ``jax_enable_x64`` (float64 arrays)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


