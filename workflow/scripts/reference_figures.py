"""Thin entry point of rule reference_figures: a run's figure PNGs, shrunk where large, and their manifest in
docs/results/figures/ (icl_dynamics.reference_figures); entries of figures this run did not draw are kept."""

from pathlib import Path

from icl_dynamics.reference_figures import committed_manifest, run_commit, write_reference_figures
from icl_dynamics.workflow_io.rule_context import rule_logging

with rule_logging(snakemake.log[0]):
    params = snakemake.params
    figures = {Path(path).stem: path for path in snakemake.input.figures}
    commit = run_commit(params.root)
    folder = Path(snakemake.output.manifest).parent
    # Snakemake removed the outputs (the manifest too) before this job: the kept entries are the committed ones
    manifest = write_reference_figures(figures, params.rules, folder, params.config_files, commit,
                                       root=params.root, max_bytes=params.max_bytes,
                                       previous=committed_manifest(params.root, folder))
    for entry in manifest["figures"]:
        drawn = "drawn now" if entry["stem"] in figures else f"kept from {entry['commit'][:12]}"
        print(f"{entry['file']}: {entry['source_bytes']} -> {entry['bytes']} bytes, {entry['size']} px ({drawn})")
    print(f"this run: {len(figures)} figure(s), commit {commit}, config {list(params.config_files)}")
