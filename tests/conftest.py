"""Shared test helpers: the repository root and a runner for snakemake in a scratch copy."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Outputs and caches that a scratch copy of the workflow must not inherit.
IGNORED = {".git", ".venv", ".snakemake", "results", "figures", "logs", "state", "__pycache__", ".pytest_cache",
           "report.html"}


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow (not its outputs) to ``dest`` so a test can run it without touching the repo."""
    def ignore(directory, names):
        skip = {n for n in names if n in IGNORED or n.endswith(".egg-info")}
        if Path(directory) == REPO / "benchmarks":
            skip.add("out")
        return skip

    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def run_snakemake(workdir: Path, *args: str, timeout: int = 900, check: bool = True, src: Path | None = None):
    """Run snakemake in ``workdir`` with the package at ``src`` (default: this repository's src/); return the
    CompletedProcess (stdout and stderr merged)."""
    env = dict(os.environ, PYTHONPATH=str(src or REPO / "src"))
    proc = subprocess.run(SNAKEMAKE + list(args), cwd=workdir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc
