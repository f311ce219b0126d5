"""pyproject.toml and environment.yml agree; torch is pinned (torch==2.13.0)."""

import os
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_matches_pyproject():
    """environment.yml is the test environment: the requirements of `pip install -e ".[test,tl]"`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"] + extras["test"] + extras["tl"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-e")}
    assert listed == wanted


def test_rule_environment_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    env = yaml.safe_load((REPO / "workflow/envs/icl_dynamics.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-e")} == wanted
    assert "-e ../.." in pip  # the package itself, from the repository root


def test_workflow_extra_can_make_the_report():
    """Regression: `pip install -e ".[workflow]"` then `snakemake --report report.html` stopped with
    "Python package pygments must be installed to create reports" (the tests had it through pytest)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {"snakemake", "pygments"} <= {_name(r) for r in project["optional-dependencies"]["workflow"]}


def test_torch_is_pinned():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]


@pytest.mark.slow
def test_non_editable_install_validates_configs(tmp_path):
    """A plain (non-editable) install carries the config schemas: icl-measures --config works from it."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO)], check=True, cwd=tmp_path)
    assert sorted(p.name for p in (target / "icl_dynamics" / "schemas").glob("*.yaml")) == sorted(
        p.name for p in (REPO / "workflow" / "schemas").glob("*.yaml"))
    (tmp_path / "bad.yaml").write_text("measures: {pinv_rtol: 2}\n")
    code = ("import icl_dynamics.config as c, icl_dynamics.measures.settings as s; "
            "assert c.__file__.startswith(%r); print(s.measures_section(None)['marginal_rank_k']); "
            "s.measures_section(c.load_config('bad.yaml')['measures'])")
    run = subprocess.run([sys.executable, "-c", code % str(target)], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(target)})
    assert run.stdout.strip() == "1"
    assert "measures.pinv_rtol" in run.stderr, run.stderr
