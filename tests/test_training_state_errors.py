"""The resumable training state on a full disk, and its discarded-state warnings where the user sees them
(issue 21, item 11)."""

import contextlib
import errno
import io
import sys
from collections import namedtuple

import pytest
import torch

from icl_dynamics.training import state as state_module
from icl_dynamics.training.state import DiskFullError, StateFolder, atomic_save
from icl_dynamics.training.trainer import TrainerConfig, seed_everything, train

torch.set_num_threads(1)
# What torch 2.13 raises when the disk fills during torch.save (seen on a 64 KiB tmpfs).
TORCH_FULL_DISK = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
Usage = namedtuple("Usage", "total used free")


def _failing_save(error):
    def save(obj, path, *args, **kwargs):
        with open(path, "wb") as fh:   # torch leaves a partial file behind
            fh.write(b"partial")
        raise error
    return save


@pytest.mark.parametrize("error", [TORCH_FULL_DISK, OSError(errno.ENOSPC, "No space left on device")])
def test_a_full_disk_is_named_with_folder_and_need(tmp_path, monkeypatch, error):
    monkeypatch.setattr(state_module.torch, "save", _failing_save(error))
    monkeypatch.setattr(state_module.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 2048, 2048))
    target = tmp_path / "state.pt"
    with pytest.raises(DiskFullError) as raised:
        atomic_save({"w": torch.zeros(1000, 100)}, target)   # 400 kB of tensors
    message = str(raised.value)
    assert raised.value.errno == errno.ENOSPC
    assert "no space left on device" in message and str(tmp_path) in message
    assert "needs about 400 kB" in message and "2.05 kB is free" in message
    assert "rerun to resume" in message
    assert not target.exists() and not list(tmp_path.glob("*.tmp"))   # nothing half-written left


def test_another_save_error_with_space_left_is_not_called_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(state_module.torch, "save", _failing_save(RuntimeError("some other torch failure")))
    with pytest.raises(RuntimeError, match="some other torch failure") as raised:
        atomic_save({"w": torch.zeros(10)}, tmp_path / "state.pt")
    assert not isinstance(raised.value, DiskFullError)
    assert not list(tmp_path.glob("*.tmp"))


def test_training_on_a_full_disk_stops_naming_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(state_module.torch, "save", _failing_save(TORCH_FULL_DISK))
    monkeypatch.setattr(state_module.shutil, "disk_usage", lambda path: Usage(10**9, 10**9, 0))
    seed_everything(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = TrainerConfig(run_name="tiny", total_steps=10, checkpoint_steps=[0, 10], state_dir=tmp_path / "state",
                        state_every=5, log_every=5, divergence_factor=1e3, check_every=1)
    with pytest.raises(DiskFullError, match=rf"no space left on device: .*{tmp_path / 'state'}"):
        train(model, opt, lambda m, step: m(torch.ones(4, 3)).pow(2).mean(), cfg,
              on_checkpoint=lambda step, m: {"W": m.weight.detach()})


def _unreadable_state(folder):
    folder.mkdir()
    (folder / "state.pt").write_bytes(b"not a torch file")
    return StateFolder(folder, {"run_name": "tiny"})


def test_discarded_state_warning_reaches_the_real_stderr(tmp_path, monkeypatch, caplog):
    """Rule logging redirects sys.stderr to the job's log file; the warning must also reach the terminal."""
    terminal, job_log = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", terminal)
    with caplog.at_level("WARNING", logger="icl_dynamics.training"), contextlib.redirect_stderr(job_log):
        with _unreadable_state(tmp_path / "state") as folder:
            assert folder.load() is None
    assert "state.pt: unreadable" in caplog.text                       # the job log, as before
    assert f"{tmp_path / 'state' / 'state.pt'}: unreadable" in terminal.getvalue()
    assert "restarting the run from step 0" in terminal.getvalue()


def test_discarded_state_warning_is_not_doubled_without_redirection(tmp_path, monkeypatch, caplog):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    with caplog.at_level("WARNING", logger="icl_dynamics.training"):
        with _unreadable_state(tmp_path / "state") as folder:
            assert folder.load() is None
    assert "unreadable" in caplog.text
    assert terminal.getvalue().count("unreadable") <= 1
