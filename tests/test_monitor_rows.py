"""Rows C7-* (docs/science.md, section 12, "Rows C7"): early, late and false alarms on planted steps, event
leads, the verdict rule, each experiment's events, and a monitor table short of runs refused."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from icl_dynamics.experiments.attention.monitor import attention_monitor_row, window_events
from icl_dynamics.experiments.grokking.monitor import grokking_epochs
from icl_dynamics.experiments.linear.monitor import half_rise_events, seed_stacks
from icl_dynamics.experiments.monitor.figures import monitor_figure
from icl_dynamics.experiments.monitor.replay import replay_runs
from icl_dynamics.experiments.monitor.rows import alarm_kinds, event_leads, monitor_row
from icl_dynamics.measures.circuits import ov_circuit_svd, qk_circuit_svd
from icl_dynamics.measures.settings import measures_section
from icl_dynamics.workflow_io.cached_files import CachedFileError, check_runs

THRESHOLDS = {"monitor_caught_fraction": 0.5, "monitor_false_alarms_per_run": 0.5}
EVENT = 1000.0


def test_an_alarm_0_3_decade_before_the_event_is_early():
    alarm = EVENT / 10**0.3
    assert alarm_kinds([alarm], [EVENT]) == [(alarm, "early", pytest.approx(0.3))]
    (step, lead, early), = event_leads([alarm], [EVENT])
    assert step == EVENT and lead == pytest.approx(0.3) and early


def test_an_alarm_2_decades_early_is_false_and_catches_nothing():
    (_, kind, lead), = alarm_kinds([EVENT / 100], [EVENT])
    assert kind == "false" and lead == pytest.approx(2.0)
    (_, lead, early), = event_leads([EVENT / 100], [EVENT])
    assert math.isnan(lead) and not early


def test_an_alarm_after_the_event_is_late_with_a_negative_lead():
    (_, kind, lead), = alarm_kinds([EVENT * 10**0.5], [EVENT])
    assert kind == "late" and lead == pytest.approx(-0.5)
    (_, lead, early), = event_leads([EVENT * 10**0.5], [EVENT])
    assert lead == pytest.approx(-0.5) and not early
    # too close to act on: 0.02 decade before is late too
    assert alarm_kinds([EVENT / 10**0.02], [EVENT])[0][1] == "late"


def test_alarms_of_a_run_without_events_are_false():
    assert [kind for _, kind, _ in alarm_kinds([10, 100], [])] == ["false", "false"]


def test_each_alarm_belongs_to_the_next_event_only():
    """Two escapes 0.6 decade apart: an alarm 0.2 decade before the second is early for it; the first event
    has only a late lead from it (the first alarm after it)."""
    events = [100.0, 100 * 10**0.6]
    alarm = events[1] / 10**0.2
    leads = event_leads([alarm], events)
    assert leads[0][1] == pytest.approx(-0.4) and not leads[0][2]
    assert leads[1][1] == pytest.approx(0.2) and leads[1][2]
    # the first of two alarms within a decade sets the lead
    assert event_leads([EVENT / 10**0.8, EVENT / 10**0.01], [EVENT])[0][1] == pytest.approx(0.8)


def _row(alarms: dict, events: dict, thresholds=THRESHOLDS):
    runs = [{"seed": seed} for seed in events]
    alarm_table = pd.DataFrame([{"seed": s, "step": a} for s, steps in alarms.items() for a in steps],
                               columns=["seed", "step"])
    event_table = pd.DataFrame([{"seed": s, "event": "grokking", "event_step": e} for s, e in events.items()])
    return monitor_row("C7-test", "test", "a planted event", runs, lambda r: f"seed {r['seed']}", alarm_table,
                       event_table, thresholds)


def test_verdicts_follow_the_rule():
    early = EVENT / 10**0.3
    full = _row({0: [early], 1: [early], 2: [EVENT * 2]}, {0: EVENT, 1: EVENT, 2: EVENT})
    assert full.value == pytest.approx(2 / 3) and full.verdict == "reproduced"
    assert "seed 2: grokking 1000: lead -0.30; alarms 2000 (late)" in full.note
    assert "2 of 3 events caught early; false alarms 0 (allowed 1.5), late alarms 1" in full.note
    # the same catches with two false alarms (more than 0.5 per run): partial
    noisy = _row({0: [early, 5.0], 1: [early, 3.0], 2: []}, {0: EVENT, 1: EVENT, 2: EVENT})
    assert noisy.value == pytest.approx(2 / 3) and noisy.verdict == "partial" and "false alarms 2" in noisy.note
    few = _row({0: [early], 1: [], 2: []}, {0: EVENT, 1: EVENT, 2: EVENT})
    assert few.value == pytest.approx(1 / 3) and few.verdict == "partial"
    late = _row({0: [EVENT * 3]}, {0: EVENT})
    assert late.value == 0 and late.verdict == "not_reproduced"
    none = _row({0: [10.0]}, {0: math.nan})
    assert math.isnan(none.value) and none.verdict == "not_reproduced" and "seed 0: no event" in none.note


def test_attention_events_are_the_deep_runs_detected_window_starts():
    windows = pd.DataFrame({"n_layers": [2, 1, 2], "seed": [0, 0, 1], "detected": [True, True, False],
                            "start": [120.0, 80.0, math.nan]})
    events = window_events(windows)
    assert list(zip(events["n_layers"], events["seed"])) == [(1, 0), (2, 0), (2, 1)]
    assert np.isnan(events["event_step"][0]) and events["event_step"][1] == 120 and np.isnan(events["event_step"][2])


def test_grokking_events_are_the_grokking_epochs():
    events = pd.DataFrame({"seed": [0, 0, 1], "event": ["memorisation", "grokking", "grokking"],
                           "middle": [100.0, 900.0, math.nan]})
    epochs = grokking_epochs(events)
    assert epochs["seed"].tolist() == [0, 1] and epochs["event_step"][0] == 900 and np.isnan(epochs["event_step"][1])


def test_linear_stacks_read_p2q1_as_one_head_and_half_rises_are_per_seed():
    steps = np.arange(0, 101, 10)
    rng = np.random.default_rng(0)
    M = rng.normal(size=(2, len(steps), 3, 3))
    stack = seed_stacks({"steps": steps, "p2q1": M, "seeds": np.array([4, 7])})[7]
    for svd in (qk_circuit_svd(stack["W_Q"], stack["W_K"]), ov_circuit_svd(stack["W_V"], stack["W_O"])):
        np.testing.assert_allclose((svd.U * svd.s[..., None, :]) @ np.swapaxes(svd.V, -1, -2), M[1][:, None, None],
                                   atol=1e-12)
    # seed 4: both modes reach 1 at step 100, fixed points 1: half-rise at 50; seed 7: modes 2 t/100 and
    # 4 t/100, fixed points 2 and 8: half-rises at 50 and 100
    modes = np.stack([np.outer(steps / 100, [1.0, 1.0]), np.outer(steps / 50, [1.0, 2.0])])
    events = half_rise_events("planted", {"steps": steps, "modes_total": modes, "seeds": np.array([4, 7])},
                              {"steps": steps, "fp_exact": np.array([[1.0, 1.0], [2.0, 8.0]])})
    assert events["event"].tolist() == ["mode_1", "mode_2"] * 2
    np.testing.assert_allclose(events["event_step"], [50, 50, 50, 100])


def planted_stack(jump_at: int, steps: np.ndarray, seed: int) -> dict:
    """One layer of two heads, weights fixed with tiny jitter until ``jump_at``, then rotated within a few
    checkpoints (an abrupt change of the circuits)."""
    rng = np.random.default_rng(seed)
    base = {name: rng.normal(size=(1, 2, 6, 3)) for name in ("W_Q", "W_K", "W_V")}
    base["W_O"] = rng.normal(size=(1, 2, 3, 6))
    target = {name: rng.normal(size=value.shape) for name, value in base.items()}
    mix = np.clip((np.log10(steps) - np.log10(jump_at)) / 0.1, 0, 1)
    stack = {"step": steps}
    for name in base:
        jitter = 1e-4 * rng.normal(size=(len(steps), *base[name].shape))
        stack[name] = (1 - mix)[:, None, None, None, None] * base[name] + mix[:, None, None, None, None] * target[name] + jitter
    return stack


def test_replayed_alarms_catch_a_planted_jump_and_a_short_table_is_refused(tmp_path):
    steps = np.unique(np.round(np.geomspace(1, 10**4, 161)).astype(int))
    runs = [{"n_layers": 2, "seed": 0}, {"n_layers": 1, "seed": 0}]
    stacks = {2: planted_stack(500, steps, 0), 1: planted_stack(10**9, steps, 1)}  # the 1-layer run never jumps
    table = replay_runs(runs, lambda run: stacks[run["n_layers"]], measures_section())
    # the event (here a window start) 0.3 decade after the weights start to move
    windows = pd.DataFrame({"n_layers": [2, 1], "seed": [0, 0], "detected": [True, False],
                            "start": [500 * 10**0.3, math.nan]})
    row = attention_monitor_row(table, window_events(windows), runs, THRESHOLDS)
    assert row.value == 1.0 and row.verdict == "reproduced", row.note
    assert "L1 seed 0: no event; alarms none" in row.note
    fig = monitor_figure((table, window_events(windows)),
                         (table.assign(seed=table["n_layers"]).drop(columns="n_layers"),
                          pd.DataFrame({"seed": [2, 1], "event": "grokking", "event_step": [1000.0, math.nan]})),
                         (table.assign(setting="planted", seed=table["n_layers"]).drop(columns="n_layers"),
                          pd.DataFrame({"setting": "planted", "seed": [2, 1], "event": "mode_1",
                                        "event_step": [1000.0, 30.0]})))
    assert len(fig.axes) == 3 and all(ax.get_lines() for ax in fig.axes)
    path = tmp_path / "attention.parquet"
    with pytest.raises(CachedFileError, match=r"attention.parquet: does not hold the configured runs \(missing: "
                                              r"n_layers=1 seed=0\); it is a workflow output"):
        check_runs(table[table["n_layers"] == 2], runs, path)
