"""Cached intermediate files (one reader and writer, errors that name the file) and code fingerprints."""

import shutil

import numpy as np
import pandas as pd
import pytest

from icl_dynamics.workflow_io.fingerprints import PACKAGE_ROOT, training_code
from icl_dynamics.workflow_io.cached_files import CachedFileError, read_cached, write_cached

CACHED = {
    "table.parquet": pd.DataFrame({"step": [0, 10], "value": [1.5, 2.5]}),
    "table.csv": pd.DataFrame({"claim": ["L1"], "value": [0.1]}),
    "stack.npz": {"step": np.arange(3), "W_Q": np.ones((3, 2, 4, 2), dtype=np.float32)},
    "comparison.json": {"setting": "aniso_N30", "r2": [0.99, 0.98]},
}


@pytest.mark.parametrize("name", sorted(CACHED))
def test_round_trip(tmp_path, name):
    path = tmp_path / "sub" / name
    write_cached(CACHED[name], path)
    back = read_cached(path)
    if isinstance(back, pd.DataFrame):
        pd.testing.assert_frame_equal(back, CACHED[name])
    elif name.endswith(".npz"):
        assert back.keys() == CACHED[name].keys()
        assert all(np.array_equal(back[k], CACHED[name][k]) for k in back)
    else:
        assert back == CACHED[name]
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary file left


# A CSV cut after a line break is still a valid CSV, so text tables are not in this list; they are small
# and written atomically (write_cached), so they are never left half-written by the workflow.
@pytest.mark.parametrize("name", ["comparison.json", "stack.npz", "table.parquet"])
def test_truncated_file_is_named_with_how_to_regenerate_it(tmp_path, name):
    """Regression: a truncated checkpoint stack failed with 'OSError: [Errno 22]' or 'BadZipFile', naming
    no file."""
    path = tmp_path / name
    write_cached(CACHED[name], path)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CachedFileError, match=rf"{path}: cannot be read \(.*\); it is a workflow output: "
                                              rf"delete it \(rm {path}\), make it again with `snakemake --cores 1 "
                                              rf"{path}`"):
        read_cached(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CachedFileError, match=rf"{tmp_path / 'gone.npz'}: cannot be read \(FileNotFoundError"):
        read_cached(tmp_path / "gone.npz")


@pytest.fixture
def package_copy(tmp_path):
    root = tmp_path / PACKAGE_ROOT.name
    shutil.copytree(PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.yaml"))
    return root


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_training_code_follows_code_not_comments(package_copy):
    module = "icl_dynamics.experiments.attention.run"
    base = training_code(module, package_copy)
    assert base == training_code(module)  # same code, same hash wherever it lies
    model = package_copy / "models" / "attention_only.py"
    _edit(model, '"""Attention-only transformer', '# a comment\n"""Attention-only transformer, reworded')
    assert training_code(module, package_copy) == base  # docstring and comment only
    _edit(model, "self.scale = 1.0 / math.sqrt(e)", "self.scale = 2.0 / math.sqrt(e)")
    changed = training_code(module, package_copy)
    assert changed != base  # a module the training imports, two levels down
    _edit(package_copy / "experiments" / "attention" / "figures.py", "import", "import os\nimport")
    assert training_code(module, package_copy) == changed  # plotting code is not training code
    _edit(package_copy / "experiments" / "attention" / "checks.py", "import", "import os\nimport")
    _edit(package_copy / "config.py", "import", "import os\nimport")
    assert training_code(module, package_copy) == changed  # nor are config checks and validation
