"""Tests of the readings of rows N2, N3 and G2 (docs/science.md, section 'Readings the paper leaves open'):
planted answers the primary reading misses and another finds, the shorter training length read from a long
run's checkpoints, and the primary reading equal to the scorecard's row."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.config import ConfigError, load_config, validate
from icl_dynamics.experiments.attention.claims import evaluate_claims
from icl_dynamics.experiments.attention.readings import attention_readings
from icl_dynamics.experiments.attention.readings import check_config as check_attention
from icl_dynamics.experiments.grokking.claims import grokking_rows
from icl_dynamics.experiments.grokking.measures import seed_measures
from icl_dynamics.experiments.grokking.readings import check_config as check_grokking
from icl_dynamics.experiments.grokking.readings import grokking_readings
from icl_dynamics.experiments.readings.figures import FIGURES
from icl_dynamics.experiments.readings.table import enumerate_readings, with_readings_note
from icl_dynamics.experiments.readings.truncation import distance_table
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.measures.summary import circuit_table
from icl_dynamics.scorecard import ClaimRow

REPO = Path(__file__).resolve().parents[1]
SETTINGS = measures_section()
STEPS = np.array([0, 1, 10, 30, 100, 200, 300, 500, 1000, 2000, 3000])
RANKS = ("marginal_effective_rank_k1", "marginal_effective_rank_k2", "effective_rank")


# ---------------------------------------------------------------------------------------- planted runs


def _dip(depth):
    """A rank curve of 4.0 with a minimum 4 (1 - depth) at step 300 (depth < 0: a peak)."""
    return np.where(STEPS == 300, 4.0 * (1 - depth), 4.0)


def planted_attention(layer_dips: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(windows, metrics, measures) of runs (n_layers, seed) -> per-layer dip depth of its two heads' QK
    rank curves (all three rank measures alike); every head's subspace distance halves at step 200, the 2+
    layer runs' windows are [100, 1000] with middle 300, the 1-layer runs have none."""
    rows, metrics, windows = [], [], []
    for (layers, seed), dips in layer_dips.items():
        deep = layers >= 2
        for layer, depth in enumerate(dips):
            for head in (0, 1):
                for measure in RANKS:
                    rows += [(layers, seed, s, "QK", layer, head, measure, v) for s, v in zip(STEPS, _dip(depth))]
                for circuit in ("QK", "OV"):
                    rows += [(layers, seed, s, circuit, layer, head, "subspace_distance", 1 / (1 + (s / 200) ** 4))
                             for s in STEPS]
        icl = np.where(STEPS >= 300, -3.0 if deep else -0.2, 0.0)
        metrics += [{"n_layers": layers, "seed": seed, "step": s, "icl_score": v} for s, v in zip(STEPS, icl)]
        windows.append({"n_layers": layers, "seed": seed, "detected": deep, "start": 100.0 if deep else np.nan,
                        "middle": 300.0 if deep else np.nan, "end": 1000.0 if deep else np.nan,
                        "width_decades": 1.0 if deep else np.nan})
    measures = pd.DataFrame(rows, columns=["n_layers", "seed", "step", "series", "layer", "head", "measure", "value"])
    return pd.DataFrame(windows), pd.DataFrame(metrics), measures


def attention_section(**readings):
    return validate({"readings": {"factors": {"N3": {"reference": ["last"]}}, **readings}}, "attention")


def _by_reading(table, claim):
    return table[table["claim"] == claim].set_index("reading")


def test_per_layer_dip_that_the_all_layer_mean_hides():
    # 2-layer runs: layer 0 dips 15% at step 300 (in the window), layer 1 rises as much, so the all-layer
    # head mean is flat; the 1-layer runs never dip
    planted = {(1, 0): [0.0], (1, 1): [0.0], (2, 0): [0.15, -0.15], (2, 1): [0.15, -0.15]}
    table = attention_readings(*planted_attention(planted), lambda *_: None, attention_section(), SETTINGS)
    n2 = _by_reading(table, "N2")
    assert (n2.loc["primary", "value"], n2.loc["primary", "verdict"]) == (0.0, "not_reproduced")
    assert (n2.loc["aggregation=any_layer (authors)", "value"], n2.loc["aggregation=any_layer (authors)", "verdict"]) \
        == (1.0, "reproduced")
    assert n2.loc["aggregation=first_layer", "verdict"] == "reproduced"
    head = n2.loc["aggregation=head_fraction"]  # half the heads of every 2-layer run dip
    assert (head["value"], head["verdict"], head["passed"], head["scored"]) == (0.5, "partial", 4, 8)
    assert n2.loc["dip_rel=0.1", "verdict"] == "not_reproduced"  # the mean stays flat whatever the depth


def test_strict_ladder_needs_the_one_layer_contrast():
    deeper_shallow = {(1, 0): [0.15], (2, 0): [0.06, 0.06], (2, 1): [0.06, 0.06]}
    n2 = _by_reading(attention_readings(*planted_attention(deeper_shallow), lambda *_: None, attention_section(),
                                        SETTINGS), "N2")
    assert n2.loc["primary", "verdict"] == "partial" and n2.loc["ladder=strict", "verdict"] == "not_reproduced"
    shallower = {(1, 0): [0.03], (2, 0): [0.06, 0.06], (2, 1): [0.06, 0.06]}  # 3% < dip_rel: no 1-layer dip
    n2 = _by_reading(attention_readings(*planted_attention(shallower), lambda *_: None, attention_section(),
                                        SETTINGS), "N2")
    assert n2.loc["primary", "verdict"] == n2.loc["ladder=strict", "verdict"] == "reproduced"


def test_primary_readings_equal_the_scorecard_rows():
    planted = {(1, 0): [0.12], (2, 0): [0.12, 0.0], (2, 1): [0.01, 0.0]}
    windows, metrics, measures = planted_attention(planted)
    section = attention_section()
    rows, _ = evaluate_claims(windows, metrics, measures, section["thresholds"], SETTINGS["marginal_rank_k"])
    table = attention_readings(windows, metrics, measures, lambda *_: None, section, SETTINGS)
    primary = table[table["primary"]].set_index("claim")
    for row in rows[1:]:  # N2, N3
        assert (primary.loc[row.claim, "value"], primary.loc[row.claim, "verdict"]) == (row.value, row.verdict)
    assert rows[1].verdict == "partial"  # one of two 2-layer runs dips, and so does the 1-layer run
    noted = with_readings_note(rows[1], table, "results/readings/attention.csv")
    assert (noted.value, noted.verdict) == (rows[1].value, rows[1].verdict) and noted.note.startswith(rows[1].note)
    assert "partial under" in noted.note and "the primary's verdict (partial) is shared by" in noted.note
    assert with_readings_note(rows[0], table, "x") == rows[0]  # N1 has no readings


# -------------------------------------------------------------------------------- grokking: a late fall


def planted_grokking(seed=0):
    """Metrics and a checkpoint stack of a seed that memorises at epoch 100, groks at 1000 and whose OV
    row space turns by theta(t) = (pi/2) (t - 1000) / 3000 from epoch 1000 to the end (4000), so that its
    subspace distance to the circuit at epoch T is |sin(theta(T) - theta(t))|."""
    epochs = np.arange(0, 4001, 100)
    theta = np.pi / 2 * np.clip((epochs - 1000) / 3000, 0, 1)
    eye = np.eye(6)
    W_O = np.stack([np.cos(t) * eye[:3] + np.sin(t) * eye[3:] for t in theta])  # (T, d_head 3, d_model 6)
    W_V = np.broadcast_to(eye[:, :3], (len(epochs), 6, 3))
    W_Q = np.broadcast_to(np.random.default_rng(1).normal(size=(6, 3)), (len(epochs), 6, 3))
    stack = {"step": epochs, "W_Q": W_Q[:, None, None], "W_K": W_Q[:, None, None], "W_V": W_V[:, None, None],
             "W_O": W_O[:, None, None]}
    metrics = pd.DataFrame({"seed": seed, "step": epochs, "train_acc": np.where(epochs >= 100, 1.0, 0.2),
                            "test_acc": np.where(epochs >= 1000, 0.99, 0.05),
                            "train_loss": np.where(epochs >= 100, 1e-6, 4.0),
                            "test_loss": np.where(epochs >= 1000, 1e-3, 5.0), "param_norm": 30.0 - epochs / 1000})
    return metrics, stack


def grokking_section():
    return validate({"readings": {"factors": {"G2": {"reference": ["last", "epoch_2000", "grokking_x2"]}},
                                  "combinations": {}}}, "grokking")


def test_late_fall_whose_middle_moves_with_the_reference_checkpoint():
    metrics, stack = planted_grokking()
    section = grokking_section()
    measures, events = seed_measures(metrics, stack, SETTINGS, section["events"])
    table = grokking_readings(events, metrics, measures, lambda seed: stack, section, SETTINGS)
    g2 = _by_reading(table, "G2")
    # to the last epoch the distance is 1/2 where theta = pi/3 (epoch 3000); to epoch 2000 (theta = pi/6)
    # it is 1/4 where pi/6 - theta = asin(1/4) (epoch 1517): offsets (t - 1000) / 900 gaps
    assert g2.loc["primary", "value"] == pytest.approx(2000 / 900, rel=0.03)
    assert g2.loc["reference=epoch_2000", "value"] == pytest.approx(517 / 900, rel=0.05)
    assert g2.loc["reference=grokking_x2", "value"] == g2.loc["reference=epoch_2000", "value"]  # grokking at 1000
    assert g2.loc["primary", "verdict"] == "partial"  # after memorisation, beyond the tolerance
    assert g2.loc["stabilisation=half_initial", "value"] == pytest.approx(2000 / 900, rel=0.03)
    assert g2.loc["reference=epoch_2000", "note"].count("grokking 1000") == 1  # the events read again agree
    g2_row = grokking_rows(events, section["thresholds"])[1]
    assert (g2.loc["primary", "value"], g2.loc["primary", "verdict"]) == (g2_row.value, g2_row.verdict)


def test_a_stop_beyond_the_run_is_unavailable():
    metrics, stack = planted_grokking()
    section = validate({"readings": {"combinations": {}}}, "grokking")  # epoch_25000 > 4000
    measures, events = seed_measures(metrics, stack, SETTINGS, section["events"])
    g2 = _by_reading(grokking_readings(events, metrics, measures, lambda seed: stack, section, SETTINGS), "G2")
    assert g2.loc["reference=epoch_25000", "verdict"] == "unavailable"
    assert "ends at 4000 < 25000" in g2.loc["reference=epoch_25000", "note"]


def test_distance_to_the_last_checkpoint_is_the_circuit_tables():
    _, stack = planted_grokking()
    recomputed = distance_table(stack, len(stack["step"]) - 1, SETTINGS, seed=0)
    cached = circuit_table(stack, SETTINGS, seed=0)
    cached = cached[cached["measure"] == "subspace_distance"].reset_index(drop=True)
    pd.testing.assert_frame_equal(recomputed, cached)


# -------------------------------------------------------------------- truncation equals a shorter run


def _same_up_to(short, long, short_metrics, long_metrics):
    common = np.intersect1d(short["step"], long["step"])
    assert common[-1] == short["step"][-1] and len(common) >= 3
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        a = short[name][np.isin(short["step"], common)]
        b = long[name][np.isin(long["step"], common)]
        assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)), name
    pd.testing.assert_frame_equal(short_metrics[short_metrics["step"].isin(common)].reset_index(drop=True),
                                  long_metrics[long_metrics["step"].isin(common)].reset_index(drop=True))


def test_a_grokking_run_stopped_at_T_is_the_first_T_steps_of_a_longer_one():
    from icl_dynamics.experiments.grokking.run import train_grokking_run

    def run(steps):
        section = {"task": {"p": 7, "train_fraction": 0.5}, "model": {"d_model": 16, "n_heads": 2, "d_head": 4,
                   "d_mlp": 24}, "optimizer": {"warmup_steps": 10}, "train": {"steps": steps, "checkpoint_every": 10}}
        metrics, checkpoints, _ = train_grokking_run(section, seed=3, device="cpu")
        return metrics, checkpoints

    (short_metrics, short), (long_metrics, long) = run(40), run(80)
    _same_up_to(short, long, short_metrics, long_metrics)


def test_an_attention_run_stopped_at_T_is_the_first_T_steps_of_a_longer_one():
    from icl_dynamics.experiments.attention.run import train_attention_run

    def run(steps):
        section = {"model": {"d_model": 16, "n_heads": 2, "d_head": 8},
                   "periodic": {"seq_len": 24, "vocab_size": 16, "period_min": 4, "period_max": 10},
                   "train": {"steps": steps, "batch": 8, "eval_batch": 16,
                             "checkpoints": {"n_log": 6, "dense_from": 0, "dense_to": steps, "n_dense": steps // 10 + 1}}}
        metrics, checkpoints, _ = train_attention_run(section, 2, 1, device="cpu")
        return metrics, checkpoints

    (short_metrics, short), (long_metrics, long) = run(40), run(80)
    _same_up_to(short, long, short_metrics, long_metrics)


# ------------------------------------------------------------------------------- config and the table


def test_readings_are_primary_then_one_factor_at_a_time_then_combinations_then_ladders():
    readings = enumerate_readings({"a": [1, 2, 3], "b": ["x", "y"]}, {"both": {"a": 2, "b": "y"}, "same": {"b": "y"}},
                                  ["primary", "strict"])
    assert [r.name for r in readings] == ["primary", "a=2", "a=3", "b=y (same)", "both", "ladder=strict"]
    assert readings[4].factors == {"a": 2, "b": "y"} and readings[-1].ladder == "strict"
    assert [r.is_primary for r in readings] == [True] + [False] * 5


@pytest.mark.parametrize("files", [["config.yaml"], ["config.yaml", "quick.yaml"]])
def test_presets_pass_the_readings_checks(files):
    config = load_config(*(REPO / "config" / f for f in files))
    check_attention(validate(config["attention"], "attention"), config)
    check_grokking(validate(config["grokking"], "grokking"), config)


def test_readings_that_do_not_start_with_the_row_rule_are_refused():
    config = {"measures": {}}
    with pytest.raises(ConfigError, match=r"attention\.readings\.factors\.N2\.dip_rel.*attention\.thresholds\.dip_rel"):
        check_attention(validate({"thresholds": {"dip_rel": 0.1}}, "attention"), config)
    with pytest.raises(ConfigError, match=r"combinations\.authors\.N3\.aggregation' = 'per_head'"):
        check_attention(validate({"readings": {"combinations": {"authors": {"N3": {"aggregation": "per_head"}}}}},
                                 "attention"), config)
    with pytest.raises(ConfigError, match="marginal_effective_rank_k3"):
        check_attention(validate({"readings": {"factors": {"N2": {"measure": [
            "marginal_effective_rank_k1", "marginal_effective_rank_k3"]}}}}, "attention"), config)
    with pytest.raises(ConfigError, match=r"grokking\.readings\.factors\.G2\.tolerance"):
        check_grokking(validate({"thresholds": {"stabilisation_offset": 1.0}}, "grokking"))


def test_figure_marks_the_primary_and_names_every_verdict(tmp_path):
    planted = {(1, 0): [0.0], (2, 0): [0.15, -0.15], (2, 1): [0.15, -0.15]}
    attention = attention_readings(*planted_attention(planted), lambda *_: None, attention_section(), SETTINGS)
    metrics, stack = planted_grokking()
    section = validate({"readings": {"combinations": {}}}, "grokking")
    measures, events = seed_measures(metrics, stack, SETTINGS, section["events"])
    grokking = grokking_readings(events, metrics, measures, lambda seed: stack, section, SETTINGS)
    fig = FIGURES["figS4_readings"](attention, grokking)
    panels = fig.axes
    assert [ax.get_title().split(" ")[0] for ax in panels] == ["N2", "N3", "G2"]
    for ax, claim in zip(panels, ["N2", "N3", "G2"]):
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[0] == "primary" and ax.get_yticklabels()[0].get_fontweight() == "bold"
        assert len(labels) == int((pd.concat([attention, grokking])["claim"] == claim).sum())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"reproduced", "not reproduced", "unavailable (run too short)"} <= set(legend)
    fig.savefig(tmp_path / "s4.png")
