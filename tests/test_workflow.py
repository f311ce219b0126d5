"""Workflow tests: lint, dry runs, a bad config, and the quick preset end to end."""

import pandas as pd
import pytest

from icl_dynamics.config import load_config, validate
from icl_dynamics.experiments import claim_ids, figure_stems
from icl_dynamics.scorecard import COLUMNS, VERDICTS, fmt

from conftest import REPO, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow

FIGURE_STEMS = figure_stems()
REFERENCES = {"paper": (REPO / "docs/results/claims_paper.csv", ["config.yaml"]),
              "quick": (REPO / "docs/results/claims_quick.csv", ["config.yaml", "quick.yaml"])}
README_SCORECARD_HEADER = "| row | paper value | threshold | paper verdict | quick value | quick verdict | what was seen |"
CLAIMS = {"L1", "L2", "L3", "L4", "L5", "L6", "M1", "C7-linear", "L7", "L8", "N1", "N1-noLN", "N2", "N3", "C7-attention",
          "G1", "G2", "C7-grokking", "N1-text", "N2-text", "N3-text"}


def validate_preset(*names: str) -> dict:
    """The validated config of ``config/<name>`` files, later ones overriding earlier ones."""
    config = load_config(*(REPO / "config" / name for name in names))
    for section in ("linear", "measures", "attention", "grokking", "text"):
        validate(config[section], section, prefix=section)
    return config


@pytest.mark.parametrize("names", [["config.yaml"], ["config.yaml", "quick.yaml"]])
def test_claim_ids_name_every_row_of_both_presets(names):
    """The rows a preset's scorecard must hold (the quick end-to-end run checks them against a real one)."""
    ids = claim_ids(validate_preset(*names))
    assert set(ids) == CLAIMS and len(ids) == len(CLAIMS)


PAPER_PENDING = REPO / "docs/results/paper_pending.csv"


def pending_paper_rows() -> list[str]:
    """Rows the workflow writes that the paper reference run predates (docs/results/paper_pending.csv):
    until the next whole paper run they are listed there, each with why, and nowhere else."""
    return list(pd.read_csv(PAPER_PENDING)["claim"]) if PAPER_PENDING.exists() else []


@pytest.mark.parametrize("preset", sorted(REFERENCES))
def test_reference_scorecard_has_the_rows_and_columns_the_workflow_writes(preset):
    """docs/results/claims_<preset>.csv (a preset's scorecard) goes stale loudly when a row is added: the
    quick reference must hold every row; the paper reference every row but those listed as pending, which
    must be exactly the ones it lacks."""
    path, configs = REFERENCES[preset]
    reference = pd.read_csv(path)
    assert list(reference.columns) == COLUMNS
    expected = claim_ids(validate_preset(*configs))
    pending = pending_paper_rows() if preset == "paper" else []
    assert set(pending) <= set(expected), pending
    assert list(reference["claim"]) == [claim for claim in expected if claim not in pending]
    assert reference["verdict"].isin(VERDICTS).all()


def readme_scorecard() -> dict[str, list[str]]:
    """The README's scorecard table: row id -> the row's cells."""
    lines = (REPO / "README.md").read_text().splitlines()
    rows = {}
    for line in lines[lines.index(README_SCORECARD_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells
    return rows


def test_readme_scorecard_quotes_the_references():
    """The README's paper and quick columns are the references' values (4 significant digits) and verdicts,
    the threshold column the configured one (the references'); a row the paper reference predates reads
    'pending' in the paper columns."""
    paper, quick = (pd.read_csv(REFERENCES[p][0]).set_index("claim") for p in ("paper", "quick"))
    rows = readme_scorecard()
    assert list(rows) == list(quick.index)
    assert [claim for claim in rows if claim in paper.index] == list(paper.index)
    for claim, cells in rows.items():
        if claim in paper.index:
            expected_paper = [fmt(paper.loc[claim, "value"], ".4g"), fmt(paper.loc[claim, "threshold"], ".4g"),
                              paper.loc[claim, "verdict"]]
        else:
            assert claim in pending_paper_rows(), claim
            expected_paper = ["pending", fmt(quick.loc[claim, "threshold"], ".4g"), "pending"]
        assert cells[1:6] == expected_paper + [fmt(quick.loc[claim, "value"], ".4g"), quick.loc[claim, "verdict"]], claim


def planned_jobs(stdout: str) -> dict[str, int]:
    """Jobs per rule of a dry run, from its job-stats table (empty when nothing is to be done)."""
    counts = {}
    for line in stdout.split("Job stats:")[-1].splitlines()[3:] if "Job stats:" in stdout else []:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def test_lint_is_clean():
    proc = run_snakemake(REPO, "--lint", "--nolock", check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Lints for" not in proc.stdout, proc.stdout[-4000:]


@pytest.mark.parametrize("configfiles", [[], ["--configfile", "config/quick.yaml"]])
def test_dry_run_plans_every_figure_and_the_scorecard(configfiles):
    proc = run_snakemake(REPO, "-n", "--nolock", "--cores", "2", "all", *configfiles)
    for stem in FIGURE_STEMS:
        assert f"figures/{stem}.png" in proc.stdout
    assert "results/claims.csv" in proc.stdout
    assert "results/claims/validity_map.csv" in proc.stdout


def test_ablations_null_plans_the_main_family_alone(tmp_path):
    """`attention: {ablations: null}` in a config file drops config/config.yaml's noLN family (a config file
    cannot delete a key): no noLN job, no figure S2, while the main family and the attention rows stay."""
    extra = tmp_path / "main_only.yaml"
    extra.write_text("attention:\n  ablations: null\n")
    proc = run_snakemake(REPO, "-n", "--nolock", "--cores", "2", "all", "--configfile", "config/quick.yaml",
                         "--configfile", str(extra))
    assert "family=main" in proc.stdout
    assert "noLN" not in proc.stdout
    assert "figS2_model_family_ablation" not in proc.stdout
    assert "results/claims/attention.csv" in proc.stdout
    default = run_snakemake(REPO, "-n", "--nolock", "--cores", "2", "all", "--configfile", "config/quick.yaml")
    assert "family=noLN" in default.stdout


@pytest.mark.parametrize("device,gpus", [("cuda-nodes", 1), ("auto", 0)])
def test_training_rules_request_a_gpu_only_for_cuda(tmp_path, device, gpus):
    """With device: cuda-nodes (GPUs on the compute nodes) the training jobs carry gpu=1 (the SLURM executor
    turns it into --gpus=1)."""
    work = copy_workflow(tmp_path / "wf")
    proc = run_snakemake(work, "-n", "--cores", "2", "all", "--configfile", "config/quick.yaml",
                         "--config", f"device={device}")
    blocks = proc.stdout.split("\n\n")
    for rule in ("attention_train", "grokking_train"):
        jobs = [b for b in blocks if f"rule {rule}:" in b]
        assert jobs, rule
        assert all(f"gpu={gpus}" in b for b in jobs), jobs[0]
    simulate = next(b for b in blocks if "rule linear_simulate:" in b)
    assert "gpu=" not in simulate


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_stops_before_any_job():
    """Regression: --config device=cuda on a machine without CUDA planned every training job; a real run
    deleted the finished CPU outputs, then each job failed with 'CUDA is not available'."""
    proc = run_snakemake(REPO, "-n", "--nolock", "all", "--config", "device=cuda", check=False)
    assert proc.returncode != 0
    assert "config key 'device' = 'cuda' but this machine has no CUDA device" in proc.stdout
    assert "use device: cuda-nodes" in proc.stdout and "Job stats" not in proc.stdout


def test_bad_config_fails_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("linear:\n  defaults:\n    lr: -0.1\n    spectrum: {kind: cubic}\n")
    proc = run_snakemake(REPO, "-n", "--nolock", "all", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "config key 'linear.defaults.lr' = -0.1 is invalid" in proc.stdout
    assert "'linear.defaults.spectrum.kind' = 'cubic' is not allowed" in proc.stdout
    assert "Job stats" not in proc.stdout


def test_nested_config_override_gets_a_hint():
    """Regression: a nested --config value failed as "'7' is not of type 'integer'", with no way out."""
    proc = run_snakemake(REPO, "-n", "--nolock", "all", "--config", "grokking={task: {p: 7}}", check=False)
    assert proc.returncode != 0
    assert ("config key 'grokking.task.p' = '7' is a string, not integer: snakemake's --config passes nested "
            "values as strings; put nested overrides in a YAML file and pass it with --configfile") in proc.stdout


def assert_reruns_only_what_changed(work):
    """After a complete quick run: only edits that change a run retrain it (regression tests of needless
    retraining: a new seed retrained every seed, any threshold or device spelling retrained everything)."""
    def plan(override_yaml, *extra):
        (work / "override.yaml").write_text(override_yaml)
        proc = run_snakemake(work, "-n", "--cores", "2", "all", "--configfile", "config/quick.yaml", "override.yaml",
                             *extra)
        return planned_jobs(proc.stdout)

    training = ("attention_train", "grokking_train", "linear_simulate")
    quick = pd.read_csv(work / "results/attention/claims_per_run.csv")
    for override in ("attention:\n  thresholds: {min_jump: 1.5}\n",
                     "attention:\n  runtime: {log_every: 7, state_every: 3}\n",
                     "grokking:\n  events: {grokking_acc: 0.9}\n",
                     "measures:\n  curvature_window: 8\n"):
        jobs = plan(override)
        assert not any(rule in jobs for rule in training), (override, jobs)
    assert not any(rule in plan("{}\n", "--config", "device=cpu") for rule in training)
    jobs = plan("attention:\n  seeds: [0, 1, 2]\n")
    depths, families = quick["n_layers"].nunique(), quick["family"].nunique()
    assert jobs.get("attention_train") == depths * families, jobs  # only the new seed's runs
    assert "grokking_train" not in jobs and "linear_simulate" not in jobs


def assert_reruns_when_its_code_changes(work):
    """After a complete quick run: editing a rule's library code reruns that rule (and what reads its
    outputs), never training; editing training code retrains. Regression test of a stale result: editing the
    exact mean flow reran the SGD simulation (whose fingerprint covered the theories) but not the theory
    itself, so linear_compare paired a new sim.npz with a stale theory.npz."""
    src = work / "src"
    training = {"attention_train", "grokking_train", "linear_simulate"}

    def plan_after(path, old, new):
        target = src / "icl_dynamics" / path
        text = target.read_text()
        assert old in text, (path, old)
        target.write_text(text.replace(old, new, 1))
        try:
            return planned_jobs(run_snakemake(work, "-n", "--cores", "2", "all", "--configfile", "config/quick.yaml",
                                              src=src).stdout)
        finally:
            target.write_text(text)

    jobs = plan_after("theory/exact_flow.py", "return 0.5 * np.sum(", "return 0.5000001 * np.sum(")  # numeric
    assert jobs.get("linear_theory") == len(set(quick_linear_settings())), jobs
    assert "validity_map_cells" in jobs and "linear_compare" in jobs, jobs
    assert not training & set(jobs), jobs
    jobs = plan_after("experiments/grokking/figures.py", "fig.suptitle(", "fig.suptitle('' or ")
    assert set(jobs) == {"grokking_figure", "report_tables", "all"}, jobs
    jobs = plan_after("training/trainer.py", "def train(", "def _unused():\n    return 1\n\n\ndef train(")
    assert {"attention_train", "grokking_train"} <= set(jobs) and "linear_simulate" not in jobs, jobs


def quick_linear_settings():
    from icl_dynamics.experiments.linear.settings import used_settings

    return used_settings(validate_preset("config.yaml", "quick.yaml")["linear"])


def assert_tables_short_of_runs_are_refused(work):
    """Regression: a table missing rows was accepted (windows.csv without its last run moved N2 0.5 -> 1.0;
    36 of the 54 rows of the validity map made L7 reproduced). Every table a claim reads is checked against
    the configured runs, seeds or cells, naming the file and what is missing."""
    def refused(path, keep):
        target = work / path
        text = target.read_text()
        lines = text.splitlines(keepends=True)
        target.write_text("".join(lines[:keep(len(lines))]))
        try:
            proc = run_snakemake(work, "--cores", "1", "results/claims.csv", "--configfile", "config/quick.yaml",
                                 check=False)
        finally:
            target.write_text(text)
        assert proc.returncode != 0, path
        return proc.stdout

    out = refused("results/attention/main/windows.csv", lambda n: n - 1)
    assert "results/attention/main/windows.csv: does not hold the configured runs (missing: n_layers=" in out
    out = refused("results/validity_map/map.csv", lambda n: 1 + 2 * (n - 1) // 3)
    assert "results/validity_map/map.csv does not hold the configured grid: missing:" in out


def assert_damaged_file_advice_works(work):
    """Regression: the advice for a damaged cached file ('delete it and run snakemake again') led to
    'Nothing to be done'; the advice now names the command that makes the file again, and it works."""
    path = "results/grokking/events.parquet"
    target = work / path
    target.write_bytes(target.read_bytes()[:100])
    proc = run_snakemake(work, "--cores", "1", "fig7", "--configfile", "config/quick.yaml", check=False)
    assert proc.returncode != 0
    assert f"delete it (rm {path}), make it again with `snakemake --cores 1 {path}`" in proc.stdout
    target.unlink()
    run_snakemake(work, "--cores", "1", path, "--configfile", "config/quick.yaml")
    again = run_snakemake(work, "--cores", "1", "fig7", "--configfile", "config/quick.yaml")
    assert "grokking_figure" in again.stdout  # what reads the file reruns


@pytest.mark.slow
def test_quick_preset_end_to_end(tmp_path_factory):
    """The quick preset renders every figure and a complete scorecard; fig targets then do nothing."""
    work = copy_workflow(tmp_path_factory.mktemp("quick") / "wf")
    run_snakemake(work, "--cores", "2", "all", "--configfile", "config/quick.yaml", timeout=1500)
    for stem in FIGURE_STEMS:
        for ext in ("pdf", "png"):
            assert (work / "figures" / f"{stem}.{ext}").stat().st_size > 10_000
    claims = pd.read_csv(work / "results/claims.csv")
    assert list(claims.columns) == COLUMNS
    assert list(claims["claim"]) == claim_ids(validate_preset("config.yaml", "quick.yaml"))
    assert claims["verdict"].isin(VERDICTS).all()
    assert claims["note"].str.len().min() > 20
    again = run_snakemake(work, "-n", "--cores", "1", "fig2", "--configfile", "config/quick.yaml")
    assert "Nothing to be done" in again.stdout
    # what the README says shows what would rerun: a dry run, which on an unchanged run plans nothing (the
    # earlier advice, --list-changes params, listed 67 outputs of an unchanged run)
    assert "Nothing to be done" in run_snakemake(work, "-n", "--cores", "1", "all", "--configfile",
                                                 "config/quick.yaml").stdout
    assert "--list-changes" not in (REPO / "README.md").read_text()
    assert not list((work / "state").rglob("finished.json"))  # the successful run removed finished states
    assert_reruns_only_what_changed(work)
    assert_reruns_when_its_code_changes(work)
    assert_tables_short_of_runs_are_refused(work)
    assert_damaged_file_advice_works(work)

    run_snakemake(work, "--report", "report.html", "--configfile", "config/quick.yaml")
    html = (work / "report.html").read_text(errors="replace")
    for stem in FIGURE_STEMS:
        assert f"{stem}.png" in html
    assert "scorecard.html" in html and "benchmarks.html" in html
    assert "Reproduction scorecard" in (work / "results/report/scorecard.html").read_text()
