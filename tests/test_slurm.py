"""The workflow on a real SLURM: a single-node cluster started on this machine by .ci/slurm/start_slurm.sh.

- the linear experiment's chain (data, SGD, theory, comparison, figure 2) runs through
  ``--executor slurm`` with profiles/slurm, every job really submitted to and completed by SLURM with
  the profile's per-rule resources;
- profiles/slurm-gpu asks for one GPU (and CPUs per GPU) for a training job; the test cluster's node
  has a fake GPU, so the request is scheduled, and with ``device: auto`` training runs on the CPU;
- a training job cancelled with scancel resumes in the next workflow run from its saved state and ends
  with the same numbers as the uninterrupted run.

Starting SLURM needs root (it installs Debian's slurm-wlm and munge if missing and runs the daemons).
Where that is not possible the tests skip, saying why; with ICL_REQUIRE_SLURM=1 (set by .ci/run)
they fail instead, so that CI cannot pass without running them.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icl_dynamics.workflow_io.cached_files import read_cached

REPO = Path(__file__).resolve().parents[1]
START = REPO / ".ci" / "slurm" / "start_slurm.sh"
STOP = REPO / ".ci" / "slurm" / "stop_slurm.sh"
TINY = "tests/slurm/tiny.yaml"
# Settings for the local single-node cluster, on top of the profile: it has no accounts and no
# accounting database (so squeue, not sacct, reports job states), and its jobs are short, so the
# first status check comes after 2 s instead of the plugin's 40.
CLUSTER_ARGS = ["--slurm-no-account", "--slurm-status-command", "squeue",
                "--slurm-init-seconds-before-status-checks", "2"]
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", re.M)

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def _unavailable(reason: str):
    if os.environ.get("ICL_REQUIRE_SLURM") == "1":
        pytest.fail(f"ICL_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Start the single-node cluster for this module; stop what was started afterwards.

    Yields the environment for commands that talk to it (SLURM_CONF set)."""
    if sys.platform != "linux":
        _unavailable("a local SLURM cluster needs Linux")
    if os.geteuid() != 0:
        _unavailable("starting a local SLURM cluster needs root (it installs packages and runs the daemons)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    state = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, ICL_SLURM_DIR=str(state), PYTHONPATH=str(REPO / "src"))
    started = subprocess.run(["bash", str(START)], env=env, capture_output=True, text=True, timeout=900)
    if started.returncode == 2:
        _unavailable(started.stderr.strip())
    if started.returncode != 0:
        subprocess.run(["bash", str(STOP)], env=env)
        pytest.fail(f"start_slurm.sh failed:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
    env["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        yield env
    finally:
        subprocess.run(["bash", str(STOP)], env=env, timeout=120)


def _workflow_copy(dest: Path) -> Path:
    """The workflow's files (no outputs) in ``dest``, so the test never writes into the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for folder in ("workflow", "config", "profiles", "tests/slurm"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _snakemake(workdir: Path, env: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def _check(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{proc.stdout[-8000:]}"
    return proc.stdout


def _submitted(output: str) -> dict[str, str]:
    """SLURM job id -> rule name, from the plugin's 'Job .. has been submitted with SLURM jobid ..' lines."""
    jobs = {}
    for jobid, log in SUBMITTED.findall(output):
        rule = next(part for part in Path(log).parts if part.startswith("rule_"))
        jobs[jobid] = rule.removeprefix("rule_")
    return jobs


def _finished_jobs(state_env: dict) -> dict[str, dict]:
    """SLURM's record of finished jobs (jobcomp/filetxt): job id -> its fields."""
    jobcomp = Path(state_env["ICL_SLURM_DIR"]) / "jobcomp.txt"
    records = {}
    for line in jobcomp.read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        records[fields["JobId"]] = fields
    return records


def _wait_for_finished(env: dict, jobids, timeout: float = 30) -> dict[str, dict]:
    """jobcomp.txt is written when SLURM has cleaned a job up, which can lag its end by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        records = _finished_jobs(env)
        if set(jobids) <= set(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def test_linear_chain_runs_through_slurm(slurm, tmp_path):
    work = _workflow_copy(tmp_path / "wf")
    started = time.monotonic()
    output = _check(_snakemake(work, slurm, "--workflow-profile", "profiles/slurm", *CLUSTER_ARGS, "fig2",
                               "figS1", "--configfile", "config/quick.yaml", TINY))
    elapsed = time.monotonic() - started
    print(f"fig2 and figS1 through SLURM: {elapsed:.0f} s")

    # The outputs of every stage: data + SGD (sim), theory, comparison, macroscopic measures, figures.
    for setting in ("aniso_N30", "aniso_N30_random_init", "near_iso_N300"):
        for name in ("sim.npz", "theory.npz", "comparison.json"):
            assert (work / "results" / "linear" / setting / name).stat().st_size > 0
    assert (work / "results" / "linear" / "aniso_N30" / "measures.parquet").stat().st_size > 0
    for stem in ("fig2_staged_learning", "figS1_linear_measures"):
        for ext in ("pdf", "png"):
            assert (work / "figures" / f"{stem}.{ext}").stat().st_size > 10_000

    # Every job went through SLURM: one submission per job, and SLURM's own record says each ran to
    # completion, in this workflow's folder, with the resources the profile gives its rule.
    jobs = _submitted(output)
    rules = sorted(jobs.values())
    assert rules == sorted(["linear_simulate"] * 3 + ["linear_theory"] * 3 + ["linear_compare"] * 3
                           + ["linear_figure", "linear_measures", "linear_measures_figure"]), rules
    records = _wait_for_finished(slurm, jobs)
    for jobid, rule in jobs.items():
        record = records[jobid]
        assert record["JobState"] == "COMPLETED" and record["ExitCode"] == "0:0", record
        assert record["WorkDir"] == str(work)
        expected_minutes = {"linear_simulate": "120", "linear_theory": "60"}.get(rule, "30")
        assert record["TimeLimit"] == expected_minutes, (rule, record)
        expected_mem = "mem=2000M"
        assert expected_mem in record["Tres"].split(","), (rule, record)


TRAIN_TARGET = "results/attention/main/L1_seed0/metrics.parquet"


@pytest.fixture(scope="module")
def gpu_profile_run(slurm, tmp_path_factory):
    """One attention training job, uninterrupted, through profiles/slurm-gpu (device: auto)."""
    work = _workflow_copy(tmp_path_factory.mktemp("gpu") / "wf")
    output = _check(_snakemake(work, slurm, "--workflow-profile", "profiles/slurm-gpu", *CLUSTER_ARGS,
                               TRAIN_TARGET, "--configfile", "config/quick.yaml", TINY))
    return work, output


def test_gpu_profile_requests_a_gpu_for_training(slurm, gpu_profile_run):
    work, output = gpu_profile_run
    jobs = _submitted(output)
    assert list(jobs.values()) == ["attention_train"], jobs
    (jobid,) = jobs
    # scontrol still knows the finished job (MinJobAge): the GPU request as SLURM received it.
    shown = subprocess.run(["scontrol", "show", "job", jobid], env=slurm, capture_output=True, text=True,
                           check=True).stdout
    assert "TresPerJob=gres:gpu:1" in shown, shown                  # sbatch --gpus=1
    assert re.search(r"CpusPerTres=gres:gpu:2\b", shown), shown     # sbatch --cpus-per-gpu=2
    assert re.search(r"\bTRES=cpu=2,mem=4000M\b", shown), shown     # what it was given
    record = _wait_for_finished(slurm, jobs)[jobid]
    assert record["JobState"] == "COMPLETED", record
    # device: auto found no CUDA on this (fake-GPU) node and trained on the CPU, to the end.
    metrics = pd.read_parquet(work / TRAIN_TARGET)
    assert metrics["step"].iloc[-1] == 1500


def test_cancelled_training_resumes_with_same_results(slurm, gpu_profile_run, tmp_path):
    reference, _ = gpu_profile_run
    work = _workflow_copy(tmp_path / "wf")
    state_file = work / "state" / "attention" / "main" / "L1_seed0" / "state.pt"
    # --retries 0: the profile would resubmit the cancelled job within the same run; here the
    # resumption is shown across two runs, as after a preemption that ended the whole workflow.
    args = ["--workflow-profile", "profiles/slurm", *CLUSTER_ARGS, "--retries", "0", TRAIN_TARGET,
            "--configfile", "config/quick.yaml", TINY]
    first = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=work, env=slurm,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Wait for the job to be running and to have saved its state at least once, then cancel it.
        deadline = time.monotonic() + 300
        while not state_file.exists():
            assert first.poll() is None, "snakemake ended before the training saved any state"
            assert time.monotonic() < deadline, "no saved training state after 300 s"
            time.sleep(0.2)
        queued = subprocess.run(["squeue", "-h", "-o", "%i %T %k"], env=slurm, capture_output=True,
                                text=True, check=True).stdout.split("\n")
        running = [line.split()[0] for line in queued if "rule_attention_train" in line and "RUNNING" in line]
        assert len(running) == 1, queued
        subprocess.run(["scancel", running[0]], env=slurm, check=True)
        output, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode != 0, "the workflow run with the cancelled job did not fail"
    assert not (work / TRAIN_TARGET).exists(), "a cancelled job left its output as if complete"
    assert state_file.exists(), "the cancelled job's saved state is gone"
    record = _wait_for_finished(slurm, [running[0]])[running[0]]
    assert record["JobState"] == "CANCELLED", record

    second = _check(_snakemake(work, slurm, *args))
    assert len(_submitted(second)) == 1
    log = (work / "logs" / "attention" / "attention_train" / "main" / "L1_seed0.log").read_text()
    resumed = re.search(r"resumed from .*state\.pt at step (\d+)", log)
    assert resumed and 0 < int(resumed.group(1)) < 1500, log[-3000:]

    # Bit-identical to the uninterrupted run (CPU).
    pd.testing.assert_frame_equal(pd.read_parquet(work / TRAIN_TARGET), pd.read_parquet(reference / TRAIN_TARGET))
    ours = read_cached(work / "results/attention/main/L1_seed0/checkpoints.npz")
    theirs = read_cached(reference / "results/attention/main/L1_seed0/checkpoints.npz")
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert np.array_equal(ours[key], theirs[key]), key
