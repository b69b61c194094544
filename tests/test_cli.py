"""The command line: demo, list, and one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from paretojax.cli import main


def test_demo_writes_table_json_and_png(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "25", "--methods", "linear,mgda", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "method" in text and "mgda" in text and "steps/s" in text
    results = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in results] == ["linear", "mgda"]
    for r in results:
        assert len(r["test_accuracy"]) == 2 and all(0.0 <= a <= 1.0 for a in r["test_accuracy"])
    assert (out / "demo_losses.png").stat().st_size > 1000


def test_list_shows_methods_problems_datasets(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for word in ("mgda", "linear", "zdt1", "multidigits", "mtch_balanced", "hv_grad", "psl-stch"):
        assert word in text
    import paretojax as pj
    from paretojax._run import RUN_ONLY_DESCRIPTIONS, finite_set_methods

    for name in finite_set_methods():  # every run-only name has its one-line description
        assert name in pj.methods() or RUN_ONLY_DESCRIPTIONS.get(name), name


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["demo", "--methods", "nosuchmethod"], "unknown method"),
        (["demo", "--steps", "0"], "positive integer"),
        (["demo", "--lr", "-1"], "positive number"),
        (["frobnicate"], "invalid choice"),
        (["list", "cats"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_error(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_module_entry_point_help():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    res = subprocess.run(
        [sys.executable, "-m", "paretojax", "demo", "--help"], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0
    assert "MultiDigits" in res.stdout and "--steps" in res.stdout


# ----------------------------------------------------------------------------------------- run
@pytest.mark.parametrize(
    ("method", "family"), [("epo", "preference"), ("mtch", "scalarization"), ("hv_grad", "set")]
)
def test_run_writes_metrics_front_csv_and_png(method, family, tmp_path, capsys):
    out = tmp_path / method
    argv = ["run", "fonseca_fleming", "--method", method, "--prefs", "5", "--steps", "60",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "HV" in text and "cross angle" in text and "spacing" in text
    res = json.loads((out / "metrics.json").read_text())
    assert res["family"] == family and res["K"] == 5 and res["steps"] == 60
    hv = res["metrics"]["hv"]
    assert math.isfinite(hv) and 0.0 < hv <= res["metrics"]["hv_true"] + 1e-6
    assert res["metrics"]["all_finite"] and math.isfinite(res["metrics"]["cross_angle"])
    rows = list(csv.reader((out / "front.csv").open()))
    assert rows[0] == ["f1", "f2", "p1", "p2"] and len(rows) == 6
    vals = np.array(rows[1:], float)
    np.testing.assert_allclose(vals[:, 2:].sum(1), 1.0, atol=1e-6)  # preferences on the simplex
    assert np.all((vals[:, :2] >= 0.0) & (vals[:, :2] <= 1.0))  # FF objectives lie in [0, 1]
    assert (out / "front.png").stat().st_size > 1000


def test_run_matches_run_finite_set_and_reaches_preferences(tmp_path):
    """The chunked, progress-bar loop is the driver's scan (37 steps: a masked last chunk)."""
    import jax

    import paretojax as pj
    from paretojax._run import _initial_x, make_prefs, run_problem

    prob = pj.problems.get("fonseca_fleming")
    res = run_problem("fonseca_fleming", "epo", prefs=4, steps=37, seed=3, out=tmp_path,
                      progress=False, stream=open(os.devnull, "w"))
    prefs = make_prefs(2, 4)
    x0 = _initial_x(prob, 4, jax.random.key(3))
    ref = pj.run_finite_set(prob, prefs, "epo", steps=37, x0=x0)
    f = np.loadtxt(tmp_path / "front.csv", delimiter=",", skiprows=1)[:, :2]
    np.testing.assert_allclose(f, np.asarray(ref.f), rtol=1e-5, atol=1e-6)
    hv = float(pj.metrics.hypervolume(ref.f, prob.hv_ref))
    assert abs(res["metrics"]["hv"] - hv) < 1e-5


def test_run_mtch_balanced_lands_on_the_rays():
    from paretojax._run import run_problem

    kw = dict(prefs=4, steps=400, out=None, progress=False, stream=open(os.devnull, "w"))
    bal = run_problem("fonseca_fleming", "mtch_balanced", **kw)
    assert bal["family"] == "scalarization" and bal["metrics"]["all_finite"]
    assert bal["metrics"]["cross_angle"] < 0.05, bal["metrics"]


def test_run_prefs_many_objectives():
    from paretojax._run import make_prefs

    p = make_prefs(3, 8)  # smallest Das–Dennis lattice with ≥ 8 points: H = 3, 10 points
    assert p.shape == (10, 3)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    assert p.min() >= 0.01 - 1e-12
    np.testing.assert_allclose(make_prefs(2, 8)[:, 0], np.linspace(0.01, 0.99, 8), atol=1e-6)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "nosuchproblem", "--method", "epo"], "unknown problem"),
        (["run", "fonseca_fleming", "--method", "nosuchmethod"], "unknown method"),
        (["run", "fonseca_fleming", "--method", "epo", "--prefs", "0"], "positive integer"),
        (["run", "fonseca_fleming", "--method", "epo", "--prefs", "1"], "at least 2"),
        (["run", "fonseca_fleming", "--method", "epo", "--steps", "0"], "positive integer"),
        (["run", "fonseca_fleming", "--method", "mgda"], "not a per-preference or set method"),
        (["run", "fonseca_fleming", "--method", "upgrad"], "not a per-preference or set method"),
        (["run", "stchset_quadratic", "--method", "epo"], "no finite box"),
        (["run", "fonseca_fleming"], "--method"),
    ],
)
def test_run_bad_arguments_one_line_error(argv, needle, capsys, tmp_path):
    try:
        code = main([*argv, "--out", str(tmp_path / "x")])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------- run psl
def test_run_psl_writes_metrics_front_csv_and_png(tmp_path, capsys):
    out = tmp_path / "psl"
    argv = ["run", "stch_f1", "--method", "psl-stch", "--steps", "40", "--prefs", "4",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "delta HV" in text and "HV (normalised, ref 1.1)" in text
    res = json.loads((out / "metrics.json").read_text())
    assert res["family"] == "psl" and res["loss"] == "stch" and res["steps"] == 40
    assert res["prefs_per_step"] == 4 and res["lr"] == 1e-3 and res["eval_prefs"] == 100
    met = res["metrics"]
    assert abs(met["hv_reference_front"] - 0.87667) < 1e-4
    assert 0.0 < met["hv"] < met["hv_reference_front"]
    assert abs(met["delta_hv"] - (met["hv_reference_front"] - met["hv"])) < 1e-9
    rows = list(csv.reader((out / "front.csv").open()))
    assert rows[0] == ["f1", "f2", "p1", "p2"] and len(rows) == 101
    vals = np.array(rows[1:], float)
    np.testing.assert_allclose(vals[:, 2], np.linspace(0.0, 1.0, 100), atol=1e-6)
    np.testing.assert_allclose(vals[:, 2:].sum(1), 1.0, atol=1e-6)
    assert (out / "front.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "stch_f1", "--method", "psl-nope"], "unknown method"),
        (["run", "stchset_quadratic", "--method", "psl-stch"], "no finite box"),
        (["run", "stch_f1", "--method", "psl-stch", "--lr", "0"], "positive number"),
    ],
)
def test_run_psl_bad_arguments_one_line_error(argv, needle, capsys, tmp_path):
    try:
        code = main([*argv, "--out", str(tmp_path / "x")])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
