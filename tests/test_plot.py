"""Plotting helpers: they build Figures without pyplot and save to PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from paretojax import plot
from paretojax.problems import get


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_front_2d(tmp_path):
    prob = get("zdt3")
    pts = prob.pareto_front(8)
    prefs = np.stack([np.linspace(0.1, 0.9, 8), np.linspace(0.9, 0.1, 8)], 1)
    fig = plot.plot_front(
        pts, true_front=prob.pareto_front(300), prefs=prefs, ref=prob.hv_ref, title="ZDT3"
    )
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"true front", "preferences", "solutions", "HV ref"} <= set(labels)
    # ZDT3's disconnected pieces are drawn as separate lines, not joined
    front_lines = [ln for ln in ax.get_lines() if ln.get_color() == "0.6"]
    assert len(front_lines) == 5
    out = tmp_path / "front2d.png"
    fig.savefig(out)
    assert _is_png(out)
    fig2 = plot.plot_front(pts, prefs=prefs, pref_semantics="inverse")
    assert isinstance(fig2, Figure)


def test_plot_front_3d_and_existing_axes(tmp_path):
    prob = get("dtlz2")
    fig = plot.plot_front(
        prob.pareto_front(15),
        true_front=prob.pareto_front(200),
        prefs=prob.pareto_front(15) ** 2,
        ref=prob.hv_ref,
    )
    assert isinstance(fig, Figure) and fig.axes[0].name == "3d"
    fig.savefig(tmp_path / "front3d.png")
    assert _is_png(tmp_path / "front3d.png")
    host = Figure()
    ax = host.add_subplot()
    assert plot.plot_front(np.array([[0.1, 0.9], [0.9, 0.1]]), ax=ax) is host
    with pytest.raises(ValueError, match="3-D"):
        plot.plot_front(np.ones((2, 3)), ax=ax)
    with pytest.raises(ValueError):
        plot.plot_front(np.ones((3, 2)), ref=[1.0, 1.0, 1.0])


def test_plot_parallel(tmp_path):
    pts = np.random.default_rng(0).uniform(size=(12, 6))
    fig = plot.plot_parallel(pts, normalize=True, labels=[f"task {i}" for i in range(6)])
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) >= 12
    fig.savefig(tmp_path / "par.png")
    assert _is_png(tmp_path / "par.png")
    assert isinstance(plot.plot_front(pts), Figure)  # m > 3 delegates to parallel coordinates
    with pytest.raises(ValueError):
        plot.plot_parallel(pts, labels=["a"])


def test_plot_curves(tmp_path):
    t = np.arange(50)
    hist = {"train": np.stack([np.exp(-t / 10), np.exp(-t / 20)], 1), "hv": 1 - np.exp(-t / 5)}
    fig = plot.plot_curves(hist, task_names=["left", "right"], log=True, title="training")
    assert isinstance(fig, Figure)
    labels = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert labels == ["train[left]", "train[right]", "hv"]
    fig.savefig(tmp_path / "curves.png")
    assert _is_png(tmp_path / "curves.png")
    with pytest.raises(ValueError):
        plot.plot_curves({})
    with pytest.raises(ValueError):
        plot.plot_curves({"a": np.zeros((3, 2, 2))})
    with pytest.raises(ValueError):
        plot.plot_curves({"a": np.zeros(5)}, steps=np.arange(4))
