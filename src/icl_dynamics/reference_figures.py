"""Reference figures: a run's figure PNGs copied into the repository with a manifest of where they came from.

The rule ``reference_figures`` (workflow/rules/report.smk, not part of ``all``) calls :func:`write_reference_figures`
after a reference run: each ``figures/<stem>.png`` is copied to ``docs/results/figures/<stem>.png``, shrunk below
``max_bytes`` where it is larger (:func:`shrink_png`), and ``docs/results/figures/manifest.json`` records, per file,
its stem, bytes, sha256, the rule that drew it with that rule's code fingerprint, the git commit of the run and
its config files. A run that drew only some figures (a segment of a reference run, config key
``reference_figures``) replaces those entries and keeps the others, each with its own commit. Snakemake reruns a
figure whose code or settings changed before this rule reads it, so the fingerprints are those of the code that
drew the files. :func:`readme_figure_problems` checks that every image a README links under that folder is one of
the manifest's (tests/test_reference_figures.py).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image  # matplotlib's own dependency: no new package

MAX_BYTES = 400_000
MANIFEST = "manifest.json"
# Tracked paths whose uncommitted changes would make the commit not describe the code or the settings.
CODE_PATHS = ("Snakefile", "src", "workflow", "config", "pyproject.toml")


class ReferenceFigureError(RuntimeError):
    """The reference figures cannot be written or do not match their manifest."""


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _save_palette(image: Image.Image, target: Path) -> None:
    """Save ``image`` as a 256-colour palette PNG (median-cut quantisation)."""
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, format="PNG",
                                                                                     optimize=True)


def shrink_png(source: str | Path, target: str | Path, max_bytes: int = MAX_BYTES) -> dict:
    """Copy the PNG ``source`` to ``target``; if it is larger than ``max_bytes``, save it again losslessly
    (Pillow's ``optimize``, and without the alpha channel where every pixel is opaque, as in matplotlib's
    figures), then, if still too large, as a 256-colour palette image (median cut: a matplotlib figure's flat
    colours survive it, and the pixels stay), then, while still too large, scale both sides by
    ``0.95 sqrt(max_bytes / bytes)`` (Lanczos resampling) and save again as a palette image. (A PNG cannot be re-rendered at a lower dpi; the pixels are
    all there is.) Returns the sizes before and after: ``{"source_bytes", "source_size", "bytes", "size"}``,
    sizes as [width, height] in pixels."""
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        source_size = list(image.size)
    shutil.copyfile(source, target)
    if target.stat().st_size > max_bytes:
        with Image.open(source) as image:
            image.load()
            if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
                image = image.convert("RGB")
            image.save(target, format="PNG", optimize=True)
            if target.stat().st_size > max_bytes:
                _save_palette(image, target)
            while target.stat().st_size > max_bytes:
                factor = 0.95 * (max_bytes / target.stat().st_size) ** 0.5
                width, height = (max(1, round(side * factor)) for side in image.size)
                if (width, height) == image.size:
                    raise ReferenceFigureError(f"{source}: cannot shrink below {max_bytes} bytes")
                image = image.resize((width, height), Image.LANCZOS)
                _save_palette(image, target)
    with Image.open(target) as image:
        size = list(image.size)
    return {"source_bytes": source.stat().st_size, "source_size": source_size, "bytes": target.stat().st_size,
            "size": size}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ReferenceFigureError(f"git {' '.join(args)} in {root} failed: {done.stderr.strip()}")
    return done.stdout.rstrip()


def run_commit(root: str | Path) -> str:
    """The commit HEAD of the checkout at ``root``, refused when a tracked or new file under
    :data:`CODE_PATHS` differs from it (then the commit would not name the code that drew the figures)."""
    root = Path(root)
    changed = _git(root, "status", "--porcelain", "--", *CODE_PATHS)
    if changed:
        raise ReferenceFigureError("uncommitted changes to the code or config; commit them first, so that the "
                                   f"manifest's commit names the code that drew the figures:\n{changed}")
    return _git(root, "rev-parse", "HEAD")


def write_reference_figures(figures: dict[str, str | Path], rules: dict[str, tuple[str, str]], folder: str | Path,
                            config_files: list[str | Path], commit: str, root: str | Path = ".",
                            max_bytes: int = MAX_BYTES, previous: dict | None = None) -> dict:
    """Copy each ``figures[stem]`` (a PNG) to ``folder/<stem>.png`` (:func:`shrink_png`) and write
    ``folder/manifest.json``; returns the manifest.

    ``rules`` maps each stem to (name, code fingerprint) of the rule that drew it; ``config_files`` are the
    run's config files (paths relative to ``root``, the repository), ``commit`` its git commit; both are
    recorded in each new entry. Entries of an existing manifest whose stem is not in ``figures`` are kept as
    they are (an earlier segment's figures), provided their file is still there unchanged; ``previous`` is that
    manifest when the file is gone (Snakemake removes a job's outputs before it runs: the rule passes the
    committed one, :func:`committed_manifest`)."""
    folder, root = Path(folder), Path(root)
    missing = sorted(set(figures) - set(rules))
    if missing:
        raise ReferenceFigureError(f"no drawing rule given for {', '.join(missing)}")
    run = {"commit": commit,
           "config_files": [{"path": Path(path).as_posix(), "sha256": sha256(root / path)} for path in config_files]}
    entries = {entry["stem"]: entry for entry in _kept_entries(folder, set(figures), previous)}
    for stem, source in sorted(figures.items()):
        target = folder / f"{stem}.png"
        sizes = shrink_png(source, target, max_bytes)
        name, code = rules[stem]
        entries[stem] = {"file": target.name, "stem": stem, "bytes": sizes["bytes"], "sha256": sha256(target),
                         "size": sizes["size"], "source_bytes": sizes["source_bytes"],
                         "source_size": sizes["source_size"], "rule": name, "code": code, **run}
    manifest = {
        "commits": sorted({entry["commit"] for entry in entries.values()}),
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "max_bytes": max_bytes,
        "figures": [entries[stem] for stem in sorted(entries)],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def committed_manifest(root: str | Path, folder: str | Path) -> dict | None:
    """The manifest of ``folder`` as committed at HEAD of the checkout at ``root`` (None if there is none)."""
    root = Path(root)
    path = (Path(folder).resolve() / MANIFEST).relative_to(root.resolve()).as_posix()
    done = subprocess.run(["git", "-C", str(root), "show", f"HEAD:{path}"], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _kept_entries(folder: Path, replaced: set[str], previous: dict | None = None) -> list[dict]:
    """The entries of ``folder``'s manifest (if any) whose stems are not in ``replaced``, each with its commit
    and config files (a manifest written before entries carried them has them at its top level). Refused
    when a kept entry's file is missing or changed: the manifest would then describe a file it does not
    hold."""
    path = folder / MANIFEST
    if path.is_file():
        old, source = json.loads(path.read_text()), str(path)
    elif previous is not None:
        old, source = previous, f"the committed {MANIFEST}"
    else:
        return []
    kept = []
    for entry in old["figures"]:
        if entry["stem"] in replaced:
            continue
        entry = {"commit": old.get("commit"), "config_files": old.get("config_files", []), **entry}
        file = folder / entry["file"]
        if not file.is_file() or sha256(file) != entry["sha256"]:
            raise ReferenceFigureError(f"{file}: listed in {source} but missing or changed; restore it (git checkout) "
                                       "or draw it again in this run")
        kept.append(entry)
    return kept


IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]+)|<img\s[^>]*src=[\"']([^\"']+)[\"']")


def readme_images(text: str, under: str) -> list[str]:
    """The image paths a Markdown text links (``![alt](path)`` or ``<img src="path">``) that lie under the
    folder ``under`` (a path relative to the README), in order."""
    paths = [a or b for a, b in IMAGE_LINK.findall(text)]
    prefix = under.rstrip("/") + "/"
    return [path for path in paths if path.startswith(prefix)]


def readme_figure_problems(readme: str | Path, under: str = "docs/results/figures") -> list[str]:
    """What is wrong with the images ``readme`` links under ``under`` (relative to the README's folder): a
    file that is missing, not in the folder's manifest, or whose sha256 differs from the manifest's. An empty
    list: all of them are the manifest's files."""
    readme = Path(readme)
    linked = readme_images(readme.read_text(), under)
    if not linked:
        return []
    folder = readme.parent / under
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return [f"{manifest_path}: missing, but the README links {len(linked)} image(s) under {under}"]
    listed = {entry["file"]: entry for entry in json.loads(manifest_path.read_text())["figures"]}
    problems = []
    for path in linked:
        file = readme.parent / path
        entry = listed.get(Path(path).relative_to(under).as_posix())
        if not file.is_file():
            problems.append(f"{path}: linked by the README but missing")
        elif entry is None:
            problems.append(f"{path}: not in {manifest_path}")
        elif sha256(file) != entry["sha256"]:
            problems.append(f"{path}: sha256 {sha256(file)[:12]}... differs from the manifest's "
                            f"{entry['sha256'][:12]}... (the file changed after the reference run)")
    return problems
