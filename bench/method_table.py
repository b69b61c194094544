"""Print the method catalogue as a Markdown table (used for README.md and bench/README.md).

Usage: python bench/method_table.py [--solvers]
"""

from __future__ import annotations

import inspect
import sys

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


# Inner solver of each method and the worst gap measured against an exact reference (float64,
# the numbers reported by tests/test_qp.py, test_boxqp.py, test_solvers_k4_k5.py, test_lp.py).
K2 = "K2 min-norm (Wolfe MNP): ≤ 1e-15 rel. (4.1e-8 on zero optima, abs 3e-17), 8 568 problems vs quadprog"
K3 = "K3 lower-bounded QP (active set): 3.9e-9 rel. (3.1e-13 scaled), 240 vs quadprog"
K4 = "K4 CAGrad dual: 2.5e-16 vs SLSQP, 210 instances"
K5 = "K5 Newton root Gw = w^(-1/α): residual 2.7e-13, weights 2.3e-14 vs scipy, 210"
K6 = "K6 interior-point QP/LP: 2.5e-11 vs quadprog, 6.7e-12 vs HiGHS, 300"
SOLVER = {
    "mgda": K2, "moml": K2 + " (outer MGDA)", "upgrad": K3, "dualproj": K3, "cagrad": K4,
    "nash_mtl": K5, "fairgrad": K5, "forum": K6,
    "imtl_g": "closed form (eigh pseudo-inverse)", "aligned_mtl": "closed form (eigh)",
    "config": "closed form (Gram pseudo-inverse)", "pcgrad": "K8 Gram-form projections (exact)",
    "gradvac": "Gram-form recurrence (exact)", "modo": "K7 literal recurrence",
    "sdmgrad": "K7 literal recurrence (20 it.)", "moco": "literal recurrence",
}


def main() -> None:
    bench = "--solvers" in sys.argv
    head = "| method | family | needs | state | properties | reference |"
    print(head + (" inner solver, worst gap |" if bench else ""))
    print("|---|---|---|---|---|---|" + ("---|" if bench else ""))
    for name, info in pj.methods().items():
        needs = ", ".join(info.requires) or "J"
        props = " ".join(sorted(info.properties)) or "–"
        row = f"| `pj.{name}` | {info.family} | {needs} | {_state(info)} | {props} | {info.reference} |"
        if bench:
            row += f" {SOLVER.get(name, 'closed form / none')} |"
        print(row)


if __name__ == "__main__":
    main()
