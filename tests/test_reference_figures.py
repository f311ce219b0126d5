"""The reference figures in docs/results/figures/ (icl_dynamics.reference_figures): shrinking, the manifest, and
the README's images checked against it."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from icl_dynamics.reference_figures import (
    MANIFEST,
    ReferenceFigureError,
    readme_figure_problems,
    readme_images,
    committed_manifest,
    run_commit,
    sha256,
    shrink_png,
    write_reference_figures,
)

from conftest import REPO


def _noisy_png(path, width=900, height=600, seed=0):
    """A PNG that compresses badly (random pixels), about 3 bytes a pixel: 1.6 MB at 900 x 600."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_shrink_png_brings_a_large_file_below_the_limit_and_copies_a_small_one(tmp_path):
    big = _noisy_png(tmp_path / "big.png")
    assert big.stat().st_size > 1_000_000
    sizes = shrink_png(big, tmp_path / "out" / "big.png", max_bytes=300_000)
    assert sizes["source_bytes"] == big.stat().st_size and sizes["source_size"] == [900, 600]
    assert sizes["bytes"] == (tmp_path / "out" / "big.png").stat().st_size <= 300_000
    width, height = sizes["size"]
    assert width < 900 and abs(width / height - 1.5) < 0.01  # scaled down, aspect ratio kept

    # an opaque RGBA figure (as matplotlib writes) just over the limit loses its alpha channel, not pixels
    pixels = np.random.default_rng(1).integers(0, 256, (200, 300, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    Image.fromarray(pixels, "RGBA").save(tmp_path / "opaque.png")
    limit = (tmp_path / "opaque.png").stat().st_size - 1000  # RGB costs 3/4 of RGBA's bytes here
    sizes = shrink_png(tmp_path / "opaque.png", tmp_path / "out" / "opaque.png", max_bytes=limit)
    assert sizes["size"] == [300, 200] and sizes["bytes"] <= limit
    with Image.open(tmp_path / "out" / "opaque.png") as image:
        assert image.mode == "RGB" and np.array_equal(np.asarray(image), pixels[..., :3])

    small = _noisy_png(tmp_path / "small.png", 40, 30)
    sizes = shrink_png(small, tmp_path / "out" / "small.png", max_bytes=300_000)
    assert sizes["size"] == [40, 30] and sha256(tmp_path / "out" / "small.png") == sha256(small)  # a plain copy


def _reference(tmp_path):
    """A repository folder with a config file, two figures written to docs/results/figures and a README that
    links both."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("seed: 0\n")
    figures = {"fig1_a": _noisy_png(tmp_path / "fig1_a.png", 300, 200), "fig2_b": _noisy_png(tmp_path / "fig2_b.png", 900, 600, 1)}
    folder = tmp_path / "docs/results/figures"
    manifest = write_reference_figures(figures, {"fig1_a": ("linear_figure", "abc"), "fig2_b": ("linear_figure", "abc")},
                                       folder, ["config/config.yaml"], "0" * 40, root=tmp_path, max_bytes=400_000)
    (tmp_path / "README.md").write_text("Figure 1: ![fig 1](docs/results/figures/fig1_a.png)\n"
                                        '<img src="docs/results/figures/fig2_b.png" width="600">\n'
                                        "![elsewhere](figures/fig3.png)\n")
    return folder, manifest


def test_manifest_lists_every_copied_file_with_its_hash_rule_and_commit(tmp_path):
    folder, manifest = _reference(tmp_path)
    assert json.loads((folder / MANIFEST).read_text()) == manifest
    assert manifest["commits"] == ["0" * 40]
    assert [e["stem"] for e in manifest["figures"]] == ["fig1_a", "fig2_b"]
    for entry in manifest["figures"]:
        assert entry["commit"] == "0" * 40
        assert entry["config_files"] == [{"path": "config/config.yaml",
                                          "sha256": sha256(tmp_path / "config/config.yaml")}]
        assert entry["sha256"] == sha256(folder / entry["file"]) and entry["bytes"] == (folder / entry["file"]).stat().st_size
        assert entry["bytes"] <= 400_000 and (entry["rule"], entry["code"]) == ("linear_figure", "abc")
    assert manifest["figures"][1]["source_bytes"] > 400_000  # the large one was shrunk
    with pytest.raises(ReferenceFigureError, match="no drawing rule given for fig2_b"):
        write_reference_figures({"fig2_b": tmp_path / "fig2_b.png"}, {}, folder, [], "0" * 40, root=tmp_path)


def test_a_run_segment_replaces_its_figures_and_keeps_the_others_with_their_commit(tmp_path):
    folder, first = _reference(tmp_path)
    kept = next(e for e in first["figures"] if e["stem"] == "fig1_a")
    redrawn = _noisy_png(tmp_path / "fig2_b.png", 300, 200, seed=7)
    manifest = write_reference_figures({"fig2_b": redrawn}, {"fig2_b": ("grokking_figure", "def")}, folder,
                                       ["config/config.yaml"], "1" * 40, root=tmp_path)
    assert manifest["commits"] == ["0" * 40, "1" * 40]
    entries = {e["stem"]: e for e in manifest["figures"]}
    assert entries["fig1_a"] == kept  # untouched, with the earlier run's commit
    assert entries["fig2_b"]["commit"] == "1" * 40 and entries["fig2_b"]["rule"] == "grokking_figure"
    assert entries["fig2_b"]["sha256"] == sha256(folder / "fig2_b.png") == sha256(redrawn)

    # a manifest of the older format (commit and config files at its top level) gives them to its entries
    old = json.loads((folder / MANIFEST).read_text())
    for entry in old["figures"]:
        del entry["commit"], entry["config_files"]
    old.update(commit="2" * 40, config_files=[])
    (folder / MANIFEST).write_text(json.dumps(old))
    manifest = write_reference_figures({}, {}, folder, [], "3" * 40, root=tmp_path)
    assert manifest["commits"] == ["2" * 40] and all(e["config_files"] == [] for e in manifest["figures"])

    # a kept file that changed since its entry was written is refused, not described wrongly
    _noisy_png(folder / "fig1_a.png", 300, 200, seed=9)
    with pytest.raises(ReferenceFigureError, match="fig1_a.png: listed in .* but missing or changed"):
        write_reference_figures({"fig2_b": redrawn}, {"fig2_b": ("grokking_figure", "def")}, folder, [], "4" * 40,
                                root=tmp_path)


def test_a_segment_keeps_the_committed_entries_when_snakemake_removed_the_manifest(tmp_path):
    """Snakemake removes a job's outputs (the manifest among them) before the job runs: the kept entries then
    come from the manifest committed at HEAD."""
    folder, first = _reference(tmp_path)
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "reference")
    assert committed_manifest(tmp_path, folder) == first
    (folder / MANIFEST).unlink()
    redrawn = _noisy_png(tmp_path / "fig2_b.png", 300, 200, seed=7)
    manifest = write_reference_figures({"fig2_b": redrawn}, {"fig2_b": ("grokking_figure", "def")}, folder, [],
                                       "1" * 40, root=tmp_path, previous=committed_manifest(tmp_path, folder))
    assert [e["stem"] for e in manifest["figures"]] == ["fig1_a", "fig2_b"]
    assert manifest["figures"][0] == first["figures"][0] and manifest["commits"] == ["0" * 40, "1" * 40]
    (folder / MANIFEST).unlink()
    (folder / "fig1_a.png").unlink()  # a kept file gone: the message names where it is listed
    with pytest.raises(ReferenceFigureError, match="fig1_a.png: listed in the committed manifest.json but missing"):
        write_reference_figures({"fig2_b": redrawn}, {"fig2_b": ("grokking_figure", "def")}, folder, [], "1" * 40,
                                root=tmp_path, previous=committed_manifest(tmp_path, folder))
    (tmp_path / "elsewhere").mkdir()
    assert committed_manifest(tmp_path, tmp_path / "elsewhere") is None  # nothing committed there


def test_readme_check_names_missing_unlisted_and_changed_images(tmp_path):
    folder, _ = _reference(tmp_path)
    readme = tmp_path / "README.md"
    assert readme_images(readme.read_text(), "docs/results/figures") == ["docs/results/figures/fig1_a.png",
                                                                         "docs/results/figures/fig2_b.png"]
    assert readme_figure_problems(readme) == []

    _noisy_png(folder / "fig1_a.png", 300, 200, seed=5)  # redrawn after the manifest was written
    (folder / "fig2_b.png").unlink()
    readme.write_text(readme.read_text() + "![new](docs/results/figures/fig9_new.png)\n")
    _noisy_png(folder / "fig9_new.png", 20, 20)
    problems = readme_figure_problems(readme)
    assert len(problems) == 3
    assert problems[0].startswith("docs/results/figures/fig1_a.png: sha256 ") and "differs from the manifest" in problems[0]
    assert problems[1] == "docs/results/figures/fig2_b.png: linked by the README but missing"
    assert problems[2] == f"docs/results/figures/fig9_new.png: not in {folder / MANIFEST}"

    (folder / MANIFEST).unlink()
    assert readme_figure_problems(readme) == [f"{folder / MANIFEST}: missing, but the README links 3 image(s) under "
                                              "docs/results/figures"]


def test_run_commit_refuses_uncommitted_code(tmp_path):
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert run_commit(tmp_path) == head
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("not code\n")  # outside the code paths: allowed
    assert run_commit(tmp_path) == head
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    with pytest.raises(ReferenceFigureError, match=r"uncommitted changes to the code or config.*\n M src/a.py"):
        run_commit(tmp_path)


def _git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


def test_readme_reference_figures_are_the_manifests_and_its_commit_is_an_ancestor():
    """Every image the README links under docs/results/figures/ exists, is in the manifest with its sha256,
    and each of the manifest's commits (one per run segment) is an ancestor of HEAD (the figures were drawn by
    code this checkout holds)."""
    readme = REPO / "README.md"
    linked = readme_images(readme.read_text(), "docs/results/figures")
    if not linked:
        pytest.skip("the README links no reference figure under docs/results/figures yet")
    assert readme_figure_problems(readme) == []
    commits = json.loads((REPO / "docs/results/figures" / MANIFEST).read_text())["commits"]
    if _git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout: cannot check the manifest's commits")
    for commit in commits:
        if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
                pytest.skip(f"shallow clone: the manifest's commit {commit[:12]} is not in it")
            pytest.fail(f"the manifest's commit {commit} is not in this repository")
        assert _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, \
            f"the manifest's commit {commit} is not an ancestor of HEAD"
