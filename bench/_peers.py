"""Shared helpers of the issue-#10 benches: single-core setup, timing, peer loading and versions.

The peers (PyTorch, TorchJD, LibMTL) are benchmark-only dependencies (``bench/requirements-
peers.txt``); they are imported here, never by the library.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from importlib import metadata
from typing import Any


def single_core() -> None:
    """One compute thread for XLA and torch (call before importing jax); pin with taskset."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (
            flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(extra: str = "") -> str:
    import jax

    aff = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (
        f"# {platform.machine()}, {os.cpu_count()} cpus (affinity {aff}), python "
        f"{platform.python_version()}, jax {jax.__version__}, torch {version('torch')}, "
        f"torchjd {version('torchjd')}, LibMTL {version('LibMTL')}, "
        f"load avg {os.getloadavg()[0]:.1f}, clock {CLOCK[0]}{extra}"
    )


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = ["wall"]


def median_ms(fns: dict[str, Callable[[], Any]], reps: int, warmup: int = 2) -> dict[str, float]:
    """Median time (ms) of each zero-argument callable; timed alternately per repetition so
    that machine load hits every candidate alike. Callables must block until done.

    The clock is wall time (default) or, with ``CLOCK[0] = "cpu"``, the CPU time of this
    process (all its threads): on a shared, oversubscribed machine the CPU time of a
    single-threaded run is far less disturbed by other jobs than the wall time."""
    clock = CLOCKS[CLOCK[0]]
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t = clock()
            fn()
            times[k].append(clock() - t)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def import_libmtl_weighting(name: str) -> Any:
    """A LibMTL weighting class without running ``LibMTL/__init__`` (which imports torchvision's
    long-removed ``torchvision.models.utils``; torchvision is not a dependency here)."""
    if "LibMTL" not in sys.modules:
        import importlib.util

        spec = importlib.util.find_spec("LibMTL")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("LibMTL is not installed (pip install --no-deps LibMTL==1.1.5)")
        pkg = types.ModuleType("LibMTL")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["LibMTL"] = pkg
    import importlib

    return getattr(importlib.import_module(f"LibMTL.weighting.{name}"), name)
