"""Print the method catalogue as a Markdown table (used for README.md and bench/README.md).

Usage: python bench/method_table.py
"""

from __future__ import annotations

import inspect

import paretojax as pj


def _state(info: pj.MethodInfo) -> str:
    """The method's state, read from the transform it builds for m = 3."""
    kw = info.kwargs_for(3)
    if "num_tasks" in inspect.signature(info.factory).parameters:
        kw.setdefault("num_tasks", 3)
    try:
        state = info.factory(**kw).init({"w": pj.gram({"w": __import__("jax").numpy.zeros((3, 2))})})
    except Exception:  # noqa: BLE001 - a table, not a test
        return "?"
    inner = getattr(state, "inner", state)
    name = type(inner).__name__
    return "–" if name == "EmptyState" else name


def main() -> None:
    print("| method | family | needs | state | properties | reference |")
    print("|---|---|---|---|---|---|")
    for name, info in pj.methods().items():
        needs = ", ".join(info.requires) or "J"
        props = " ".join(sorted(info.properties)) or "–"
        print(f"| `pj.{name}` | {info.family} | {needs} | {_state(info)} | {props} | {info.reference} |")


if __name__ == "__main__":
    main()
