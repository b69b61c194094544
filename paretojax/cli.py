"""The ``paretojax`` command line (also ``python -m paretojax``).

Commands:
  demo   train two digit tasks with equal weighting, MGDA and UPGrad; table + PNG (about a minute)
  run    a finite Pareto set (K solutions, one per preference) or a learned Pareto set (psl-*)
         on a built-in synthetic problem
  list   the methods (with family and reference), problems and datasets

Bad arguments give a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's convention)
        self.exit(2, f"paretojax: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="paretojax",
        description="Gradient-based multi-objective optimization in JAX.",
        epilog="Run `paretojax COMMAND --help` for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        help="two-task digits demo: equal weighting vs MGDA vs UPGrad (about a minute on CPU)",
        description=(
            "Train a shared MLP with two heads on MultiDigits-2 (two 8x8 digits overlaid on a "
            "12x12 canvas, built in-process from scikit-learn's bundled digits; nothing is "
            "downloaded) with each method for the same number of Adam steps. Prints a table of "
            "per-task test loss and accuracy and steps/s, and writes results.json and "
            "demo_losses.png (training-loss trajectories) to --out."
        ),
    )
    demo.add_argument(
        "--methods",
        default="linear,mgda,upgrad",
        help="comma-separated method names (see `paretojax list`); default: linear,mgda,upgrad",
    )
    demo.add_argument(
        "--steps", type=_positive_int, default=300, help="Adam steps per method (300)"
    )
    demo.add_argument("--batch-size", type=_positive_int, default=256, help="mini-batch size (256)")
    demo.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate (1e-3)")
    demo.add_argument("--seed", type=int, default=0, help="data and initialisation seed (0)")
    demo.add_argument("--out", default="paretojax_demo", help="output folder (paretojax_demo)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    run = sub.add_parser(
        "run",
        help="finite or learned (psl-*) Pareto set on a synthetic problem, e.g. "
        "`run fonseca_fleming --method epo`, `run stch_f4 --method psl-stch`",
        description=(
            "Optimise K solutions of a built-in synthetic problem (any bounded problem of "
            "`paretojax list problems`) together, one per preference, with plain SGD and a clamp "
            "to the box after each step (the LibMOON protocol). Methods: the preference family "
            "(epo, pmgda), any scalarization taking a preference (ls, tch, mtch, stch, pbi, "
            "cosmos, aasf, pnorm; one scalarised problem per preference; mtch_balanced: mTCH with "
            "the balanced step that lands on the rays) and hv_grad "
            "(hypervolume-gradient ascent on the whole set). Preferences: linspace(0.01, 0.99, K) "
            "for 2 objectives; for m >= 3 the smallest Das-Dennis lattice with at least K points, "
            "shrunk to entries >= 0.01. Prints a table (HV w.r.t. the problem's reference point, "
            "cross angle, spacing, ...) and writes metrics.json, front.csv (K rows: objectives "
            "then preference) and front.png to --out. Pareto-set learning: psl-ls, psl-tch, "
            "psl-stch, psl-cosmos, psl-epo, psl-hv, psl-hvi train a preference-conditioned MLP "
            "(m->512->512->n) with Adam on the STCH protocol (10 Dir(1) preferences per step, "
            "2000 steps, lr 1e-3, objectives normalised by ideal/nadir) and report HV (ref 1.1) "
            "and delta HV on 100 (m=2) or 1035 (m=3) evaluation preferences."
        ),
    )
    run.add_argument("problem", help="problem name (see `paretojax list problems`)")
    run.add_argument(
        "--method", required=True, help="epo, pmgda, mtch, tch, ..., hv_grad, or psl-stch, ..."
    )
    run.add_argument(
        "--prefs", type=_positive_int, default=None,
        help="K, the number of preferences/solutions (8; m >= 3: at least K Das-Dennis points); "
        "psl-*: preferences per step (10)",
    )
    run.add_argument(
        "--steps", type=_positive_int, default=None, help="SGD steps (500); psl-*: Adam steps (2000)"
    )
    run.add_argument("--seed", type=int, default=0, help="initialisation seed (0)")
    run.add_argument(
        "--lr", type=_positive_float, default=None,
        help="SGD learning rate (1e-2); psl-*: Adam learning rate (1e-3)",
    )
    run.add_argument("--out", default="paretojax_run", help="output folder (paretojax_run)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    lst = sub.add_parser(
        "list", help="list methods, problems and datasets", description="List the catalogue."
    )
    lst.add_argument(
        "what",
        nargs="?",
        choices=("methods", "problems", "datasets", "all"),
        default="all",
        help="what to list (all)",
    )
    return parser


def _cmd_list(what: str) -> int:
    import paretojax as pj

    if what in ("methods", "all"):
        print("methods (pj.<name>):")
        for name, info in pj.methods().items():
            print(f"  {name:<16} {info.family:<14} {info.description}")
        from paretojax._run import RUN_ONLY_DESCRIPTIONS, finite_set_methods, psl_methods

        print("more `paretojax run --method` names:")
        for name, fam in finite_set_methods().items():
            if name not in pj.methods():
                print(f"  {name:<16} {fam:<14} {RUN_ONLY_DESCRIPTIONS.get(name, '')}")
        for name, loss in psl_methods().items():
            print(f"  {name:<16} {'psl':<14} Pareto-set learning (ParetoSetMLP) with the "
                  f"{loss} loss.")
    if what in ("problems", "all"):
        from paretojax import problems

        print("problems (pj.problems.get(name)):")
        for name in problems.names():
            print(f"  {name:<20} {problems.descriptions()[name]}")
    if what in ("datasets", "all"):
        from paretojax.problems import datasets

        print("datasets (pj.datasets.get(name)):")
        for name in datasets.names():
            print(f"  {name:<20} {datasets.descriptions()[name]}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import paretojax as pj
    from paretojax._demo import run_demo

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    known = pj.methods()
    for m in methods:
        if m not in known:
            raise ValueError(f"unknown method {m!r}; run `paretojax list methods`")
    run_demo(
        methods,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        out=args.out,
        progress=not args.no_progress,
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from paretojax._run import run_problem

    run_problem(
        args.problem,
        args.method,
        prefs=args.prefs,
        steps=args.steps,
        seed=args.seed,
        lr=args.lr,
        out=args.out,
        progress=not args.no_progress,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "list":
            return _cmd_list(args.what)
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "run":
            return _cmd_run(args)
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        print(f"paretojax: error: {msg}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
