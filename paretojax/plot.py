r"""Plotting helpers for fronts, many-objective sets and training curves (matplotlib).

Every function builds on a :class:`matplotlib.figure.Figure` created without ``pyplot`` (so it is
safe under any backend, including headless Agg, and leaks no global state), or draws into the
``ax`` you pass, and **returns the Figure**; nothing calls ``plt.show()``. Save with
``fig.savefig("front.png")``.

Example:
  >>> import numpy as np, paretojax as pj
  >>> prob = pj.problems.get("zdt1")
  >>> fig = pj.plot.plot_front(prob.pareto_front(10), true_front=prob.pareto_front(200),
  ...                          ref=prob.hv_ref)
  >>> type(fig).__name__
  'Figure'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["plot_front", "plot_parallel", "plot_curves"]


def _new_figure(figsize, projection=None):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot(projection=projection)
    return fig, ax


def _as_points(points: Any, name: str = "points") -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"{name} must have shape [n, m], got {np.shape(points)}.")
    return p


def _labels(m: int, labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [f"$f_{{{i + 1}}}$" for i in range(m)]
    if len(labels) != m:
        raise ValueError(f"labels must have {m} entries, got {len(labels)}.")
    return list(labels)


def plot_front(
    points: Any,
    true_front: Any = None,
    prefs: Any = None,
    ref: Any = None,
    ax: Any = None,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    pref_semantics: str = "proportional",
    color: Any = "C0",
    label: str = "solutions",
) -> Any:
    r"""Scatter an objective set ``[n, m]`` for m = 2 (plane) or m = 3 (3-D axes).

    Args:
      points: ``[n, m]`` objective vectors (minimisation).
      true_front: optional ``[k, m]`` reference front (drawn as a grey line for m = 2 when sorted
        along f₁, small grey points otherwise).
      prefs: optional ``[n, m]`` preference vectors drawn as rays from the origin:
        ``pref_semantics="proportional"`` (f ∝ p: EPO, PMGDA, mTCH) draws along ``p``;
        ``"inverse"`` (f ∝ 1/p: TCH/STCH) along ``1/p``.
      ref: optional HV reference point ``[m]`` (drawn as a red cross).
      ax: an existing Axes (a 3-D one for m = 3); a new Figure is made if omitted.
      labels: axis labels (default ``f_1 … f_m``).

    For m > 3 use :func:`plot_parallel` (this function delegates to it).

    Returns:
      the matplotlib Figure.

    Example:
      >>> import numpy as np, paretojax as pj
      >>> pts = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
      >>> fig = pj.plot.plot_front(pts, ref=np.array([1.1, 1.1]), title="front")
      >>> (len(fig.axes), fig.axes[0].get_title())
      (1, 'front')
    """
    p = _as_points(points)
    m = p.shape[1]
    if m > 3:
        return plot_parallel(p, ax=ax, labels=labels, title=title)
    if m == 1:
        raise ValueError("plot_front needs m ≥ 2 objectives.")
    if pref_semantics not in ("proportional", "inverse"):
        raise ValueError(
            f"pref_semantics must be 'proportional' or 'inverse', got {pref_semantics!r}."
        )
    names = _labels(m, labels)
    if ax is None:
        fig, ax = _new_figure((5.0, 4.5) if m == 2 else (6.0, 5.5), None if m == 2 else "3d")
    else:
        fig = ax.figure
        if m == 3 and getattr(ax, "name", "") != "3d":
            raise ValueError("plot_front with m = 3 needs a 3-D Axes (projection='3d').")

    if true_front is not None:
        tf = _as_points(true_front, "true_front")
        if tf.shape[1] != m:
            raise ValueError(f"true_front has {tf.shape[1]} objectives, points have {m}.")
        if m == 2:
            order = np.argsort(tf[:, 0], kind="stable")
            tf = tf[order]
            gaps = np.hypot(np.diff(tf[:, 0]), np.diff(tf[:, 1]))
            big = gaps > 10 * (np.median(gaps) + 1e-12)  # do not join disconnected pieces
            seg = np.split(tf, np.flatnonzero(big) + 1)
            for i, s in enumerate(seg):
                ax.plot(
                    s[:, 0],
                    s[:, 1],
                    color="0.6",
                    lw=1.5,
                    zorder=1,
                    label="true front" if i == 0 else None,
                )
        else:
            ax.scatter(
                tf[:, 0], tf[:, 1], tf[:, 2], s=2, color="0.6", alpha=0.4, label="true front"
            )

    if prefs is not None:
        pr = _as_points(prefs, "prefs")
        if pr.shape[1] != m:
            raise ValueError(f"prefs have {pr.shape[1]} objectives, points have {m}.")
        d = pr if pref_semantics == "proportional" else 1.0 / np.maximum(pr, 1e-12)
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-300)
        extent = np.max(np.linalg.norm(p, axis=1)) * 1.1 if p.size else 1.0
        for i, di in enumerate(d):
            seg = np.stack([np.zeros(m), di * extent])
            kw = dict(
                color="C2", lw=0.8, ls="--", alpha=0.6, label="preferences" if i == 0 else None
            )
            if m == 2:
                ax.plot(seg[:, 0], seg[:, 1], **kw)
            else:
                ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], **kw)

    if m == 2:
        ax.scatter(p[:, 0], p[:, 1], s=25, color=color, zorder=3, label=label)
    else:
        ax.scatter(p[:, 0], p[:, 1], p[:, 2], s=20, color=color, depthshade=False, label=label)

    if ref is not None:
        r = np.asarray(ref, np.float64).reshape(-1)
        if r.shape != (m,):
            raise ValueError(f"ref must have shape ({m},), got {r.shape}.")
        if m == 2:
            ax.scatter([r[0]], [r[1]], marker="x", s=60, color="C3", zorder=4, label="HV ref")
        else:
            ax.scatter([r[0]], [r[1]], [r[2]], marker="x", s=60, color="C3", label="HV ref")

    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if m == 3:
        ax.set_zlabel(names[2])
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_parallel(
    points: Any,
    ax: Any = None,
    *,
    labels: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
    color: Any = "C0",
    alpha: float = 0.5,
) -> Any:
    """Parallel-coordinates plot of ``[n, m]`` objective vectors (for m > 3; works for any m ≥ 2).

    ``normalize=True`` rescales each objective to [0, 1] by its min/max over the set.

    Returns:
      the matplotlib Figure.

    Example:
      >>> import numpy as np, paretojax as pj
      >>> fig = pj.plot.plot_parallel(np.arange(20.0).reshape(5, 4), normalize=True)
      >>> len(fig.axes[0].lines)  # 5 polylines (one per vector) + 4 vertical objective axes
      9
    """
    p = _as_points(points)
    n, m = p.shape
    names = _labels(m, labels)
    if normalize:
        lo, hi = p.min(0), p.max(0)
        p = (p - lo) / np.where(hi > lo, hi - lo, 1.0)
    if ax is None:
        fig, ax = _new_figure((max(4.0, 0.8 * m + 2.0), 4.0))
    else:
        fig = ax.figure
    xs = np.arange(m)
    for row in p:
        ax.plot(xs, row, color=color, alpha=alpha, lw=1.0)
    ax.set_xticks(xs)
    ax.set_xticklabels(names)
    ax.set_xlim(-0.2, m - 0.8)
    ax.set_ylabel("objective value" + (" (normalised)" if normalize else ""))
    for x in xs:
        ax.axvline(x, color="0.8", lw=0.8, zorder=0)
    if title:
        ax.set_title(title)
    return fig


def plot_curves(
    history: Mapping[str, Any],
    ax: Any = None,
    *,
    steps: Any = None,
    task_names: Sequence[str] | None = None,
    xlabel: str = "step",
    ylabel: str = "loss",
    log: bool = False,
    title: str | None = None,
) -> Any:
    """Per-task training curves.

    Args:
      history: ``{name: values}``; each value is ``[T]`` (one curve) or ``[T, m]`` (one curve per
        task, labelled ``name[task]``), e.g. ``{"train": losses [T, m], "test": ...}``.
      steps: optional x values ``[T]`` (shared; default ``0..T−1`` per entry).
      task_names: names of the m tasks (default ``0..m−1``).
      log: log-scale y axis.

    Returns:
      the matplotlib Figure.

    Example:
      >>> import numpy as np, paretojax as pj
      >>> fig = pj.plot.plot_curves({"train": np.ones((10, 2)), "test": np.ones(10)})
      >>> [line.get_label() for line in fig.axes[0].lines]
      ['train[0]', 'train[1]', 'test']
    """
    if not isinstance(history, Mapping) or not history:
        raise ValueError("history must be a non-empty dict {name: array [T] or [T, m]}.")
    if ax is None:
        fig, ax = _new_figure((6.0, 4.0))
    else:
        fig = ax.figure
    styles = ["-", "--", ":", "-."]
    for k, (name, values) in enumerate(history.items()):
        v = np.asarray(values, np.float64)
        if v.ndim == 1:
            v = v[:, None]
            cols = [str(name)]
        elif v.ndim == 2:
            tn = task_names if task_names is not None else [str(i) for i in range(v.shape[1])]
            if len(tn) != v.shape[1]:
                raise ValueError(
                    f"task_names has {len(tn)} entries, {name!r} has {v.shape[1]} tasks."
                )
            cols = [f"{name}[{t}]" for t in tn]
        else:
            raise ValueError(f"history[{name!r}] must be [T] or [T, m], got shape {v.shape}.")
        x = np.arange(v.shape[0]) if steps is None else np.asarray(steps)
        if x.shape != (v.shape[0],):
            raise ValueError(
                f"steps has shape {x.shape}, history[{name!r}] has {v.shape[0]} steps."
            )
        for j in range(v.shape[1]):
            ax.plot(x, v[:, j], ls=styles[k % len(styles)], color=f"C{j % 10}", label=cols[j])
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return fig
