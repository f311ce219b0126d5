"""Hashes of the code a rule runs, for its ``params``: Snakemake reruns a job when they change.

Two kinds (workflow/rules/common.smk gives each rule one, and the Snakefile refuses a rule without it):

- :func:`training_code`: the code that changes a training run's trajectory (its training module and every
  package module it imports, config validation excepted), so that editing plotting, measures or claims
  never retrains, and editing a model or the trainer does;
- :func:`script_code`: everything a non-training rule's script runs (the script and every package module
  it imports, transitively), so that editing a theory, measure, claim or figure function reruns that rule
  and what depends on it.

Each file enters as its AST without docstrings, so comments, docstrings and formatting change nothing.
A source text is parsed once per process (:func:`_parsed`, keyed by the text itself, so an edited file is
parsed again): the Snakefile asks for about 75 fingerprints whose import closures share most modules.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path


PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _module_file(name: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of module ``<package>.<...>`` (a module or a package's __init__) under the package
    folder ``root``, found without importing it; None if ``name`` is not a module of the package (e.g. a
    function imported by name)."""
    base = root.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_imports(text: str, root: Path) -> set[str]:
    """Modules of the package at ``root`` imported by the module whose source is ``text`` (``from a.b import
    c`` counts a.b.c when it is a module)."""
    package, found = root.name, set()
    for module, names in _parsed(text)[1]:
        if module is None:
            found |= {name for name in names if name.split(".")[0] == package}
        elif module.split(".")[0] == package:
            found.add(module)
            found |= {f"{module}.{name}" for name in names if _module_file(f"{module}.{name}", root) is not None}
    return found


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def _parsed(text: str) -> tuple[bytes, tuple[tuple[str | None, tuple[str, ...]], ...]]:
    """One source text, parsed once: its AST dump without docstrings (what a fingerprint hashes) and its
    import statements, as (None, names) for ``import names`` and (module, names) for ``from module import
    names`` (relative imports have no package prefix and are never the package's)."""
    tree = ast.parse(text)
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.append((None, tuple(alias.name for alias in node.names)))
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.append((node.module, tuple(alias.name for alias in node.names)))
    return ast.dump(_strip_docstrings(tree)).encode(), tuple(imports)


# Modules a training module imports that compute nothing of a run: config validation (its defaults live in
# the schemas and reach the training rules through their params; its code only checks and words errors).
NOT_TRAJECTORY = ("config",)


def _closure(modules: list[str], root: Path, skip: set[str]) -> list[str]:
    """The package modules ``modules`` import, transitively, themselves included, less ``skip``; sorted."""
    todo, seen = list(modules), set()
    while todo:
        name = todo.pop()
        if name in seen or name in skip:
            continue
        seen.add(name)
        path = _module_file(name, root)
        if path is not None:
            todo += sorted(_package_imports(path.read_text(), root) - seen)
    return sorted(name for name in seen if _module_file(name, root) is not None)


def _digest(names: list[str], root: Path, digest=None) -> str:
    digest = digest or hashlib.sha256()
    for name in names:
        digest.update(name.encode() + _parsed(_module_file(name, root).read_text())[0])
    return digest.hexdigest()[:16]


def training_code(module: str, root: Path = PACKAGE_ROOT) -> str:
    """A hash of the code a training ``module`` runs: its source and that of every module of its package (the
    folder ``root``, by default this package) it imports, transitively, each without comments, docstrings
    or formatting (their ASTs), leaving out :data:`NOT_TRAJECTORY`. Training rules put it in their
    ``params``, so Snakemake retrains when that code changes, and only then; a resumed run checks it too."""
    return _digest(_closure([module], root, {f"{root.name}.{name}" for name in NOT_TRAJECTORY}), root)


def script_code(script: str | Path, root: Path = PACKAGE_ROOT) -> str:
    """A hash of everything a workflow script runs: the script's own AST (without docstrings) and every
    module of the package at ``root`` it imports, transitively (nothing left out: a non-training rule is
    cheap to rerun, and config code may shape what it computes)."""
    text = Path(script).read_text()
    digest = hashlib.sha256(_parsed(text)[0])
    return _digest(_closure(sorted(_package_imports(text, root)), root, set()), root, digest)
