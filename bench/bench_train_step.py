"""Full multi-task training step, paretojax vs torch + TorchJD / LibMTL, same run (issue #10 §3).

Model: shared MLP trunk ``64 → 256 → 256`` (tanh) and ``m`` linear heads ``256 → 1``, batch 256,
one squared-error loss per task, SGD. One step = forward, gradients, method, optimizer update.

* paretojax (``jax.jit``): ``ew_floor`` (``jax.value_and_grad`` of ``Σ L_i``: one backward, the
  floor of any method); ``ew_jac`` (``pj.make_step`` with ``pj.linear()``: the full Jacobian
  then ``Σ_i J_i``, the reference a Jacobian-based method is judged against); ``mgda`` /
  ``upgrad`` (``pj.make_step`` with ``pj.mgda()`` / ``pj.upgrad()``; Jacobian of *all*
  parameters, heads included); ``*_gram`` (``make_gram_step``, Gram-only mode, chunk ``m``).
* torch 2.13 CPU: ``torchjd_upgrad`` (``torchjd.autojac.mtl_backward`` + ``jac_to_grad(shared,
  UPGrad())``: Jacobian of the shared trunk only, heads get their own gradient);
  ``libmtl_mgda`` (LibMTL's ``MGDA.backward``, ``mgda_gn='none'``, per-task ``backward`` on the
  shared parameters, as in its ``Trainer``); ``torch_ew`` (``Σ L_i`` then one backward).

The ``--memory`` table compiles the steps on a larger trunk (``64 → 1024 → 1024 → 1024``,
m = 10, ~2.2 M parameters) and reports XLA's ``compiled.memory_analysis()``: temporary buffers
(the peak working set beyond the arguments and outputs) for the full-Jacobian, chunked-Jacobian
and Gram-only modes — compiled figures, not a measured RSS.

    taskset -c 0 python bench/bench_train_step.py [--quick] [--reps 21] [--m 2 5 10] [--memory] [--clock cpu]
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
import optax  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import paretojax as pj  # noqa: E402
from paretojax.gram_step import make_gram_step  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")

BATCH, IN, LR = 256, 64, 1e-3


def jax_problem(m: int, hidden: tuple[int, ...] = (256, 256)):
    ks = iter(jax.random.split(jax.random.key(0), 2 * len(hidden) + 4))
    trunk, fan = [], IN
    for h in hidden:
        trunk.append({"w": jax.random.normal(next(ks), (fan, h)) / math.sqrt(fan),
                      "b": jnp.zeros(h)})
        fan = h
    params = {"trunk": trunk,
              "heads": {"w": jax.random.normal(next(ks), (fan, m)) / math.sqrt(fan),
                        "b": jnp.zeros(m)}}
    x = jax.random.normal(next(ks), (BATCH, IN))
    y = jax.random.normal(next(ks), (BATCH, m))

    def losses(p, x, y):
        z = x
        for layer in p["trunk"]:
            z = jnp.tanh(z @ layer["w"] + layer["b"][None, :])
        out = z @ p["heads"]["w"] + p["heads"]["b"][None, :]
        return jnp.mean((out - y) ** 2, axis=0)

    return params, (x, y), losses


def jax_steps(m: int):
    params, batch, f = jax_problem(m)
    sgd = optax.sgd(LR)
    steps = {}

    @jax.jit
    def floor(p, s, batch):
        loss, g = jax.value_and_grad(lambda q: jnp.sum(f(q, *batch)))(p)
        u, s = sgd.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    steps["ew_floor"] = (floor, sgd.init(params))
    for name, tr in (("ew_jac", pj.linear()), ("mgda", pj.mgda()), ("upgrad", pj.upgrad())):
        tx = optax.chain(tr, sgd)
        steps[name] = (pj.make_step(f, tx), tx.init(params))
    for name, w in (("mgda_gram", pj.mgda_weighting()), ("upgrad_gram", pj.upgrad_weighting())):
        gs = make_gram_step(f, w, sgd, chunk_size=None)
        steps[name] = (gs.step, gs.init(params))
    fns = {}
    for name, (step, state) in steps.items():
        box = {"p": params, "s": state}

        def run(step=step, box=box):
            p, s, _ = step(box["p"], box["s"], batch)
            jax.block_until_ready(p)
            box["p"], box["s"] = p, s

        fns[name] = run
    return fns


def torch_problem(m: int):
    g = torch.Generator().manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Linear(IN, 256), torch.nn.Tanh(),
                                torch.nn.Linear(256, 256), torch.nn.Tanh())
    heads = torch.nn.ModuleList([torch.nn.Linear(256, 1) for _ in range(m)])
    x = torch.randn(BATCH, IN, generator=g)
    y = torch.randn(BATCH, m, generator=g)
    return trunk, heads, x, y


def torch_steps(m: int):
    from torchjd.aggregation import UPGrad
    from torchjd.autojac import jac_to_grad, mtl_backward

    fns = {}

    trunk, heads, x, y = torch_problem(m)
    opt = torch.optim.SGD([*trunk.parameters(), *heads.parameters()], lr=LR)
    upgrad = UPGrad()

    def torchjd_upgrad():
        feat = trunk(x)
        losses = [((h(feat)[:, 0] - y[:, i]) ** 2).mean() for i, h in enumerate(heads)]
        mtl_backward(losses, features=feat)
        jac_to_grad(list(trunk.parameters()), upgrad)
        opt.step()
        opt.zero_grad()

    fns["torchjd_upgrad"] = torchjd_upgrad

    MGDA = _peers.import_libmtl_weighting("MGDA")
    t2, h2, x2, y2 = torch_problem(m)
    opt2 = torch.optim.SGD([*t2.parameters(), *h2.parameters()], lr=LR)

    class LibMTLModel(MGDA):
        def __init__(self):
            super().__init__()
            self.task_num, self.device, self.rep_grad = m, torch.device("cpu"), False

        def get_share_params(self):
            return t2.parameters()

        def zero_grad_share_params(self):
            t2.zero_grad(set_to_none=False)

    lib = LibMTLModel()

    def libmtl_mgda():
        feat = t2(x2)
        losses = torch.stack([((h(feat)[:, 0] - y2[:, i]) ** 2).mean() for i, h in enumerate(h2)])
        lib.backward(losses, mgda_gn="none")
        opt2.step()
        opt2.zero_grad()

    fns["libmtl_mgda"] = libmtl_mgda

    t3, h3, x3, y3 = torch_problem(m)
    opt3 = torch.optim.SGD([*t3.parameters(), *h3.parameters()], lr=LR)

    def torch_ew():
        feat = t3(x3)
        sum(((h(feat)[:, 0] - y3[:, i]) ** 2).mean() for i, h in enumerate(h3)).backward()
        opt3.step()
        opt3.zero_grad()

    fns["torch_ew"] = torch_ew
    return fns


def memory_table() -> None:
    m = 10
    params, batch, f = jax_problem(m, hidden=(1024, 1024, 1024))
    d = sum(a.size for a in jax.tree_util.tree_leaves(params))
    sgd = optax.sgd(LR)
    w = pj.mgda_weighting()
    tx = optax.chain(pj.as_transform(w), sgd)
    rows = []

    def stats(fn, *args):
        return fn.lower(*args).compile().memory_analysis()

    for label, chunk in (("Jacobian (make_step)", None), ("Jacobian, chunk_size=2", 2),
                         ("Jacobian, chunk_size=1", 1)):
        step = pj.make_step(f, tx, chunk_size=chunk)
        rows.append((label, stats(step, params, tx.init(params), batch)))
    for label, chunk in (("Gram-only, chunk_size=None (m)", None), ("Gram-only, chunk_size=2", 2),
                         ("Gram-only, chunk_size=1", 1)):
        gs = make_gram_step(f, w, sgd, chunk_size=chunk)
        rows.append((label, stats(gs.step, params, gs.init(params), batch)))
    floor = jax.jit(lambda p, s, b: sgd.update(jax.grad(lambda q: jnp.sum(f(q, *b)))(p), s, p))
    rows.append(("single backward (EW floor)", stats(floor, params, sgd.init(params), batch)))
    print(f"\n## Compiled memory, MGDA step, trunk 64-1024-1024-1024, m = {m}, d = {d:,}, "
          f"batch {BATCH} (f32 Jacobian = {4 * m * d / 2**20:.0f} MiB)\n")
    print("| mode | temp MiB | args + outputs MiB | temp / Jacobian-mode temp |")
    print("|---|---|---|---|")
    base = rows[0][1].temp_size_in_bytes
    for label, s in rows:
        io = (s.argument_size_in_bytes + s.output_size_in_bytes) / 2**20
        print(f"| {label} | {s.temp_size_in_bytes / 2**20:.1f} | {io:.1f} | "
              f"{s.temp_size_in_bytes / base:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--m", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--memory", action="store_true", help="add the compiled-memory table")
    ap.add_argument("--quick", action="store_true", help="5 reps")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or this process's CPU time (for a shared, busy machine)")
    args = ap.parse_args()
    _peers.CLOCK[0] = args.clock
    if args.quick:
        args.reps = 5
    print(_peers.header())
    print("# command: python bench/bench_train_step.py " + " ".join(sys.argv[1:])
          + "  (pinned cores: see affinity)")
    res = {}
    for m in args.m:
        fns = {**jax_steps(m), **torch_steps(m)}
        res[m] = _peers.median_ms(fns, args.reps)
        print(f"  ... m={m}: " + ", ".join(f"{k} {v:.2f}" for k, v in res[m].items()),
              file=sys.stderr, flush=True)
    print("\n## Training step, median ms (64-256-256 trunk, m linear heads, batch 256, SGD)\n")
    names = ["ew_floor", "ew_jac", "mgda", "upgrad", "mgda_gram", "upgrad_gram",
             "torch_ew", "torchjd_upgrad", "libmtl_mgda"]
    print("| m | " + " | ".join(names) + " | best peer / ours (mgda, upgrad) | "
          "ours / ew_jac (mgda, upgrad) |")
    print("|---|" + "---|" * (len(names) + 2))
    for m, t in res.items():
        peer = min(t["torchjd_upgrad"], t["libmtl_mgda"])
        print(f"| {m} | " + " | ".join(f"{t[k]:.2f}" for k in names)
              + f" | {peer / t['mgda']:.1f}×, {peer / t['upgrad']:.1f}× | "
              f"{t['mgda'] / t['ew_jac']:.2f}, {t['upgrad'] / t['ew_jac']:.2f} |")
    if args.memory:
        memory_table()


if __name__ == "__main__":
    main()
