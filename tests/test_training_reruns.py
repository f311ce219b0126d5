"""A resumed run never mixes training code or thread counts, and a signal after a run's outputs were written
loses no training (issue: no silent wrong result, no lost run)."""

import logging
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
import torch

from icl_dynamics.experiments.grokking.run import train_grokking_run
from icl_dynamics.workflow_io.cached_files import FINISHED, read_cached, remove_finished_states, save_training_outputs

from conftest import REPO

TINY = {"task": {"p": 7, "train_fraction": 0.5}, "model": {"d_model": 16, "n_heads": 2, "d_head": 4, "d_mlp": 24},
        "train": {"steps": 60, "checkpoint_every": 20}, "runtime": {"state_every": 10, "log_every": 20}}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _resumed(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "resumed from" in r.getMessage()]


def test_state_of_other_training_code_is_not_resumed(tmp_path, caplog, one_thread):
    """Regression: the resume fingerprint held settings, depth, seed and device, not the code: a run
    interrupted under one version of the model resumed under another, mixing both in one result."""
    caplog.set_level(logging.INFO, logger="icl_dynamics.training")
    train_grokking_run(TINY, 0, state_dir=tmp_path, code="code-a")  # its final state is kept
    train_grokking_run(TINY, 0, state_dir=tmp_path, code="code-a")
    assert len(_resumed(caplog)) == 1 and "at step 60" in _resumed(caplog)[0]  # same code: resumed at the end
    caplog.clear()
    train_grokking_run(TINY, 0, state_dir=tmp_path, code="code-b")
    assert not _resumed(caplog)
    assert any("saved by a run of other settings" in r.getMessage() for r in caplog.records)


def test_state_of_another_thread_count_is_not_resumed(tmp_path, caplog, one_thread):
    """Regression: the thread count changes float32 sums but was tracked nowhere; a resumed run could mix
    two counts. It is part of the resume fingerprint (and, through threads.train, of the rule's params)."""
    caplog.set_level(logging.INFO, logger="icl_dynamics.training")
    train_grokking_run(TINY, 0, state_dir=tmp_path, code="c")
    torch.set_num_threads(2)
    train_grokking_run(TINY, 0, state_dir=tmp_path, code="c")
    assert not _resumed(caplog)


CHILD = """
import logging, os, signal, sys
import torch
logging.basicConfig(level=logging.INFO)
# a job's Python handles SIGINT even where its parent ignores it (a background launch without job control
# passes SIG_IGN on, and Python then installs no handler): the test is about the workflow, not the launch
signal.signal(signal.SIGINT, signal.default_int_handler)
torch.set_num_threads(1)
from icl_dynamics.experiments.grokking.run import train_grokking_run
from icl_dynamics.workflow_io.cached_files import save_training_outputs
section = {tiny!r}
state, out = sys.argv[1], sys.argv[2]
metrics, checkpoints, result = train_grokking_run(section, 0, state_dir=state, code="c")
save_training_outputs(metrics, checkpoints, result, out + "/metrics.parquet", out + "/checkpoints.npz")
if sys.argv[3] == "signal":
    signal.raise_signal(signal.SIGINT)  # arrives after the outputs were written, before the job exits
"""


def test_a_signal_after_the_outputs_were_written_loses_no_training(tmp_path):
    """Regression: the state was deleted once the outputs were written; a SIGINT before the process exited
    failed the job, Snakemake deleted its outputs, and the run retrained from step 0."""
    state, out = tmp_path / "state" / "grokking" / "seed0", tmp_path / "results"
    out.mkdir()
    script = CHILD.format(tiny=TINY)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    first = subprocess.run([sys.executable, "-c", script, str(state), str(out), "signal"], env=env,
                           capture_output=True, text=True)
    assert first.returncode != 0 and "KeyboardInterrupt" in first.stderr  # the job failed
    reference = read_cached(out / "metrics.parquet")
    assert (state / FINISHED).exists() and (state / "state.pt").exists()  # the state outlived the signal
    for name in ("metrics.parquet", "checkpoints.npz"):  # what Snakemake does to a failed job's outputs
        (out / name).unlink()
    assert remove_finished_states(tmp_path / "state") == []  # its outputs are gone: the state stays
    again = subprocess.run([sys.executable, "-c", script, str(state), str(out), "no-signal"], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stderr and "at step 60" in again.stderr  # nothing trained again
    pd.testing.assert_frame_equal(read_cached(out / "metrics.parquet"), reference)
    assert remove_finished_states(tmp_path / "state", log=lambda message: None) == [state]  # the workflow succeeded
    assert not state.exists()


def test_finished_state_held_by_a_trainer_is_not_removed(tmp_path):
    import fcntl

    folder = tmp_path / "state" / "run"
    folder.mkdir(parents=True)
    (tmp_path / "out.csv").write_text("x\n1\n")
    (folder / FINISHED).write_text('{"outputs": ["%s"]}' % (tmp_path / "out.csv"))
    with open(folder / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert remove_finished_states(tmp_path / "state") == []
    assert remove_finished_states(tmp_path / "state", log=lambda message: None) == [folder]


def test_training_threads_come_from_the_config_not_the_scheduler(capfd):
    """--set-threads changes how many cores a training job reserves, not torch's thread count (which decides
    its float32 results and is part of its params): the job says so where the user sees it."""
    from icl_dynamics.workflow_io.rule_context import set_training_threads

    before = torch.get_num_threads()
    try:
        set_training_threads(1, reserved=2)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "reserves 2 cores but trains on threads.train = 1 torch threads" in capfd.readouterr().err
