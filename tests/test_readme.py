"""The README's Python examples run as written (so they cannot rot), and its method table is
the registry's."""

from __future__ import annotations

import pathlib
import re
import textwrap

import pytest

import paretojax as pj

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_two_setup_commands():
    bash = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert [b.strip() for b in bash] == [
        "pip install -e . && paretojax demo",
        'pip install -e ".[test]" && python -m pytest -q',
    ]


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks_run(code):
    exec(compile(textwrap.dedent(code), "README.md", "exec"), {"__name__": "readme"})


def test_readme_lists_every_method():
    for name in pj.methods():
        assert f"`pj.{name}`" in README, f"README method table misses pj.{name}"
