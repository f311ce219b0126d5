"""The conda environments (environment.yml, workflow/envs/icl_dynamics.yaml) cannot drift from pyproject.toml.

No conda channel is reachable where the project is built, so the environments are never solved here; these
tests compare them with pyproject.toml, the source of truth, requirement by requirement (name, extras and
version specifier, read with ``packaging``). tests/test_packaging.py checks the two lists as a whole; here
every extra is accounted for, and the Python versions and the pip entries agree too.
"""

import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
# environment.yml is `pip install -e ".[test,tl]"`, which also holds what `workflow` and `slurm` install;
# `tl4` is the alternative to `tl` (the same package, another release), so no one environment has both.
COVERED = {"workflow", "test", "slurm", "tl"}
ALTERNATIVES = {"tl4": "tl"}


def requirements(lines) -> dict[str, Requirement]:
    """Canonical package name -> its requirement; a name listed twice fails."""
    out = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in out, f"{name} listed twice"
        out[name] = requirement
    return out


def pinned(requirement: Requirement) -> tuple:
    return requirement.extras, requirement.specifier, requirement.marker


def environment(path: str) -> tuple[list[str], list[str]]:
    """The conda dependencies (strings) and the pip section of a conda environment file."""
    env = yaml.safe_load((REPO / path).read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [entry for d in env["dependencies"] if isinstance(d, dict) for entry in d["pip"]]
    return conda, pip


def test_every_extra_is_covered_or_an_alternative():
    """A new extra must be placed: in environment.yml, or named as the alternative of one that is."""
    assert set(EXTRAS) == COVERED | set(ALTERNATIVES)
    assert set(ALTERNATIVES.values()) <= COVERED
    for extra, covered in ALTERNATIVES.items():
        assert set(requirements(EXTRAS[extra])) == set(requirements(EXTRAS[covered])), extra


def test_environment_yml_lists_the_dependencies_and_covered_extras_with_their_pins():
    _, pip = environment("environment.yml")
    listed = requirements(entry for entry in pip if not entry.startswith("-e"))
    wanted = requirements(PROJECT["dependencies"] + EXTRAS["test"] + EXTRAS["tl"])
    assert listed.keys() == wanted.keys()
    for group in ["dependencies", *sorted(COVERED)]:  # each extra, not only their union, pinned as in pyproject
        for name, requirement in requirements(PROJECT[group] if group == "dependencies" else EXTRAS[group]).items():
            assert pinned(listed[name]) == pinned(requirement), f"{name} of {group}: {listed[name]} vs {requirement}"
    assert "-e ." in pip  # the package itself


def test_rule_environment_lists_the_dependencies_with_their_pins():
    _, pip = environment("workflow/envs/icl_dynamics.yaml")
    listed = requirements(entry for entry in pip if not entry.startswith("-e"))
    wanted = requirements(PROJECT["dependencies"])
    assert listed.keys() == wanted.keys()
    for name, requirement in wanted.items():
        assert pinned(listed[name]) == pinned(requirement), f"{name}: {listed[name]} vs {requirement}"


@pytest.mark.parametrize("path", ["environment.yml", "workflow/envs/icl_dynamics.yaml"])
def test_conda_python_satisfies_requires_python_and_pip_is_a_conda_dependency(path):
    conda, pip = environment(path)
    python = [entry for entry in conda if canonicalize_name(Requirement(entry.replace("=", "==", 1)).name) == "python"]
    assert len(python) == 1, conda
    version = python[0].split("=", 1)[1]
    assert SpecifierSet(PROJECT["requires-python"]).contains(version), (python, PROJECT["requires-python"])
    assert pip and "pip" in conda  # conda runs the pip section only with pip installed in the environment
