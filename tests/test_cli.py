"""The command line: demo, list, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
    for word in ("mgda", "linear", "zdt1", "multidigits"):
        assert word in text


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
