"""Tests of the shared trainer core: resume is bit-identical, divergence is named, schedules."""

import os
import signal

import pytest
import torch

from icl_dynamics.training.schedules import interval_steps, log_spaced_steps
from icl_dynamics.training.trainer import (
    DivergenceError,
    TrainerConfig,
    TrainingInterrupted,
    resolve_device,
    seed_everything,
    train,
)

TOTAL = 40


class Tiny(torch.nn.Module):
    """A two-layer net with dropout, so the torch RNG state matters for resume."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                       torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


def batch(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(16, 3, generator=g)
    return x, x.sum(dim=1, keepdim=True)


def make_loss_fn(fail_at=None, action=None):
    def loss_fn(model, step):
        if step == fail_at:
            action()
        x, y = batch(step)
        return torch.mean((model(x) - y) ** 2)

    return loss_fn


def crash():
    raise RuntimeError("killed")


def run(state_dir=None, loss_fn=None, lr=0.05, state_every=7, fingerprint=""):
    seed_everything(3)
    model = Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 5))
    cfg = TrainerConfig(run_name="tiny", total_steps=TOTAL, checkpoint_steps=interval_steps(TOTAL, 10),
                        state_dir=state_dir, state_every=state_every, log_every=10, divergence_factor=1e3,
                        check_every=1, fingerprint=fingerprint)

    def on_checkpoint(step, m):
        return {"norm": m.net[0].weight.norm().item(), "W": m.net[0].weight.detach()}

    result = train(model, opt, loss_fn or make_loss_fn(), cfg, scheduler=sched, on_checkpoint=on_checkpoint)
    return model, result


def assert_same(a, b):
    (ma, ra), (mb, rb) = a, b
    for (ka, va), (kb, vb) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert ra.records == rb.records
    assert ra.checkpoints.keys() == rb.checkpoints.keys()
    for k in ra.checkpoints:
        assert torch.equal(ra.checkpoints[k], rb.checkpoints[k])


def test_uninterrupted_run_records_and_checkpoints():
    model, result = run()
    assert [r["step"] for r in result.records] == [0, 10, 20, 30, 40]
    assert result.checkpoints["W"].shape == (5, 8, 3)
    assert torch.equal(result.checkpoints["W"][-1], model.net[0].weight.detach())
    assert result.records[-1]["norm"] == pytest.approx(model.net[0].weight.norm().item())
    # training moved the weights
    assert not torch.equal(result.checkpoints["W"][0], result.checkpoints["W"][-1])


def test_resume_after_crash_is_bit_identical(tmp_path):
    reference = run()

    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path, make_loss_fn(fail_at=23, action=crash))
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    assert state["step"] == 21  # last multiple of state_every before the crash
    model, result = run(tmp_path)
    assert_same((model, result), reference)
    assert tmp_path.joinpath("state.pt").exists()  # kept until the caller has written its outputs
    result.discard_state()
    assert not tmp_path.exists()


def test_resume_after_sigterm_is_bit_identical(tmp_path):
    reference = run()
    with pytest.raises(TrainingInterrupted, match="step 18"):
        run(tmp_path, make_loss_fn(fail_at=17, action=lambda: os.kill(os.getpid(), signal.SIGTERM)))
    assert torch.load(tmp_path / "state.pt", weights_only=False)["step"] == 18
    assert_same(run(tmp_path), reference)


def test_state_of_other_settings_is_discarded(tmp_path):
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path, make_loss_fn(fail_at=23, action=crash))
    # same run, other settings: must start from step 0, i.e. equal a fresh run without state
    assert_same(run(tmp_path, lr=0.02, fingerprint="lr=0.02"), run(lr=0.02, fingerprint="lr=0.02"))


def test_divergence_names_run_step_and_lr():
    seed_everything(0)
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=5.0)
    cfg = TrainerConfig(run_name="exploding", total_steps=200, state_every=1000, log_every=1000,
                        divergence_factor=100.0, check_every=1)
    with pytest.raises(DivergenceError, match=r"run exploding diverged at step \d+ with learning rate 5"):
        train(model, opt, make_loss_fn(), cfg)


def test_nan_loss_raises_at_its_step():
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def loss_fn(m, step):
        loss = m(batch(step)[0]).pow(2).mean()
        return loss * float("nan") if step == 5 else loss

    with pytest.raises(DivergenceError, match="at step 5 with learning rate 0.01"):
        train(model, opt, loss_fn, TrainerConfig(run_name="nan", total_steps=10, state_every=1000, log_every=1000,
                                                 divergence_factor=1e3, check_every=1))


def test_interval_steps():
    assert interval_steps(100, 25) == [0, 25, 50, 75, 100]
    assert interval_steps(10, 4) == [0, 4, 8, 10]


def test_log_spaced_steps():
    steps = log_spaced_steps(10_000, 5)
    assert steps == [0, 1, 10, 100, 1000, 10_000]
    dense = log_spaced_steps(10_000, 5, dense_window=(2000, 3000), n_dense=11)
    assert set(range(2000, 3001, 100)) <= set(dense)
    assert dense == sorted(set(dense)) and dense[0] == 0 and dense[-1] == 10_000


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="not one of"):
        resolve_device("tpu")


# ------------------------------------------------------------------------------------- damaged state


def _crash_at_23(tmp_path):
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path, make_loss_fn(fail_at=23, action=crash))


def test_missing_snapshot_is_named_and_the_run_restarts(tmp_path, caplog):
    """Regression: a missing snapshot was skipped silently (metrics and weights out of step, exit 0)."""
    reference = run()
    _crash_at_23(tmp_path)
    (tmp_path / "checkpoints" / f"step_{10:010d}.pt").unlink()
    with caplog.at_level("WARNING", logger="icl_dynamics.training"):
        resumed = run(tmp_path)
    assert f"step_{10:010d}.pt: snapshot missing" in caplog.text
    assert "restarting the run from step 0" in caplog.text
    assert_same(resumed, reference)


def test_damaged_snapshot_is_named_and_the_run_restarts(tmp_path, caplog):
    reference = run()
    _crash_at_23(tmp_path)
    snapshot = tmp_path / "checkpoints" / f"step_{20:010d}.pt"
    snapshot.write_bytes(snapshot.read_bytes()[:-7])
    with caplog.at_level("WARNING", logger="icl_dynamics.training"):
        resumed = run(tmp_path)
    assert "snapshot damaged" in caplog.text and str(snapshot) in caplog.text
    assert_same(resumed, reference)


def test_truncated_state_file_is_named_and_the_run_restarts(tmp_path, caplog):
    """Regression: a truncated state.pt failed every rerun with a reader error naming no file."""
    reference = run()
    _crash_at_23(tmp_path)
    state = tmp_path / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with caplog.at_level("WARNING", logger="icl_dynamics.training"):
        resumed = run(tmp_path)
    assert f"{state}: unreadable" in caplog.text
    assert_same(resumed, reference)


def test_a_second_trainer_on_the_same_folder_stops_naming_folder_and_holder(tmp_path):
    """Regression: two trainers shared one state folder and deleted each other's files."""
    from icl_dynamics.training.state import StateFolder, StateLocked

    with StateFolder(tmp_path, {}):  # another trainer holds the folder
        with pytest.raises(StateLocked, match=rf"state folder {tmp_path} is in use by another trainer "
                                              rf"\(pid {os.getpid()} on host .*\)"):
            run(tmp_path)
    run(tmp_path)  # released: trains


def test_state_outlives_a_failed_output_write(tmp_path):
    """Regression: the state was deleted before the outputs were written, so a failed write lost the run."""
    import pandas as pd

    from icl_dynamics.workflow_io.cached_files import CachedFileError, save_training_outputs

    model, result = run(tmp_path)
    metrics = pd.DataFrame(result.records)
    blocked = tmp_path.parent / "outputs" / "metrics.parquet"
    blocked.mkdir(parents=True)  # a folder where the file should go
    (blocked / "x").touch()
    with pytest.raises((CachedFileError, OSError)):
        save_training_outputs(metrics, result.checkpoints, result, blocked, tmp_path.parent / "outputs" / "c.npz")
    assert (tmp_path / "state.pt").exists()
    assert sorted(p.name for p in blocked.parent.iterdir()) == ["metrics.parquet"]  # no temporary file left
    # the rerun resumes at the end (no step is trained again) and gives the same result
    again_model, again = run(tmp_path, make_loss_fn(fail_at=0, action=crash))
    assert_same((again_model, again), (model, result))
    save_training_outputs(metrics, again.checkpoints, again, tmp_path.parent / "m.parquet", tmp_path.parent / "c.npz")
    assert (tmp_path / "finished.json").exists()  # kept until the workflow has succeeded (test_training_reruns)
