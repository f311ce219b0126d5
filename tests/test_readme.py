"""The README's code and lists are the package's: its Python blocks run, its measures table names what
icl-measures writes."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

from icl_dynamics.measures import DEFAULTS, spectral_measures, thin_svd

from conftest import REPO

README = (REPO / "README.md").read_text()


def python_blocks(text: str) -> list[str]:
    """The fenced ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_python_blocks_are_found():
    assert python_blocks("a\n```python\nx = 1\n```\n```\nnot python\n```\n```python\ny = 2\n```\n") == ["x = 1\n", "y = 2\n"]


def section(title: str) -> str:
    """The README's section ``## <title>``, up to the next ``## `` heading."""
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_library_use_block_runs_and_prints_what_its_comments_say():
    """README.md, section 'Library use': its one block runs as written (it used undefined names), and the
    numbers its comments quote are what it computes. (The block of 'Watch your own training' is run by
    tests/test_monitor.py.)"""
    (block,) = python_blocks(section("Library use"))
    namespace, out = {"__name__": "readme"}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md, Library use", "exec"), namespace)
    a, p, q, s = namespace["a"], namespace["p"], namespace["q"], namespace["s"]
    np.testing.assert_allclose(a[-1], 30 / (31 * s + s.sum()), rtol=1e-6)  # Eq. 11: 1 / s_inf, N = 30
    assert f"{a[-1, 3]:.2f}, {(p * q)[-1, 3]:.2f}" == "2.61, 3.07"
    assert namespace["subspace_distance"](np.diag(a[100]), namespace["M"]) == pytest.approx(0, abs=1e-12)
    assert out.getvalue().count("\n") == 4


def test_readme_lists_the_measures_icl_measures_writes():
    """The measures table of *Measure your own checkpoints* names exactly the measures of spectral_measures
    (what icl-measures writes per matrix) at the default settings."""
    text = section("Measure your own checkpoints")
    table = text[text.index("| measure | definition |"):]
    rows = re.findall(r"^\| `([^`]+)` \|", table[:table.index("\n\n")], flags=re.M)
    k = sorted({DEFAULTS["marginal_rank_k"], DEFAULTS["marginal_rank_k_variant"]})
    expanded = [name for row in rows
                for name in ([row.replace("<k>", str(v)) for v in k] if "<k>" in row else
                             [row.replace("<i>", str(i + 1)) for i in range(DEFAULTS["n_mode_strengths"])] if "<i>" in row
                             else [row])]
    M = np.random.default_rng(0).normal(size=(3, 6, 6))
    written = spectral_measures(thin_svd(M), thin_svd(M[-1]))
    assert sorted(expanded) == sorted(written)


def test_readme_outputs_list_every_figure():
    """Regression: figS2 (and later figS4) was missing from the README's Outputs."""
    from icl_dynamics.experiments import figure_stems

    outputs = section("Outputs")
    assert [stem for stem in figure_stems() if not re.search(rf"[`/]{stem}`", outputs)] == []
