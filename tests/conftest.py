"""Strict numerics for the whole suite (DESIGN.md §6).

* ``jax_numpy_rank_promotion="raise"``: no silent broadcasting between ranks in library code;
* the default dtype stays float32 (what users run); tests that need float64 references use the
  ``x64`` fixture, which turns on 64-bit mode for that test only;
* XLA's CPU backend compiles at optimisation level 0 (``FAST_COMPILE_FLAG``): the suite is
  compile-bound (hundreds of small jitted programs run a few times each), and level 0 halves its
  time. Same programs (results may differ in the last bits); set ``PARETOJAX_TEST_XLA_OPT=1`` to test the optimised pipeline.
"""

from __future__ import annotations

import os

FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"
if os.environ.get("PARETOJAX_TEST_XLA_OPT", "0") != "1":
    # Before JAX creates its backend; inherited by the subprocesses tests start (notebooks,
    # the 8-device sharding run).
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_FLAG}".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test with ``jax_enable_x64`` (float64 arrays)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)




# Heavy tests whose property is also covered by a lighter default test or by a bench script; they
# run with `pytest -m slow` (kept out of the default run to hold it near its 15-minute budget).
_HEAVY = {
    "tests/test_nn.py::test_feature_level_step_matches_reference[mmoe]",
    "tests/test_nn.py::test_feature_level_step_matches_reference[hard_sharing]",
    "tests/test_memory_modes.py::test_chunked_jacobian_argnums_aux_and_vmap",
    "tests/test_rl.py::test_balanced_policies_improve_both_objectives",
    "tests/test_merging.py::test_one_hot_recovers_task_model_data_free",
    "tests/test_manifold_layers.py::test_pwe_moe_routing_task_arithmetic_and_router_only_training",
    "tests/test_pareto_set_more.py::test_stch_set_beats_independent_ls",
}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        if item.nodeid in _HEAVY:
            item.add_marker(pytest.mark.slow)
