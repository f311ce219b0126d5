"""The icl-measures command on checkpoints written by plain torch.save of a torch.nn model."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from icl_dynamics.measures import effective_rank, singular_values, subspace_distance
from icl_dynamics.measures.cli import main

torch.set_num_threads(1)

STEPS = [0, 9, 10, 100]  # as text, "ckpt_100.pt" sorts before "ckpt_9.pt": order must come from the number
ICL_MEASURES = str(Path(sys.executable).with_name("icl-measures"))


@pytest.fixture
def checkpoints(tmp_path):
    """A small model's state_dict saved at four steps, the weights moving between saves."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 6))
    folder = tmp_path / "ckpts"
    folder.mkdir()
    saved = {}
    for step in STEPS:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        torch.save(model.state_dict(), folder / f"ckpt_{step}.pt")
        saved[step] = {key: value.clone().double().numpy() for key, value in model.state_dict().items()}
    return folder, saved


def value(table, step, matrix, measure, head=None):
    rows = table[(table.step == step) & (table.series == matrix) & (table.measure == measure)]
    rows = rows[rows["head"] == (-1 if head is None else head)]
    assert len(rows) == 1
    return rows.value.iloc[0]


def test_command_writes_tidy_csv_in_step_order(checkpoints, tmp_path):
    folder, saved = checkpoints
    output = tmp_path / "out" / "measures.csv"
    result = subprocess.run(
        [ICL_MEASURES, str(folder), "-o", str(output), "--match", "*.weight"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(output)
    assert list(table.columns) == ["step", "series", "layer", "head", "measure", "value"]
    assert sorted(table.series.unique()) == ["0.weight", "2.weight"]
    assert list(table[table.measure == "effective_rank"].step.unique()) == STEPS
    for step in STEPS:
        assert value(table, step, "0.weight", "effective_rank") == pytest.approx(effective_rank(saved[step]["0.weight"]))
    final = saved[100]["2.weight"]
    assert value(table, 9, "2.weight", "subspace_distance") == pytest.approx(
        subspace_distance(saved[9]["2.weight"], final, 1e-6)
    )
    assert value(table, 100, "2.weight", "subspace_distance") == pytest.approx(0.0, abs=1e-12)
    for i, s in enumerate(singular_values(final)[:4]):
        assert value(table, 100, "2.weight", f"mode_strength_{i + 1}") == pytest.approx(s)
    expected = {"effective_rank", "marginal_effective_rank_k1", "marginal_effective_rank_k2", "stable_rank",
                "subspace_distance", "mode_strength_1", "mode_strength_2", "mode_strength_3", "mode_strength_4"}
    assert set(table.measure) == expected


def test_head_split_to_parquet_and_config(checkpoints, tmp_path):
    folder, saved = checkpoints
    config = tmp_path / "config.yaml"
    config.write_text("measures:\n  marginal_rank_k: 2\n  n_mode_strengths: 2\n")
    output = tmp_path / "measures.parquet"
    argv = [str(folder), "-o", str(output), "-m", r"^0\.weight$", "--regex", "--heads", "4", "--config", str(config)]
    assert main(argv) == 0
    table = pd.read_parquet(output)
    assert sorted(table["head"].unique()) == [0, 1, 2, 3]
    assert "marginal_effective_rank_k1" not in set(table.measure) and "mode_strength_3" not in set(table.measure)
    assert "marginal_effective_rank_k2" in set(table.measure) and "mode_strength_2" in set(table.measure)
    weight = saved[10]["0.weight"]  # (16, 12): columns split into 4 heads of 3
    assert value(table, 10, "0.weight", "effective_rank", head=2) == pytest.approx(effective_rank(weight[:, 6:9]))
    assert main(argv + ["--head-axis", "rows"]) == 0  # 16 rows split into 4 heads of 4
    table = pd.read_parquet(output)
    assert value(table, 10, "0.weight", "effective_rank", head=1) == pytest.approx(effective_rank(weight[4:8]))


def test_corrupt_checkpoint_names_the_file(checkpoints, tmp_path):
    folder, _ = checkpoints
    corrupt = folder / "ckpt_10.pt"
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    output = tmp_path / "measures.csv"
    result = subprocess.run([ICL_MEASURES, str(folder), "-o", str(output), "-m", "*.weight"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("icl-measures: error: ") and result.stderr.count("\n") == 1
    assert str(corrupt) in result.stderr and "Traceback" not in result.stderr
    assert not output.exists()


def run_main(capsys, argv):
    code = main(argv)
    message = capsys.readouterr().err
    assert message.count("\n") == 1
    return code, message


def test_missing_key_names_file_and_key(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    state_dict = torch.load(folder / "ckpt_9.pt")
    del state_dict["2.weight"]
    torch.save(state_dict, folder / "ckpt_9.pt")
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "*.weight"])
    assert code == 1
    assert f"{folder / 'ckpt_9.pt'}: missing key '2.weight'" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_name_file_key_and_step(checkpoints, tmp_path, capsys, bad):
    """Regression: NaN weights crashed with LinAlgError, Inf ones gave NaN measures and exit code 0."""
    folder, _ = checkpoints
    state_dict = torch.load(folder / "ckpt_10.pt")
    state_dict["0.weight"][3, 2] = bad
    torch.save(state_dict, folder / "ckpt_10.pt")
    output = tmp_path / "m.csv"
    code, message = run_main(capsys, [str(folder), "-o", str(output), "-m", "*.weight"])
    assert code == 1 and not output.exists()
    assert f"{folder / 'ckpt_10.pt'}: key '0.weight' at step 10 has 1 non-finite values (NaN or Inf)" in message


def test_pattern_matching_nothing_names_pattern(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "attn.*"])
    assert code == 1
    assert "no key matches 'attn.*'" in message and "0.weight" in message


def test_bad_head_split_names_the_shape(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "2.weight", "--heads", "5"])
    assert code == 1
    assert "key '2.weight'" in message and "shape (6, 16): 16 columns do not split into 5 heads" in message


def test_vector_key_and_bad_output_are_rejected(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "0.bias"])
    assert code == 1 and "key '0.bias' has shape (16,), not a matrix" in message
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.txt"), "-m", "0.weight"])
    assert code == 1 and "must end in .csv or .parquet" in message


def test_invalid_config_names_the_key(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    config = tmp_path / "config.yaml"
    config.write_text("measures:\n  pinv_rtol: 2\n")
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "0.weight", "--config", str(config)])
    assert code == 1 and "measures.pinv_rtol" in message


def test_marginal_rank_beyond_the_spectrum_names_the_key(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    config = tmp_path / "config.yaml"
    config.write_text("measures:\n  marginal_rank_k: 3\n")
    argv = [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "0.weight", "--heads", "4", "--config", str(config)]
    code, message = run_main(capsys, argv)
    assert code == 1 and "key '0.weight'" in message and "marginal rank k = 3" in message
