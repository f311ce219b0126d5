"""icl-measures on inputs it cannot measure as asked (issue 21, items 3 and 11): a misspelt or duplicate key
in --config, heads too narrow for the marginalised rank, zero weights (NaN measures), and --heads that
contradicts per-head weights."""

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.measures.cli import main

from conftest import REPO

torch.set_num_threads(1)
STEPS = (0, 10, 20)


def _attention_checkpoints(folder, d_head=8, heads=4, d_model=16, zero_W_O_at=(), zero_all=False):
    """Per-head weights of one layer (TransformerLens layout) saved at STEPS."""
    torch.manual_seed(0)
    folder.mkdir()
    for step in STEPS:
        sd = {f"blocks.0.attn.{name}": torch.randn(heads, d_model, d_head) for name in ("W_Q", "W_K", "W_V")}
        sd["blocks.0.attn.W_O"] = torch.randn(heads, d_head, d_model)
        if step in zero_W_O_at:
            sd["blocks.0.attn.W_O"].zero_()
        if zero_all:
            sd = {key: torch.zeros_like(value) for key, value in sd.items()}
        torch.save(sd, folder / f"ckpt_{step}.pt")
    return folder


def _matrix_checkpoints(folder, make):
    """One checkpoint per step of STEPS holding a single matrix ``w`` = ``make()``."""
    folder.mkdir()
    for step in STEPS:
        torch.save({"w": make()}, folder / f"ckpt_{step}.pt")
    return folder


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, " ".join(captured.err.split())


# -- item 3: --config -----------------------------------------------------------------------------------

def test_unknown_top_level_key_in_config_is_an_error(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts")
    typo = tmp_path / "typo.yaml"
    typo.write_text("measure:\n  marginal_rank_k: 3\n")
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits", "--config", typo)
    assert code == 1
    assert f"{typo}: unknown top-level key 'measure'" in err
    assert "allowed: attention, device, grokking, linear, measures, reference_figures, text, threads, training_jobs" in err
    assert not (tmp_path / "m.csv").exists()


def test_the_workflow_config_is_accepted_and_its_measures_used(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts")
    extra = tmp_path / "k3.yaml"
    extra.write_text("measures: {marginal_rank_k: 3}\n")
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits", "--config", REPO / "config/config.yaml",
                     "--config", extra)
    assert code == 0, err
    assert "marginal_effective_rank_k3" in set(pd.read_csv(tmp_path / "m.csv").measure)


def test_duplicate_key_in_config_is_an_error(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts")
    dup = tmp_path / "dup.yaml"
    dup.write_text("measures:\n  marginal_rank_k: 1\n  marginal_rank_k: 3\n")
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits", "--config", dup)
    assert code == 1
    assert "dup.yaml, line 3: key 'marginal_rank_k' appears twice in one mapping (first at line 2)" in err


# -- item 11: marginalised rank on narrow heads -----------------------------------------------------------

def test_variant_rank_is_left_out_with_a_warning_when_d_head_is_too_small(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts", d_head=2)
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits")
    assert code == 0, err
    assert "warning" in err and "'measures.marginal_rank_k_variant' = 2" in err and "2 singular values" in err
    measures = set(pd.read_csv(tmp_path / "m.csv").measure)
    assert "marginal_effective_rank_k1" in measures and "marginal_effective_rank_k2" not in measures


def test_main_rank_on_too_small_d_head_names_the_key(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts", d_head=1)
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits")
    assert code == 1
    assert "'measures.marginal_rank_k' = 1" in err and "1 singular value" in err and "ckpt_20.pt" in err


def test_too_small_matrix_for_the_variant_is_named_for_match(tmp_path, capsys):
    folder = _matrix_checkpoints(tmp_path / "ckpts", lambda: torch.randn(5, 2))
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--match", "w")
    assert code == 0
    assert "key 'w'" in err and "'measures.marginal_rank_k_variant' = 2" in err


# -- item 11: zero weights ----------------------------------------------------------------------------------

def test_zero_W_O_at_step_0_warns_naming_file_key_and_step(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts", zero_W_O_at=(0,))
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "m.csv")
    nan = table[table.value.isna()]
    assert set(nan.series) == {"OV"} and set(nan.step) == {0}
    assert "warning" in err and "circuit 'OV' of layer 0" in err and "'blocks.0.attn.W_O'" in err
    assert "at step 0" in err and str(folder / "ckpt_0.pt") in err
    assert "effective_rank" in err and "no nonzero singular value" in err
    assert "QK" not in err


def test_all_zero_weights_warn_for_every_step_and_the_reference(tmp_path, capsys):
    folder = _matrix_checkpoints(tmp_path / "ckpts", lambda: torch.zeros(5, 6))
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--match", "w")
    assert code == 0
    assert "key 'w'" in err and "at steps 0, 10, 20" in err and "subspace_distance" in err
    assert "the last checkpoint's matrix" in err
    table = pd.read_csv(tmp_path / "m.csv")
    assert np.isnan(table[table.measure == "effective_rank"].value).all()


def test_no_warning_for_ordinary_weights(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts")
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits")
    assert code == 0 and err == ""


# -- item 11: --heads against per-head weights -----------------------------------------------------------------

@pytest.mark.parametrize("args", [["--circuits"], ["--match", "blocks.0.attn.W_Q"],
                                  ["--circuits", "--layout", "transformer-lens"]])
def test_heads_contradicting_3d_weights_is_an_error(tmp_path, capsys, args):
    folder = _attention_checkpoints(tmp_path / "ckpts")
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", *args, "--heads", "7")
    assert code == 1
    assert "--heads 7" in err and "4 heads" in err and "(4, 16, 8)" in err


def test_heads_equal_to_the_stored_count_is_accepted(tmp_path, capsys):
    folder = _attention_checkpoints(tmp_path / "ckpts")
    code, err = _run(capsys, folder, "-o", tmp_path / "m.csv", "--circuits", "--heads", "4")
    assert code == 0, err


def test_circuit_weights_refuse_a_contradicting_head_count():
    from icl_dynamics.measures.layouts import circuit_weights

    rng = np.random.default_rng(0)
    weights = {name: rng.standard_normal((4, 16, 8)) for name in ("W_Q", "W_K", "W_V")}
    weights["W_O"] = rng.standard_normal((4, 8, 16))
    assert circuit_weights(weights, "transformer-lens", n_heads=4)["W_Q"].shape == (4, 16, 8)
    with pytest.raises(ValueError, match="n_heads = 7 contradicts the 4 heads"):
        circuit_weights(weights, "transformer-lens", n_heads=7)
