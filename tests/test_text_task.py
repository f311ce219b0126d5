"""The text task (issue 26): the corpus reader, one training step of the byte-level model, rows N1-text to
N3-text on planted tables, and the section's cross-key checks."""

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.config import ConfigError, validate
from icl_dynamics.data import code_corpus
from icl_dynamics.experiments.text.checks import check_config
from icl_dynamics.experiments.text.claims import claim_ids, evaluate_claims
from icl_dynamics.experiments.text.run import TextTask, train_text_run


def write_folder(root, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\ndef f():\n    return {len(name)}\n" * 20)


NAMES = ["b.py", "a/z.py", "a/b.py", "c/d/e.py", "notes.txt", "site-packages/pkg/x.py", "__pycache__/q.py",
         *(f"m/mod{i}.py" for i in range(40))]


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "src", NAMES)
    return tmp_path / "src"


def corpus_settings(root, heldout_fraction=0.2):
    return {"root": str(root), "suffixes": [".py"], "heldout_fraction": heldout_fraction}


# ----------------------------------------------------------------------------------------------- corpus


def test_file_list_is_sorted_skips_installed_packages_and_ignores_creation_order(tmp_path, folder):
    files = code_corpus.corpus_files(folder, [".py"])
    assert files == sorted(files) and files[:4] == ["a/b.py", "a/z.py", "b.py", "c/d/e.py"]
    assert not any(f.startswith(("site-packages", "__pycache__")) or f.endswith(".txt") for f in files)
    assert len(files) == 44
    write_folder(tmp_path / "other", list(reversed(NAMES)))  # same files, created in the other order
    assert code_corpus.corpus_files(tmp_path / "other", [".py"]) == files


def test_heldout_rule_is_the_hash_of_the_path_alone():
    name = "json/decoder.py"
    value = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 16**8
    assert code_corpus.is_heldout(name, value + 1e-6) and not code_corpus.is_heldout(name, value)


def test_corpus_is_deterministic_and_its_splits_are_disjoint_whole_files(folder):
    first, second = (code_corpus.load_corpus(corpus_settings(folder)) for _ in range(2))
    assert torch.equal(first.train, second.train) and torch.equal(first.heldout, second.heldout)
    assert first.identity == second.identity and len(first.identity["corpus_sha256"]) == 64
    ident = first.identity
    assert ident["corpus_files_train"] + ident["corpus_files_heldout"] == 44
    assert ident["corpus_python"] == ""  # a user's folder: no interpreter version
    # one separator byte closes each file, and the bytes are the files' own
    assert int((first.train == code_corpus.SEPARATOR).sum()) == ident["corpus_files_train"]
    assert int((first.heldout == code_corpus.SEPARATOR).sum()) == ident["corpus_files_heldout"]
    heldout = [f for f in code_corpus.corpus_files(folder, [".py"]) if code_corpus.is_heldout(f, 0.2)]
    expected = b"".join((folder / f).read_bytes() + b"\0" for f in heldout)
    assert bytes(first.heldout.numpy()) == expected
    assert ident["corpus_bytes_train"] + ident["corpus_bytes_heldout"] == sum(
        (folder / f).stat().st_size + 1 for f in code_corpus.corpus_files(folder, [".py"]))


def test_editing_one_file_changes_the_hash_not_the_split(folder):
    before = code_corpus.load_corpus(corpus_settings(folder)).identity
    (folder / "b.py").write_text("x = 1\n")
    after = code_corpus.load_corpus(corpus_settings(folder)).identity
    assert after["corpus_sha256"] != before["corpus_sha256"]
    assert after["corpus_files_heldout"] == before["corpus_files_heldout"]


def test_standard_library_list_holds_out_about_the_configured_fraction():
    """The running interpreter's standard library: a deterministic list, about 5% of its files held out
    (binomial: with ~1800 files the fraction is 5% +- 0.5%)."""
    root = code_corpus.corpus_root(None)
    files = code_corpus.corpus_files(root, [".py"])
    assert files == code_corpus.corpus_files(root, [".py"]) and len(files) > 500 and "json/decoder.py" in files
    fraction = np.mean([code_corpus.is_heldout(f, 0.05) for f in files])
    assert 0.03 < fraction < 0.07


def test_corpus_errors_name_the_key(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match=r"'text.corpus.root' = .*is not a folder"):
        code_corpus.load_corpus(corpus_settings(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"no file ending with \.rst under .*'text.corpus'"):
        code_corpus.load_corpus({**corpus_settings(folder), "suffixes": [".rst"]})
    with pytest.raises(ValueError, match=r"'text.corpus.heldout_fraction' = 1e-09: the 44 files .* give 44 "
                                         r"training and 0 held-out files"):
        code_corpus.load_corpus(corpus_settings(folder, 1e-9))


# ---------------------------------------------------------------------------------------------- training


def tiny_section(root, steps=1):
    return validate({"depths": [2], "corpus": corpus_settings(root),
                     "context": {"seq_len": 32, "early_position": 3, "late_position": 30},
                     "model": {"d_model": 16, "n_heads": 2, "d_head": 8},
                     "train": {"steps": steps, "batch": 4, "eval_batch": 8, "prefix_batch": 2,
                               "checkpoints": {"n_log": 2, "n_dense": 0}},
                     "runtime": {"log_every": 1}}, "text")


def test_batches_are_windows_of_the_training_split_fixed_by_seed_and_step(folder):
    section = tiny_section(folder)
    corpus = code_corpus.load_corpus(section["corpus"])
    task, again = (TextTask(section, 0, torch.device("cpu"), corpus) for _ in range(2))
    assert torch.equal(task.batch_at(7), again.batch_at(7)) and not torch.equal(task.batch_at(7), task.batch_at(8))
    train = bytes(corpus.train.numpy())
    assert all(bytes(row.tolist()) in train for row in task.batch_at(7))  # contiguous slices of the training bytes
    assert task.prefix_tokens.shape == (2, 32) and torch.equal(task.prefix_tokens[:, :16], task.prefix_tokens[:, 16:])


def test_one_training_step_records_metrics_weights_and_the_corpus(folder):
    metrics, checkpoints, result = train_text_run(tiny_section(folder), 2, 0, device="cpu")
    assert metrics["step"].tolist() == [0, 1] and metrics["tokens"].tolist() == [0, 4 * 32]
    assert metrics["eval_loss"].iloc[0] == pytest.approx(math.log(256), abs=0.1)  # small init: a uniform guess
    assert metrics["train_loss"].iloc[1] < metrics["train_loss"].iloc[0]  # one Adam step lowers the loss
    icl = metrics["loss_late"] - metrics["loss_early"]
    np.testing.assert_allclose(metrics["icl_score"], icl, rtol=1e-6)
    heads = [c for c in metrics if c.startswith("prefix_matching_L")]
    assert heads == [f"prefix_matching_L{l}H{h}" for l in range(2) for h in range(2)]
    assert metrics["corpus_files_train"].iloc[0] + metrics["corpus_files_heldout"].iloc[0] == 44
    assert metrics["corpus_sha256"].nunique() == 1
    assert checkpoints["W_Q"].shape == (2, 2, 2, 16, 8) and checkpoints["W_O"].shape == (2, 2, 2, 8, 16)
    result.discard_state()


# ------------------------------------------------------------------------------------------------ claims


def planted(icl_l2, detected=True):
    """Runs L1 and L2 (seed 0) over log-spaced steps: the L1 ICL score falls by 0.1 nats gradually, the L2
    one as given; the L2 QK marginal rank dips at step 1000 inside a window [500, 2000], its subspace
    distances halve by step 1000; the L1 one has no dip."""
    steps = [0, 10, 100, 500, 1000, 2000, 4000]
    icl = {1: [0.0, -0.02, -0.04, -0.06, -0.08, -0.09, -0.1], 2: icl_l2}
    rank = {1: [6.0] * 7, 2: [6.0, 6.0, 6.0, 5.5, 4.0, 5.5, 5.8]}
    distance = [1.0, 1.0, 0.9, 0.6, 0.3, 0.1, 0.0]
    metrics = pd.DataFrame([{"n_layers": l, "seed": 0, "step": s, "tokens": s * 4096, "icl_score": v,
                             "corpus_python": "3.11.7", "corpus_root": "/lib", "corpus_files_train": 1704,
                             "corpus_sha256": "ab" * 32} for l in (1, 2) for s, v in zip(steps, icl[l])])
    measures = pd.DataFrame([{"n_layers": l, "seed": 0, "layer": 0, "head": 0, "series": series, "measure": measure,
                              "step": s, "value": value}
                             for l in (1, 2) for series in ("QK", "OV")
                             for measure, values in (("marginal_effective_rank_k1", rank[l]),
                                                     ("subspace_distance", distance))
                             for s, value in zip(steps, values)])
    windows = pd.DataFrame([{"n_layers": 1, "seed": 0, "detected": False, "start": math.nan, "end": math.nan,
                             "width_decades": math.nan},
                            {"n_layers": 2, "seed": 0, "detected": detected, "start": 500.0 if detected else math.nan,
                             "end": 2000.0 if detected else math.nan, "width_decades": 0.6 if detected else math.nan}])
    return windows, metrics, measures


THRESHOLDS = validate({}, "text")["thresholds"]


def test_planted_induction_jump_passes_the_three_rows():
    rows, runs = evaluate_claims(*planted([0.0, -0.02, -0.05, -0.1, -0.6, -0.7, -0.72]), THRESHOLDS, 1)
    assert [r.claim for r in rows] == claim_ids({}) == ["N1-text", "N2-text", "N3-text"]
    assert {r.experiment for r in rows} == {"text"}
    assert [r.verdict for r in rows] == ["reproduced", "reproduced", "reproduced"]
    assert runs.set_index("n_layers").loc[2, "steepest_fall"] == pytest.approx(0.5)  # steps 500 to 1000
    assert "budget (bytes trained on, per seed) L1: 16.4 M; L2: 16.4 M; corpus Python 3.11.7" in rows[0].note


def test_a_model_without_an_induction_circuit_is_reported_with_its_budget():
    """A gradual fall of the ICL score (no window, no jump): N1-text is not reproduced and says so."""
    rows, _ = evaluate_claims(*planted([0.0, -0.05, -0.1, -0.15, -0.2, -0.25, -0.3], detected=False),
                              THRESHOLDS, 1)
    n1 = rows[0]
    assert (n1.claim, n1.value, n1.verdict) == ("N1-text", 0.0, "not_reproduced")
    assert "L2: 16.4 M" in n1.note and "1-layer runs with a jump: 0 of 1" in n1.note


# ------------------------------------------------------------------------------------------------ checks


def test_checks_name_the_keys():
    section = validate({"context": {"seq_len": 128, "early_position": 50, "late_position": 500}}, "text")
    with pytest.raises(ConfigError, match=r"'text.context.late_position' = 500 .* late_position <= seq_len - 2"):
        check_config(section)
    section = validate({"model": {"d_head": 2}}, "text")
    with pytest.raises(ConfigError, match=r"'measures.marginal_rank_k_variant' = 2 and 'text.model.d_head' = 2"):
        check_config(section, {"measures": {"marginal_rank_k": 1, "marginal_rank_k_variant": 2}})
    check_config(validate({}, "text"), {"measures": {"marginal_rank_k": 1, "marginal_rank_k_variant": 2}})
