"""The online monitor (icl_dynamics.measures.monitor): causal measures in a plain PyTorch loop, bounded
memory, replay of a stored stack, planted alarms, the trailing curvature, and the docs/monitor.md example."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.measures.alarm import MONITOR_DEFAULTS, AlarmRule, monitor_settings
from icl_dynamics.measures.causal import (
    causal_circuit_measures,
    kept_checkpoints,
    trailing_autocorrelation_curvature,
)
from icl_dynamics.measures.curvature import autocorrelation_curvature
from icl_dynamics.measures.monitor import TrainingMonitor, head_weights, replay_monitor
from icl_dynamics.measures.summary import TABLE_COLUMNS
from icl_dynamics.models import HEAD_WEIGHTS
from icl_dynamics.models.attention_only import AttentionOnlyConfig, AttentionOnlyTransformer

CAUSAL = {"trailing_subspace_distance", "relative_speed", "effective_rank_rate", "marginal_effective_rank_k1_rate",
          "marginal_effective_rank_k2_rate"}
LAG, C = MONITOR_DEFAULTS["lag"], MONITOR_DEFAULTS["consecutive"]


def tiny_model(seed: int = 0, layers: int = 2) -> AttentionOnlyTransformer:
    torch.manual_seed(seed)
    return AttentionOnlyTransformer(AttentionOnlyConfig(n_layers=layers, d_model=16, n_heads=2, d_head=4, n_ctx=8,
                                                        n_outputs=12, vocab_size=12, layer_norm="pre",
                                                        positional="learned", init_std=0.02))


def train_with_monitors(steps: int, monitors: list[TrainingMonitor]):
    """A plain loop (Adam on random next-token data); every step feeds each monitor. Returns the rows each
    monitor returned, the stored head-weight stack and the loss curve."""
    torch.set_num_threads(1)
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    rows = [[] for _ in monitors]
    stack = {"step": [], **{name: [] for name in HEAD_WEIGHTS}}
    losses = []
    for step in range(1, steps + 1):
        tokens = torch.randint(0, 12, (8, 8), generator=g)
        loss = torch.nn.functional.cross_entropy(model(tokens)[:, :-1].reshape(-1, 12), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        for monitor, out in zip(monitors, rows):
            out.append(monitor.observe_loss(step, losses[-1]))
            out.append(monitor.update(model, step))
        stack["step"].append(step)
        for name, value in model.head_weights().items():
            stack[name].append(value.numpy())
    stack = {name: np.stack(values) if name != "step" else np.array(values) for name, values in stack.items()}
    return rows, stack, (np.arange(1, steps + 1), np.array(losses))


def test_monitor_records_causal_measures_in_a_plain_loop():
    every = TrainingMonitor(min_spacing_decades=0.0)
    spaced = TrainingMonitor()
    rows, _, _ = train_with_monitors(40, [every, spaced])
    updates = [r for r in rows[0][1::2]]  # the update() results (observe_loss results are interleaved)
    for step, table in enumerate(updates, start=1):
        if step <= LAG:
            assert table.empty
            continue
        assert list(table.columns) == TABLE_COLUMNS and set(table["step"]) == {step}
        qk = table[table["series"] == "QK"]
        assert CAUSAL <= set(qk["measure"]) and set(table["series"]) == {"QK", "OV", "monitor"}
        # 2 layers x 2 heads, 2 layer means, 1 overall mean per measure and circuit
        assert len(qk[qk["measure"] == "relative_speed"]) == 7
        causal = table[table["measure"].isin(CAUSAL | {"monitor_statistic"})]
        assert np.isfinite(causal["value"]).all()
        assert np.isfinite(table[table["measure"] == "alarm_score"]["value"]).all() == (step > LAG + 1)
    kept = [s for s, t in enumerate(rows[1][1::2], start=1) if not t.empty]
    expected = [int(s) for s in np.arange(1, 41)[kept_checkpoints(np.arange(1, 41), 0.025)]][LAG:]
    assert kept == expected and kept[0] == LAG + 1 and 23 not in kept  # 22 and 23 share a 0.025-decade bin


def test_memory_is_bounded_after_100_updates():
    monitor = TrainingMonitor(min_spacing_decades=0.0)
    model = tiny_model()
    for step in range(1, 101):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.01)
        monitor.observe_loss(step, 1.0 / step)
        monitor.update(model, step)
        assert len(monitor.buffer) <= LAG + 1
    assert len(monitor.buffer) == LAG + 1
    assert all(len(h) <= MONITOR_DEFAULTS["window"] for h in monitor.rule.history.values())
    assert len(monitor.losses) == monitor.settings["curvature_window"]
    assert [step for step, _ in monitor.buffer] == [97, 98, 99, 100]


def test_replay_of_the_stored_stack_gives_the_online_rows():
    monitor = TrainingMonitor(min_spacing_decades=0.01)
    rows, stack, losses = train_with_monitors(60, [monitor])
    online = pd.concat([r for r in rows[0] if len(r)], ignore_index=True)
    replayed, again = replay_monitor(stack, losses=losses, min_spacing_decades=0.01)
    pd.testing.assert_frame_equal(online, replayed)
    assert again.alarms == monitor.alarms
    # the vectorised offline measures agree with the monitor's rows
    steps, measures, statistic = causal_circuit_measures(stack, LAG, 0.01)
    head = online[(online["series"] == "OV") & (online["layer"] == 1) & (online["head"] == 0)]
    speed = head[head["measure"] == "relative_speed"]
    np.testing.assert_array_equal(speed["step"], steps)
    np.testing.assert_allclose(speed["value"], measures["OV"]["relative_speed"][:, 1, 0], rtol=1e-10)
    pooled = online[(online["series"] == "QK") & (online["measure"] == "monitor_statistic")]["value"]
    np.testing.assert_allclose(pooled, statistic["QK"], rtol=1e-10)


def test_layouts_and_key_templates_give_the_same_rows():
    model = tiny_model(layers=2)
    w = {name: value.numpy() for name, value in model.head_weights().items()}
    tl = {f"blocks.{l}.attn.{name}": w[name][l] for l in range(2) for name in HEAD_WEIGHTS}
    pm = {f"attn_blocks.{l}.attn.{name}": np.swapaxes(w[name][l], -1, -2)
          for l in range(2) for name in HEAD_WEIGHTS[:3]}
    pm.update({f"attn_blocks.{l}.attn.W_O": w["W_O"][l].reshape(-1, 16).T for l in range(2)})
    expected, layered = head_weights(model)
    assert layered
    for source, template in ((w, None), (tl, None), (pm, "attn_blocks.{layer}.attn.{W}")):
        got, got_layered = head_weights(source, template)
        assert got_layered
        for name in HEAD_WEIGHTS:
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-7)
    # a module without head_weights() whose state_dict has TransformerLens keys (its b_Q etc. are ignored)
    blocks = torch.nn.ModuleList()
    for l in range(2):
        attn = torch.nn.Module()
        for name in HEAD_WEIGHTS:
            attn.register_parameter(name, torch.nn.Parameter(torch.from_numpy(w[name][l].copy())))
        attn.register_parameter("b_Q", torch.nn.Parameter(torch.zeros(2, 4)))
        block = torch.nn.Module()
        block.attn = attn
        blocks.append(block)
    tl_module = torch.nn.Module()
    tl_module.blocks = blocks
    rows = TrainingMonitor(min_spacing_decades=0.0).update(tl_module, 1)
    assert rows.empty  # the first kept checkpoint only fills the buffer
    got, _ = head_weights(tl_module)
    np.testing.assert_allclose(got["W_O"], expected["W_O"], rtol=0, atol=1e-7)
    grok = {name: w[name][0] for name in HEAD_WEIGHTS}  # a one-module state dict (the grokking model's keys)
    got, got_layered = head_weights({**grok, "W_E": np.zeros((3, 16))})
    assert not got_layered and got["W_Q"].shape == (2, 16, 4)


def planted_stack(kind: str, seed: int = 0, jitter: float = 1e-3):
    """Checkpoints at 40 log-spaced steps per decade, 1 to 10^4, of a 2-layer, 2-head model whose weights
    follow ``kind``: ``step`` (a jump at step 1000), ``linear`` (A + (t / 10^4) B: constant speed per step)
    or ``log`` (A + log10(t) / 4 B: constant speed per decade); each checkpoint gets an independent relative
    jitter."""
    rng = np.random.default_rng(seed)
    steps = np.unique(np.round(np.geomspace(1, 1e4, 161)).astype(int))
    shapes = {"W_Q": (2, 2, 16, 4), "W_K": (2, 2, 16, 4), "W_V": (2, 2, 16, 4), "W_O": (2, 2, 4, 16)}
    A = {n: rng.normal(size=s) for n, s in shapes.items()}
    B = {n: rng.normal(size=s) for n, s in shapes.items()}
    t = steps.astype(float)[:, None, None, None, None]
    path = {"step": (t >= 1000) * 1.0, "linear": t / 1e4, "log": np.log10(t) / 4}[kind]
    stack = {n: A[n] + path * B[n] + jitter * rng.normal(size=(len(steps), *shapes[n])) for n in shapes}
    return {"step": steps, **stack}


def test_an_abrupt_change_raises_the_alarm_there():
    stack = planted_stack("step")
    fired = []
    _, monitor = replay_monitor(stack, on_alarm=lambda step, m: fired.append(step))
    kept = stack["step"][kept_checkpoints(stack["step"], MONITOR_DEFAULTS["min_spacing_decades"])]
    first_after = int(np.nonzero(kept >= 1000)[0][0])
    assert monitor.alarms == fired and len(fired) == 1
    assert kept[first_after] <= fired[0] <= kept[first_after + C - 1]


@pytest.mark.parametrize("kind, jitter", [("linear", 0.0), ("log", 0.0), ("log", 1e-3)])
def test_smooth_drift_never_raises_the_alarm(kind, jitter):
    table, monitor = replay_monitor(planted_stack(kind, jitter=jitter))
    assert monitor.alarms == []
    assert table[table["measure"] == "alarm"]["value"].sum() == 0
    scores = table[table["measure"] == "alarm_score"]["value"]
    assert len(scores) > 120 and scores.max() > 0  # the rule did run over the whole stack


def test_a_drift_emerging_from_a_noise_floor_alarms_once():
    """A constant-speed drift that overtakes independent jitter: the statistic turns from flat to ~t within
    a fraction of a decade, faster than any steady power up to t^1.4, so the rule fires, once
    (docs/science.md, "Online monitor": found on planted data)."""
    _, monitor = replay_monitor(planted_stack("linear", jitter=1e-3))
    assert len(monitor.alarms) == 1 and 100 < monitor.alarms[0] < 1000


def test_rule_needs_consecutive_exceedances_and_rearms():
    rule = AlarmRule(window_decades=1.0, window=10, burn_in=3, threshold_mads=6.0, consecutive=3, mad_floor=0.01)
    values = [1.0] * 6 + [5.0, 5.0, 1.0, 5.0, 5.0, 5.0] + [1.0] * 12 + [9.0] * 3
    fired = [rule.update({"QK": v}, 0.01 * i)[2] for i, v in enumerate(values)]
    assert [i for i, f in enumerate(fired) if f] == [11, 26]  # 2 in a row do not fire; 3 do, once per excursion
    with pytest.raises(ValueError, match="lag"):
        monitor_settings(lag=0)
    with pytest.raises(ValueError, match="unknown"):
        monitor_settings(threshold=3)


def test_steps_must_increase():
    monitor = TrainingMonitor()
    monitor.update(tiny_model(), 5)
    with pytest.raises(ValueError, match="does not follow"):
        monitor.update(tiny_model(), 5)


def test_trailing_curvature_uses_no_future_value():
    rng = np.random.default_rng(0)
    loss = np.exp(-np.linspace(0, 3, 50)) + 0.01 * rng.normal(size=50)
    w = 10
    c = trailing_autocorrelation_curvature(loss, w)
    assert c.shape == loss.shape and np.isnan(c[: w - 1]).all()
    np.testing.assert_array_equal(c[w - 1:], autocorrelation_curvature(loss, w))  # same estimator, at the window end
    for later in (w, 25, 49):
        changed = loss.copy()
        changed[later] += 1.0
        c2 = trailing_autocorrelation_curvature(changed, w)
        np.testing.assert_array_equal(c2[:later], c[:later])
        assert c2[later] != c[later]
    monitor = TrainingMonitor()
    online = [monitor.observe_loss(step, value) for step, value in enumerate(loss, start=1)]
    values = [r["value"].item() for r in online if len(r)]
    np.testing.assert_allclose(values, c[w - 1:], rtol=1e-12)


def test_the_docs_example_runs_as_written(capsys):
    text = (Path(__file__).resolve().parents[1] / "docs" / "monitor.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1 and 10 <= len(blocks[0].strip().splitlines()) <= 16
    torch.set_num_threads(1)
    namespace: dict = {}
    exec(compile(blocks[0], "docs/monitor.md", "exec"), namespace)
    table = namespace["table"]
    assert list(table.columns) == TABLE_COLUMNS and {"QK", "OV", "monitor"} <= set(table["series"])


def test_the_readme_example_runs_as_written(capsys):
    """README.md, section 'Watch your own training': its one example runs as written and the monitor it
    attaches keeps and measures checkpoints."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Watch your own training\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    torch.set_num_threads(1)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    monitor = namespace["monitor"]
    assert monitor.buffer and monitor.rule.index >= MONITOR_DEFAULTS["burn_in"]
    assert "alarms at steps" in capsys.readouterr().out
