"""Aggregation overhead for a given Jacobian, paretojax vs TorchJD / LibMTL, same run (issue #10 §2).

The Jacobian is the one of an MLP ``64 → h → h → m`` (tanh, batch 256, one squared-error loss
per output) with ``h`` chosen so that it has ``d`` parameters. For every method both libraries
share, the table gives the median time to turn that Jacobian (+ losses) into the update — Gram,
solver and combine for paretojax (``jax.jit`` of the transform's ``update`` on the Jacobian
pytree), the aggregator's ``__call__`` on the same ``(m, d)`` matrix for TorchJD, ``backward``
with the gradients handed in for LibMTL (MGDA, ``mgda_gn='none'``) — and that time as a percentage
of the library's own Jacobian (forward + ``m`` VJPs: ``pj.value_and_jacobian`` /
``torch.autograd.grad(..., is_grads_batched=True)``). The Gram table compares ``pj.gram``
(blocked, default), ``pj.gram(block_size=None)`` (one contraction per leaf) and torch ``J @ J.T``.

One compute thread (XLA and torch); pin the process to one core. Medians over ``--reps``,
candidates timed alternately so machine load hits all alike:

    taskset -c 0 python bench/bench_overhead.py [--quick] [--reps 7] [--m 3 10 40] [--d 1e5 1e6] [--clock cpu]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))
import _peers  # noqa: E402

_peers.single_core()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import paretojax as pj  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")  # cvxpy's DPP notice from TorchJD's Nash-MTL, every call

BATCH, IN = 256, 64


def hidden_for(d: int, m: int) -> int:
    # d = IN*h + h + h*h + h + h*m + m  →  h² + (IN + 2 + m) h + m - d = 0
    b = IN + 2 + m
    return max(4, int((-b + math.sqrt(b * b + 4 * (d - m))) / 2))


def jax_model(m: int, h: int):
    ks = jax.random.split(jax.random.key(0), 5)
    params = {
        "l1": {"w": jax.random.normal(ks[0], (IN, h)) / 8, "b": jnp.zeros(h)},
        "l2": {"w": jax.random.normal(ks[1], (h, h)) / math.sqrt(h), "b": jnp.zeros(h)},
        "out": {"w": jax.random.normal(ks[2], (h, m)) / math.sqrt(h), "b": jnp.zeros(m)},
    }
    x = jax.random.normal(ks[3], (BATCH, IN))
    y = jax.random.normal(ks[4], (BATCH, m))

    def losses(p, x, y):
        z = jnp.tanh(x @ p["l1"]["w"] + p["l1"]["b"][None, :])
        z = jnp.tanh(z @ p["l2"]["w"] + p["l2"]["b"][None, :])
        return jnp.mean((z @ p["out"]["w"] + p["out"]["b"][None, :] - y) ** 2, axis=0)

    return params, x, y, losses


def torch_model(params, x, y):
    tp = [torch.tensor(np.asarray(params[k][n]), requires_grad=True)
          for k in ("l1", "l2", "out") for n in ("w", "b")]
    tx, ty = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y))

    def losses():
        z = torch.tanh(tx @ tp[0] + tp[1])
        z = torch.tanh(z @ tp[2] + tp[3])
        return ((z @ tp[4] + tp[5] - ty) ** 2).mean(0)

    return tp, losses


def methods(m: int):
    """name -> (paretojax transform, TorchJD aggregator or None)."""
    import torchjd.aggregation as A

    return {
        "mgda": (pj.mgda(), A.MGDA()),
        "upgrad": (pj.upgrad(), A.UPGrad()),
        "cagrad": (pj.cagrad(c=0.5), A.CAGrad(c=0.5)),
        "imtl_g": (pj.imtl_g(), A.IMTLG()),
        "nash_mtl": (pj.nash_mtl(num_tasks=m), A.NashMTL(n_tasks=m)),
        "aligned_mtl": (pj.aligned_mtl(), A.AlignedMTL()),
    }


def libmtl_mgda(m: int, jt: torch.Tensor, lt: torch.Tensor):
    """LibMTL's MGDA ``backward`` with the Jacobian handed in instead of recomputed."""
    MGDA = _peers.import_libmtl_weighting("MGDA")

    class Given(MGDA):
        def __init__(self):
            super().__init__()
            self.task_num, self.device, self.rep_grad = m, torch.device("cpu"), False

        def _get_grads(self, losses, mode="backward"):
            return jt

        def _backward_new_grads(self, batch_weight, per_grads=None, grads=None):
            self.update = torch.einsum("i,i...->...", batch_weight, grads)

    agg = Given()
    losses = list(lt)
    return lambda: agg.backward(losses, mgda_gn="none")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--m", type=int, nargs="+", default=[3, 10, 40])
    ap.add_argument("--d", type=float, nargs="+", default=[1e5, 1e6])
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="m ∈ {3, 10}, d = 1e5, 3 reps")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or this process's CPU time (for a shared, busy machine)")
    args = ap.parse_args()
    _peers.CLOCK[0] = args.clock
    if args.quick:
        args.m, args.d, args.reps = [3, 10], [1e5], 3

    print(_peers.header())
    print("# command: python bench/bench_overhead.py " + " ".join(sys.argv[1:])
          + "  (pinned cores: see affinity)")
    rows, grows = [], []
    for d in [int(v) for v in args.d]:
        for m in args.m:
            h = hidden_for(d, m)
            params, x, y, f = jax_model(m, h)
            dd = sum(a.size for a in jax.tree_util.tree_leaves(params))
            vag = jax.jit(pj.value_and_jacobian(f))
            losses, jac = vag(params, x, y)
            tp, tl = torch_model(params, x, y)
            eye = torch.eye(m)

            def torch_jac(tp=tp, tl=tl, eye=eye):
                return torch.autograd.grad(tl(), tp, grad_outputs=eye, is_grads_batched=True)

            flat = np.concatenate([np.asarray(jac[k][n]).reshape(m, -1)
                                   for k in ("l1", "l2", "out") for n in ("w", "b")], 1)
            jt, lt = torch.tensor(flat), torch.tensor(np.asarray(losses))
            t_jac = _peers.median_ms({
                "jax": lambda: jax.block_until_ready(vag(params, x, y)),
                "torch": torch_jac,
            }, args.reps)
            g_blk = jax.jit(pj.gram)
            g_one = jax.jit(lambda j: pj.gram(j, block_size=None))
            t_g = _peers.median_ms({
                "blocked": lambda: jax.block_until_ready(g_blk(jac)),
                "one": lambda: jax.block_until_ready(g_one(jac)),
                "torch": lambda: jt @ jt.T,
            }, args.reps)
            grows.append((m, dd, t_g["blocked"], t_g["one"], t_g["torch"]))
            for name, (tx, agg) in methods(m).items():
                if args.methods and name not in args.methods:
                    continue
                state = tx.init(params)
                upd = jax.jit(lambda j, s, l, tx=tx: tx.update(j, s, None, task_losses=l)[0])
                fns = {"ours": lambda upd=upd, s=state: jax.block_until_ready(upd(jac, s, losses))}
                if agg is not None:
                    fns["torchjd"] = lambda agg=agg: agg(jt)
                if name == "mgda":
                    fns["libmtl"] = libmtl_mgda(m, jt, lt)
                t = _peers.median_ms(fns, args.reps)
                rows.append((name, m, dd, t, t_jac))
                print(f"  ... {name} m={m} d={dd}: " + ", ".join(f"{k} {v:.2f} ms"
                      for k, v in t.items()), file=sys.stderr, flush=True)

    def pct(a: float, b: float) -> str:
        return f"{100 * a / b:.1f} %"

    print("\n## Aggregation overhead (median ms; % of the same library's Jacobian)\n")
    print("| method | m | d | J jax | J torch | ours | ours % J | TorchJD | TorchJD % J | "
          "LibMTL | LibMTL % J | TorchJD / ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, m, dd, t, tj in rows:
        tjd, lib = t.get("torchjd"), t.get("libmtl")
        print(f"| {name} | {m} | {dd:.2g} | {tj['jax']:.1f} | {tj['torch']:.1f} | "
              f"{t['ours']:.2f} | {pct(t['ours'], tj['jax'])} | "
              + (f"{tjd:.2f} | {pct(tjd, tj['torch'])} | " if tjd else "– | – | ")
              + (f"{lib:.2f} | {pct(lib, tj['torch'])} | " if lib else "– | – | ")
              + (f"{tjd / t['ours']:.1f}× |" if tjd else "– |"))
    print("\n## Gram of the Jacobian (median ms)\n")
    print("| m | d | pj.gram (blocked) | pj.gram(block_size=None) | torch J @ J.T | "
          "torch / blocked |")
    print("|---|---|---|---|---|---|")
    for m, dd, b, o, t in grows:
        print(f"| {m} | {dd:.2g} | {b:.2f} | {o:.2f} | {t:.2f} | {t / b:.2f}× |")


if __name__ == "__main__":
    main()
