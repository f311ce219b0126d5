"""Tests of the grokking experiment: data split, fast forward pass, resume, divergence, events, claims."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import icl_dynamics.experiments.grokking.run as grokking
from icl_dynamics.experiments.grokking.claims import grokking_rows
from icl_dynamics.data.modular import all_pairs, modular_addition_split
from icl_dynamics.experiments.grokking.measures import grokking_events
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer, cross_entropy_float64
from icl_dynamics.experiments.grokking.run import evaluate, train_grokking_run
from icl_dynamics.training.errors import DivergenceError

TINY = {"task": {"p": 7, "train_fraction": 0.5}, "model": {"d_model": 16, "n_heads": 2, "d_head": 4, "d_mlp": 24},
        "train": {"steps": 60, "checkpoint_every": 20}, "runtime": {"state_every": 25, "log_every": 20}}


def train_grokking(section, seed, **kwargs):
    """Metrics and checkpoints of a run, its state discarded (as the workflow does after writing them)."""
    metrics, checkpoints, result = train_grokking_run(section, seed, **kwargs)
    result.discard_state()
    return metrics, checkpoints


def test_all_pairs_inputs_and_labels():
    x, y = all_pairs(5)
    assert x.shape == (25, 3) and y.shape == (25,)
    assert x[:, 2].eq(5).all()  # "=" is token p
    assert x[7].tolist() == [1, 2, 5] and y[7].item() == 3
    assert x[24].tolist() == [4, 4, 5] and y[24].item() == 3  # (4 + 4) mod 5


def test_split_sizes_disjoint_and_deterministic():
    split = modular_addition_split(11, 0.3, seed=4)
    assert split.train_x.shape == (36, 3) and split.test_x.shape == (85, 3)  # round(0.3 * 121) = 36
    pairs = {tuple(r) for r in torch.cat([split.train_x, split.test_x])[:, :2].tolist()}
    assert len(pairs) == 121  # every pair exactly once
    assert torch.equal((split.train_x[:, 0] + split.train_x[:, 1]) % 11, split.train_y)
    again = modular_addition_split(11, 0.3, seed=4)
    assert torch.equal(split.train_x, again.train_x) and torch.equal(split.test_y, again.test_y)
    other = modular_addition_split(11, 0.3, seed=5)
    assert not torch.equal(split.train_x, other.train_x)


def test_fast_forward_equals_full_sequence_model():
    torch.manual_seed(0)
    model = GrokkingTransformer(GrokkingModelConfig(p=13, d_model=32, n_heads=4, d_head=8, d_mlp=40)).double()
    x, _ = all_pairs(13)
    fast = model(x)
    full = model.forward_full(x)
    assert fast.shape == (169, 13) and full.shape == (169, 3, 13)
    torch.testing.assert_close(fast, full[:, -1], rtol=0, atol=1e-12)
    # the causal mask matters: position 0 of the full pass sees only token a
    only_a = model.forward_full(x[:, :1])[:, 0]
    torch.testing.assert_close(full[:, 0], only_a, rtol=0, atol=1e-12)


def test_float64_cross_entropy_resolves_tiny_losses():
    logits = torch.tensor([[30.0, 0.0, 0.0]])
    loss = cross_entropy_float64(logits, torch.tensor([0]))
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(2 * torch.exp(torch.tensor(-30.0, dtype=torch.float64)).item(), rel=1e-6)


def test_training_records_and_checkpoint_shapes():
    metrics, ckpt = train_grokking(TINY, seed=1, device="cpu")
    assert metrics.step.tolist() == [0, 20, 40, 60]
    assert set(metrics.columns) >= {"seed", "train_loss", "test_loss", "train_acc", "test_acc", "param_norm"}
    assert metrics.train_loss.iloc[-1] < metrics.train_loss.iloc[0]
    assert ckpt["W_Q"].shape == (4, 1, 2, 16, 4) and ckpt["W_O"].shape == (4, 1, 2, 4, 16)  # steps, layers, heads
    assert ckpt["W_V"].dtype == torch.float32


def test_resume_gives_the_same_final_checkpoint(tmp_path, monkeypatch):
    reference_metrics, reference = train_grokking(TINY, seed=2, device="cpu")

    # kill the run after its state at epoch 25 was written: fail in the evaluation at epoch 40
    # (two evaluations per checkpoint: epochs 0 and 20 make four calls, the fifth is at epoch 40)
    calls = []

    def failing_evaluate(model, x, y):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return evaluate(model, x, y)

    monkeypatch.setattr(grokking, "evaluate", failing_evaluate)
    with pytest.raises(KeyboardInterrupt):
        train_grokking_run(TINY, seed=2, state_dir=tmp_path, device="cpu")
    monkeypatch.undo()
    assert torch.load(tmp_path / "state.pt", weights_only=False)["step"] == 25

    metrics, resumed = train_grokking(TINY, seed=2, state_dir=tmp_path, device="cpu")
    for name in reference:
        assert torch.equal(resumed[name], reference[name]), name
    assert metrics.equals(reference_metrics)


def test_diverging_learning_rate_names_run_step_and_lr():
    bad = {**TINY, "optimizer": {"lr": 1e3, "warmup_steps": 1, "weight_decay": 0.0},
           "runtime": {"divergence_factor": 10.0}}
    with pytest.raises(DivergenceError, match=r"run grokking seed 0 diverged at step \d+ with learning rate 1e\+03"):
        train_grokking(bad, seed=0, device="cpu")


def _synthetic_seed(seed, mem_at, grok_at, fall_at):
    """Metrics and an OV distance table with sharp steps at known epochs (checkpoints every 50)."""
    epochs = np.arange(0, 5001, 50)
    metrics = pd.DataFrame({"seed": seed, "step": epochs,
                            "train_acc": np.where(epochs >= mem_at, 1.0, 0.5),
                            "test_acc": np.where(epochs >= grok_at, 0.99, 0.1),
                            "test_loss": np.where(epochs >= grok_at, 1e-6, 5.0),
                            "train_loss": np.where(epochs >= mem_at, 1e-6, 4.0),
                            "param_norm": 30.0 - epochs / 1000})
    distance = 0.9 / (1 + (np.maximum(epochs, 1) / fall_at) ** 8)  # falls by half at fall_at
    circuits = pd.DataFrame({"seed": seed, "step": np.repeat(epochs, 2), "series": "OV", "layer": 0,
                             "head": np.tile([0, 1], len(epochs)),
                             "measure": "subspace_distance", "value": np.repeat(distance, 2)})
    qk = circuits.assign(series="QK")
    return metrics, pd.concat([circuits, qk], ignore_index=True)


TRANSITION = dict(low_fraction=0.1, high_fraction=0.9, min_relative_change=0.5, min_signal_to_noise=5.0,
                  max_width_decades=2.0, smoothing=1)


def test_events_are_detected_at_their_epochs():
    metrics, circuits = _synthetic_seed(3, mem_at=200, grok_at=2000, fall_at=1800)
    events = grokking_events(metrics, circuits, 0.99, 0.95, TRANSITION).set_index("event")
    assert events.loc["memorisation", "middle"] == 200
    assert events.loc["grokking", "middle"] == 2000
    assert events.loc["OV_stabilisation", "middle"] == pytest.approx(1800, rel=0.03)
    assert events.loc["OV_stabilisation", "start"] < 1800 < events.loc["OV_stabilisation", "end"]
    assert 1950 <= events.loc["test_loss_fall", "middle"] <= 2000  # a step between 1950 and 2000


def _events(rows):
    return pd.DataFrame([(s, e, np.nan, t, np.nan) for s, d in rows.items() for e, t in d.items()],
                        columns=["seed", "event", "start", "middle", "end"])


def test_claim_rows_known_verdicts():
    thresholds = {"grokking_ratio": 3.0, "stabilisation_offset": 0.5}
    # seed 0: ratio 10, stabilisation 0.1 gaps early; seed 1: ratio 5, 0.25 gaps late
    good = _events({0: {"memorisation": 100, "grokking": 1000, "OV_stabilisation": 910, "QK_stabilisation": 500,
                        "test_loss_fall": 990},
                    1: {"memorisation": 200, "grokking": 1000, "OV_stabilisation": 1200, "QK_stabilisation": 500,
                        "test_loss_fall": 990}})
    g1, g2 = grokking_rows(good, thresholds)
    assert (g1.claim, g1.verdict, g1.value) == ("G1", "reproduced", pytest.approx(5.0))
    assert (g2.claim, g2.verdict, g2.value) == ("G2", "reproduced", pytest.approx(0.25))
    # stabilisation at memorisation in one seed (offset -1), fast "grokking" (ratio 2) in the other
    bad = _events({0: {"memorisation": 100, "grokking": 1000, "OV_stabilisation": 100, "QK_stabilisation": 100,
                       "test_loss_fall": 990},
                   1: {"memorisation": 500, "grokking": 1000, "OV_stabilisation": 300, "QK_stabilisation": 100,
                       "test_loss_fall": 990}})
    g1, g2 = grokking_rows(bad, thresholds)
    assert (g1.verdict, g1.value) == ("partial", pytest.approx(2.0))
    assert (g2.verdict, g2.value) == ("not_reproduced", pytest.approx(1.4))  # seed 1: (300-1000)/500
    # a seed that never groks
    never = _events({0: {"memorisation": 100, "grokking": np.nan, "OV_stabilisation": 100, "QK_stabilisation": 100,
                         "test_loss_fall": np.nan}})
    g1, g2 = grokking_rows(never, thresholds)
    assert g1.verdict == "not_reproduced" and np.isnan(g1.value)
    assert g2.verdict == "not_reproduced"


def test_seed_measures_of_a_tiny_run():
    from icl_dynamics.experiments.grokking.measures import seed_measures
    from icl_dynamics.measures.settings import measures_section

    metrics, checkpoints = train_grokking(TINY, seed=1, device="cpu")
    settings = measures_section({"curvature_window": 2})
    measures, events = seed_measures(metrics, checkpoints, settings,
                                     {"memorisation_acc": 0.99, "grokking_acc": 0.95, "curvature_log_loss": True})
    distance = measures[measures.measure == "subspace_distance"]
    final = distance[distance.step == 60]
    assert len(final) == 2 * TINY["model"]["n_heads"]  # QK and OV, every head
    np.testing.assert_allclose(final.value, 0.0, atol=1e-10)  # the final circuit is its own reference
    assert (distance[distance.step == 0].value > 0.1).all()
    curvature = measures[measures.measure == "autocorrelation_curvature"]
    assert set(curvature.series) == {"train_loss", "test_loss", "param_norm"}
    assert sorted(curvature.step.unique()) == [0, 20, 40]  # windows of 2 checkpoints, placed at their first
    assert list(events.event) == ["memorisation", "grokking", "test_loss_fall", "OV_stabilisation", "QK_stabilisation"]


def test_presets_validate_and_bad_values_name_their_key():
    from icl_dynamics.config import ConfigError, load_config, validate

    root = Path(__file__).resolve().parents[1] / "config"
    for files in ([root / "config.yaml"], [root / "config.yaml", root / "quick.yaml"]):
        section = validate(load_config(*files)["grokking"], "grokking", prefix="grokking")
        assert section["task"]["p"] in (113, 53)
        assert section["optimizer"]["betas"] == [0.9, 0.98]  # a default the presets leave to the schema
    with pytest.raises(ConfigError, match=r"grokking\.task\.train_fraction' = 1\.5"):
        validate({"task": {"train_fraction": 1.5}}, "grokking", prefix="grokking")


def test_figure7_legends_cover_no_curve():
    """Regression: at paper scale the legend in panel (a) covered the train accuracy's rise and the
    memorisation line, and in (f) the norm's band (quick: its curvature); train, test and the event lines
    now share one legend below the panels, and (f) names its two curves on its two axes."""
    from icl_dynamics.experiments.grokking.figures import figure7

    seeds = [_synthetic_seed(seed, mem_at=200, grok_at=2000, fall_at=1800) for seed in (0, 1)]
    metrics = pd.concat([m for m, _ in seeds], ignore_index=True)
    circuits = pd.concat([c for _, c in seeds], ignore_index=True)
    ranks = [circuits.assign(measure=name, value=1.0 + circuits.value) for name in
             ("effective_rank", "marginal_effective_rank_k1")]
    curvature = [circuits[circuits.series == "OV"].assign(series=name, measure="autocorrelation_curvature")
                 for name in ("train_loss", "test_loss", "param_norm")]
    measures = pd.concat([circuits, *ranks, *curvature], ignore_index=True)
    events = grokking_events(metrics, circuits, 0.99, 0.95, TRANSITION)
    fig = figure7(metrics, measures, events)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["train", "test", "memorisation (mean epoch)",
                                                         "grokking (mean epoch)"]
    acc, loss, norm = fig.axes[0], fig.axes[1], fig.axes[5]
    assert acc.get_legend() is None and loss.get_legend() is None and norm.get_legend() is None
    assert norm.get_ylabel() == "parameter norm (solid)"
