"""Every public function and class carries a runnable ``>>>`` example (issue #9).

The examples themselves run in the default test run (``--doctest-modules`` in the pytest
``addopts``); this test makes a *missing* example fail CI, so a new public name cannot ship
without one. NamedTuple state/result containers are exempt (they are built by the functions
whose examples show them).
"""

from __future__ import annotations

import inspect
import types

import pytest

import paretojax as pj

SUBPACKAGES = (
    "nn",
    "pruning",
    "rl",
    "alignment",
    "manifold",
    "metrics",
    "problems",
    "checkpoint",
    "plot",
    "datasets",
    "sharding",
    "merging",
)

# Temporary exemptions ((module, name) -> reason); empty. An entry that gains an example makes
# the test fail, so the list can only shrink.
PENDING: dict[tuple[str, str], str] = {}


def _is_container(obj: object) -> bool:
    return inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _public_names(mod: types.ModuleType) -> list[str]:
    names = getattr(mod, "__all__", None)
    return list(names) if names is not None else [n for n in dir(mod) if not n.startswith("_")]


def missing_examples(mod: types.ModuleType) -> list[str]:
    """Public non-container callables of ``mod`` whose docstring has no ``>>>`` line."""
    out = []
    for name in _public_names(mod):
        obj = getattr(mod, name, None)
        if obj is None or isinstance(obj, types.ModuleType) or not callable(obj):
            continue
        if _is_container(obj):
            continue
        # ``__doc__``, not ``inspect.getdoc``: a class must not pass on an inherited docstring.
        if ">>>" not in (obj.__doc__ or ""):
            out.append(name)
    return out


def _check(mod: types.ModuleType) -> None:
    missing = set(missing_examples(mod))
    pending = {n for (m, n) in PENDING if m == mod.__name__}
    stale = sorted(pending - missing)
    assert not stale, f"{mod.__name__}: these now have examples, remove them from PENDING: {stale}"
    bad = sorted(missing - pending)
    assert not bad, f"{mod.__name__}: public names without a runnable `>>>` example: {bad}"


def test_checker_flags_a_name_without_example():
    mod = types.ModuleType("fake")

    def documented():
        """Doc.

        Example:
          >>> 1 + 1
          2
        """

    def undocumented():
        """Doc, but no example."""

    class State(tuple):  # a NamedTuple-like container: exempt
        _fields = ("a",)

    mod.__all__ = ["documented", "undocumented", "State", "CONSTANT"]
    mod.documented, mod.undocumented, mod.State, mod.CONSTANT = documented, undocumented, State, 3
    assert missing_examples(mod) == ["undocumented"]


def test_top_level_names_have_examples():
    _check(pj)


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_subpackage_names_have_examples(sub):
    _check(getattr(pj, sub))

