"""The icl-measures command on checkpoints written by plain torch.save of a torch.nn model, and on per-head
attention weights in each layout it reads."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.measures import (
    effective_rank,
    long_table,
    singular_values,
    spectral_measures,
    subspace_distance,
    thin_svd,
)
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


# per-head checkpoints: layouts, circuits ----------------------------------------------------------------

LAYERS, HEADS, D_MODEL, D_HEAD = 2, 4, 12, 4
LAYOUT_KEYS = {"transformer-lens": "blocks.{layer}.attn.{W}", "progress-measures": "attn_blocks.{layer}.attn.{W}",
               "fused": "layers.{layer}.{W}"}


def in_layout(weights: dict, layout: str) -> dict:
    """One layer's W_Q, W_K, W_V (heads, d_model, d_head) and W_O (heads, d_head, d_model) stored in ``layout``."""
    if layout == "transformer-lens":
        return weights
    h, d, e = weights["W_Q"].shape
    if layout == "progress-measures":
        out = {name: weights[name].transpose(-1, -2).contiguous() for name in ("W_Q", "W_K", "W_V")}
        out["W_O"] = weights["W_O"].reshape(h * e, d).T.contiguous()
        return out
    out = {name: weights[name].permute(1, 0, 2).reshape(d, h * e) for name in ("W_Q", "W_K", "W_V")}
    out["W_O"] = weights["W_O"].reshape(h * e, d)
    return out


@pytest.fixture
def head_weights():
    """Per-head weights of a 2-layer model at four steps, moving between them: {step: {name: (L, H, ...)}}."""
    torch.manual_seed(1)
    shapes = {"W_Q": (D_MODEL, D_HEAD), "W_K": (D_MODEL, D_HEAD), "W_V": (D_MODEL, D_HEAD), "W_O": (D_HEAD, D_MODEL)}
    start = {name: torch.randn(LAYERS, HEADS, *shape) for name, shape in shapes.items()}
    drift = {name: torch.randn(LAYERS, HEADS, *shape) for name, shape in shapes.items()}
    return {step: {name: start[name] + (i / 3) ** 2 * drift[name] for name in shapes} for i, step in enumerate(STEPS)}


def save_layout(folder: Path, head_weights: dict, layout: str) -> Path:
    """Save ``head_weights`` in ``layout``, nested in a training checkpoint dict, with mixed file extensions."""
    folder.mkdir()
    for step, suffix in zip(STEPS, [".pt", ".pth", ".bin", ".pt"]):
        state_dict = {"embed.W_E": torch.randn(7, D_MODEL)}
        for layer in range(LAYERS):
            stored = in_layout({name: w[layer] for name, w in head_weights[step].items()}, layout)
            for name, tensor in stored.items():
                state_dict[LAYOUT_KEYS[layout].format(layer=layer, W=name)] = tensor
        torch.save({"model": state_dict, "optimizer": {"step": step}}, folder / f"step{step}{suffix}")
    return folder


def measured(table: pd.DataFrame) -> pd.Series:
    return table.set_index(["step", "series", "layer", "head", "measure"])["value"].sort_index()


def dense_circuit_table(head_weights: dict) -> pd.Series:
    """The circuit measures computed from dense d_model x d_model circuits and their full SVDs."""
    stacked = {name: torch.stack([head_weights[s][name] for s in STEPS]).double() for name in head_weights[0]}
    circuits = {"QK": stacked["W_Q"] @ stacked["W_K"].transpose(-1, -2), "OV": stacked["W_V"] @ stacked["W_O"]}
    return measured(pd.concat([long_table(STEPS, name, spectral_measures(thin_svd(M), thin_svd(M[-1])))
                               for name, M in circuits.items()], ignore_index=True))


@pytest.mark.parametrize("layout", ["transformer-lens", "progress-measures", "fused"])
def test_circuits_in_every_layout_equal_the_dense_computation(head_weights, tmp_path, layout):
    folder = save_layout(tmp_path / "ckpts", head_weights, layout)
    output = tmp_path / "m.csv"
    argv = [str(folder), "-o", str(output), "--circuits"]
    if layout != "transformer-lens":  # the default template names TransformerLens' keys
        argv += [LAYOUT_KEYS[layout]]
    if layout == "fused":
        argv += ["--heads", str(HEADS)]
    assert main(argv) == 0
    table = measured(pd.read_csv(output))
    dense = dense_circuit_table(head_weights)
    assert table.index.equals(dense.index)
    assert set(table.index.get_level_values("layer")) == {0, 1}
    np.testing.assert_allclose(table.to_numpy(), dense.to_numpy(), rtol=1e-6, atol=1e-12)
    assert main(argv + ["--layout", layout]) == 0  # the explicit layout is the one auto read from W_O
    assert measured(pd.read_csv(output)).equals(table)


def test_per_head_stacks_give_the_same_numbers_in_both_layouts(head_weights, tmp_path):
    tables = {}
    for layout in ("transformer-lens", "progress-measures"):
        folder = save_layout(tmp_path / layout, head_weights, layout)
        pattern = LAYOUT_KEYS[layout].format(layer=1, W="W_Q")
        assert main([str(folder), "-o", str(tmp_path / "m.csv"), "-m", pattern]) == 0
        tables[layout] = measured(pd.read_csv(tmp_path / "m.csv").assign(series="W_Q"))
    assert tables["transformer-lens"].index.equals(tables["progress-measures"].index)
    np.testing.assert_allclose(tables["transformer-lens"], tables["progress-measures"], rtol=1e-12)
    W_Q = head_weights[10]["W_Q"][1, 2].double().numpy()  # layer 1, head 2: (d_model, d_head)
    assert tables["transformer-lens"][(10, "W_Q", -1, 2, "effective_rank")] == pytest.approx(effective_rank(W_Q))
    final = head_weights[100]["W_Q"][1, 2].double().numpy()
    assert tables["progress-measures"][(9, "W_Q", -1, 2, "subspace_distance")] == pytest.approx(
        subspace_distance(head_weights[9]["W_Q"][1, 2].double().numpy(), final))


def test_safetensors_checkpoints(head_weights, tmp_path):
    safetensors = pytest.importorskip("safetensors.torch", reason="safetensors is not installed (optional)")
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for step in STEPS:
        tensors = {f"blocks.{l}.attn.{name}": w[l].contiguous() for name, w in head_weights[step].items()
                   for l in range(LAYERS)}
        safetensors.save_file(tensors, folder / f"model_{step}.safetensors")
    assert main([str(folder), "-o", str(tmp_path / "m.csv"), "--circuits"]) == 0
    table = measured(pd.read_csv(tmp_path / "m.csv"))
    np.testing.assert_allclose(table.to_numpy(), dense_circuit_table(head_weights).to_numpy(), rtol=1e-6, atol=1e-12)


def test_per_head_stack_of_unknown_layout_names_file_key_and_shape(head_weights, tmp_path, capsys):
    folder = save_layout(tmp_path / "ckpts", head_weights, "progress-measures")
    for path in folder.iterdir():
        checkpoint = torch.load(path)
        checkpoint["model"]["q_proj"] = checkpoint["model"]["attn_blocks.0.attn.W_Q"]
        torch.save(checkpoint, path)
    argv = [str(folder), "-o", str(tmp_path / "m.csv"), "-m", "q_proj"]
    code, message = run_main(capsys, argv)
    assert code == 1
    assert f"{folder / 'step100.pt'}: key 'q_proj' has shape (4, 4, 12)" in message and "pass --layout" in message
    assert main(argv + ["--layout", "progress-measures"]) == 0


def test_circuit_errors_name_file_keys_and_shapes(head_weights, tmp_path, capsys):
    folder = save_layout(tmp_path / "ckpts", head_weights, "progress-measures")
    final = folder / "step100.pt"
    output = str(tmp_path / "m.csv")
    code, message = run_main(capsys, [str(folder), "-o", output, "--circuits"])  # TransformerLens names
    assert code == 1 and f"{final}: no key matches the circuit template 'blocks.{{layer}}.attn.{{W}}'" in message
    code, message = run_main(capsys, [str(folder), "-o", output, "--circuits", LAYOUT_KEYS["progress-measures"],
                                      "--layout", "transformer-lens"])
    assert code == 1 and f"{final}: keys 'attn_blocks.0.attn.W_Q', 'attn_blocks.0.attn.W_K'" in message
    assert ("W_Q (4, 4, 12), W_K (4, 4, 12), W_V (4, 4, 12), W_O (12, 16) are not in the transformer-lens layout"
            in message)
    checkpoint = torch.load(final)
    checkpoint["model"]["attn_blocks.1.attn.W_V"] = torch.randn(4, 5, 12)
    del checkpoint["model"]["attn_blocks.0.attn.W_K"]
    torch.save(checkpoint, final)
    code, message = run_main(capsys, [str(folder), "-o", output, "--circuits", LAYOUT_KEYS["progress-measures"]])
    assert code == 1 and f"{final}: missing key 'attn_blocks.0.attn.W_K'" in message
    checkpoint["model"]["attn_blocks.0.attn.W_K"] = checkpoint["model"]["attn_blocks.0.attn.W_Q"]
    torch.save(checkpoint, final)
    code, message = run_main(capsys, [str(folder), "-o", output, "--circuits", LAYOUT_KEYS["progress-measures"]])
    assert code == 1 and f"{final}: key 'attn_blocks.1.attn.W_V' has shape (4, 5, 12), but (4, 4, 12) in" in message
    for path in folder.iterdir():  # the same wrong shape in every checkpoint: W_V and W_O do not fit
        torch.save(checkpoint, path)
    code, message = run_main(capsys, [str(folder), "-o", output, "--circuits", LAYOUT_KEYS["progress-measures"]])
    assert code == 1 and "W_V (4, 5, 12), W_O (12, 16): W_O does not fit the others in the progress-measures" in message


def test_nothing_to_measure_is_an_error(checkpoints, tmp_path, capsys):
    folder, _ = checkpoints
    code, message = run_main(capsys, [str(folder), "-o", str(tmp_path / "m.csv")])
    assert code == 1 and "nothing to measure" in message
