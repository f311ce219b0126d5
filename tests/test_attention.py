"""Tests of the attention-only experiment: task data, model, resumable training, ICL scores, claim rules."""

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.experiments.attention.claims import fall_step, in_window, jump_table, rank_dip, sudden_emergence_row
from icl_dynamics.config import validate
from icl_dynamics.data.bursty import BurstySpec, BurstyTask
from icl_dynamics.data.sequences import (
    icl_positions,
    icl_score,
    per_position_loss,
    periodic_sequences,
    prefix_matching_scores,
    repeated_random_tokens,
)
from icl_dynamics.models.attention_only import AttentionOnlyConfig, AttentionOnlyTransformer
from icl_dynamics.experiments.attention.ablation_figures import figS2
from icl_dynamics.experiments.attention.run import train_attention_run

# ------------------------------------------------------------------------------------------------- data


def test_repeated_random_tokens_repeat():
    x = repeated_random_tokens(5, 7, 11, torch.Generator().manual_seed(0))
    assert x.shape == (5, 14)
    assert torch.equal(x[:, 7:], x[:, :7])


def test_periodic_sequences_have_a_period_in_range():
    lo, hi, T = 5, 12, 40
    x = periodic_sequences(200, T, 50, lo, hi, torch.Generator().manual_seed(1))
    periods = set()
    for row in x:
        valid = [p for p in range(1, T) if torch.equal(row[p:], row[:-p])]
        # The segment is random, so its smallest period is the drawn one (a shorter one is vanishingly rare).
        assert lo <= valid[0] <= hi
        periods.add(valid[0])
    assert periods == set(range(lo, hi + 1))


def _nearest_class(task: BurstyTask, content: torch.Tensor) -> torch.Tensor:
    return torch.cdist(content, task.class_means).argmin(dim=-1)


def _nearest_label(task: BurstyTask, content: torch.Tensor) -> torch.Tensor:
    return torch.cdist(content, task.label_vectors).argmin(dim=-1)


@pytest.fixture(scope="module")
def bursty():
    spec = BurstySpec(n_classes=64, n_labels=16, n_items=8, content_dim=63, position_width=65, eps=0.1,
                      burstiness=4, p_bursty=1.0, zipf_alpha=0.0, position_shift=True)
    return BurstyTask(spec, torch.Generator().manual_seed(0))


def test_bursty_shapes_positions_and_burstiness(bursty):
    s = bursty.spec
    x, y = bursty.sample_train(100, torch.Generator().manual_seed(1))
    assert x.shape == (100, 17, 63 + 65) and y.shape == (100,)
    position = x[..., s.content_dim:]
    assert torch.equal(position.sum(-1), torch.ones(100, 17))
    index = position.argmax(-1)
    assert torch.equal(index - index[:, :1], torch.arange(17).expand(100, 17))  # consecutive positions
    assert len(set(index[:, 0].tolist())) > 1  # random shift
    items = _nearest_class(bursty, x[:, 0:-1:2, : s.content_dim])
    query = _nearest_class(bursty, x[:, -1, : s.content_dim])
    for row, q in zip(items, query):
        counts = torch.bincount(row)
        assert set(counts[counts > 0].tolist()) == {4}  # N / B = 2 classes, B = 4 items each
        assert q in row
    assert torch.equal(y, bursty.class_labels[query])
    labels = _nearest_label(bursty, x[:, 1:-1:2, : s.content_dim])
    assert torch.equal(labels, bursty.class_labels[items])


def test_bursty_test_sets(bursty):
    s = bursty.spec
    g = torch.Generator().manual_seed(2)
    x, y = bursty.sample_test("flipped", 200, g)
    query = _nearest_class(bursty, x[:, -1, : s.content_dim])
    labels = _nearest_label(bursty, x[:, 1:-1:2, : s.content_dim])
    items = _nearest_class(bursty, x[:, 0:-1:2, : s.content_dim])
    assert (y != bursty.class_labels[query]).all()  # every label moved away from the trained one
    assert torch.equal(labels[items == query[:, None]], y.repeat_interleave(4))  # target = in-context label

    x, y = bursty.sample_test("in_weights", 200, g)
    query = _nearest_class(bursty, x[:, -1, : s.content_dim])
    items = _nearest_class(bursty, x[:, 0:-1:2, : s.content_dim])
    assert torch.equal(y, bursty.class_labels[query])
    assert (items != query[:, None]).all()

    x, y = bursty.sample_test("in_context", 200, g)
    labels = _nearest_label(bursty, x[:, 1:-1:2, : s.content_dim])
    context = x[:, 0:-1:2, : s.content_dim]
    nearest_item = torch.cdist(x[:, -1:, : s.content_dim], context).argmin(-1).squeeze(1)
    assert torch.equal(y, labels[torch.arange(200), nearest_item])  # query's class is in context with label y
    assert (torch.cdist(x[:, -1, : s.content_dim], bursty.class_means).min(-1).values > 0.5).all()  # novel classes


# ------------------------------------------------------------------------------------------------ model


def _model(layers=2, layer_norm="none", positional="learned"):
    torch.manual_seed(0)
    cfg = AttentionOnlyConfig(n_layers=layers, d_model=16, n_heads=4, d_head=4, n_ctx=12, n_outputs=10,
                              vocab_size=10, layer_norm=layer_norm, positional=positional, init_std=0.5)
    return AttentionOnlyTransformer(cfg)


@pytest.mark.parametrize("layer_norm", ["none", "pre"])
def test_model_is_causal(layer_norm):
    model = _model(layers=3, layer_norm=layer_norm)
    x = torch.randint(0, 10, (3, 12), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[:, 7] = (x[:, 7] + 1) % 10
    a, b = model(x), model(y)
    assert torch.allclose(a[:, :7], b[:, :7], atol=0, rtol=0)
    assert not torch.allclose(a[:, 7], b[:, 7])


def test_per_head_layer_equals_fused_attention():
    """Both forward paths (explicit pattern, and torch's fused kernel used in training) equal multi-head
    attention written with fused weight matrices."""
    model = _model(layers=1)
    layer = model.layers[0]
    x = torch.randn(2, 12, 16)
    out, pattern = layer(x, return_pattern=True)
    fast, no_pattern = layer(x)
    assert no_pattern is None
    heads, d, e = layer.W_Q.shape
    # Fused weights: heads side by side, (d_model, heads * d_head) and (heads * d_head, d_model).
    fused = {n: getattr(layer, n).permute(1, 0, 2).reshape(d, heads * e) for n in ("W_Q", "W_K", "W_V")}
    W_O = layer.W_O.reshape(heads * e, d)

    def split(t):
        return t.view(2, 12, heads, e).transpose(1, 2)

    q, k, v = (split(x @ fused[n]) for n in ("W_Q", "W_K", "W_V"))
    z = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = x + z.transpose(1, 2).reshape(2, 12, heads * e) @ W_O
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(fast, expected, atol=1e-5)
    assert torch.allclose(pattern.sum(-1), torch.ones(2, heads, 12), atol=1e-6)


def test_circuits_are_products_of_head_weights():
    model = _model(layers=2)
    qk, ov = model.QK, model.OV
    assert qk.shape == ov.shape == (2, 4, 16, 16)
    layer = model.layers[1]
    assert torch.allclose(qk[1, 2], layer.W_Q[2] @ layer.W_K[2].T)
    assert torch.allclose(ov[1, 3], layer.W_V[3] @ layer.W_O[3])
    assert torch.linalg.matrix_rank(qk[0, 0]) == 4  # rank d_head


# -------------------------------------------------------------------------------------------- scores


def test_olsson_positions():
    assert icl_positions(512, 50 / 512, 500 / 512) == (50, 500)


def test_icl_score_of_a_planted_perfect_copy_predictor():
    V, n, margin = 20, 10, 6.0
    x = repeated_random_tokens(64, n, V, torch.Generator().manual_seed(3))
    logits = torch.zeros(64, 2 * n, V)
    for t in range(n - 1, 2 * n - 1):  # the next token x[t+1] = x[t+1-n] is in the context
        logits[torch.arange(64), t, x[:, t + 1]] = margin
    loss = per_position_loss(logits, x)
    copy_loss = math.log(1 + (V - 1) * math.exp(-margin))
    assert torch.allclose(loss[: n - 1], torch.full((n - 1,), math.log(V)), atol=1e-5)
    assert torch.allclose(loss[n - 1 :], torch.full((n,), copy_loss), atol=1e-5)
    assert icl_score(loss, 3, 2 * n - 2) == pytest.approx(copy_loss - math.log(V), abs=1e-5)


def test_prefix_matching_of_planted_patterns():
    n, T = 6, 12
    induction = torch.zeros(1, 2, 1, T, T)
    for q in range(T):
        induction[..., q, q - n + 1 if q >= n else q] = 1.0
    uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    scores = prefix_matching_scores(torch.cat([induction, uniform.expand(1, 2, 1, T, T)], dim=2), n)
    assert scores.shape == (1, 2)
    assert scores[0, 0] == pytest.approx(1.0)
    assert scores[0, 1] == pytest.approx(sum(1 / (q + 1) for q in range(n, T)) / n)


def _direct_forward(model: AttentionOnlyTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The model's logits written out from its equations, head by head, without its code paths."""
    cfg = model.cfg

    def norm(x, layer_norm_module):
        if cfg.layer_norm == "none":
            return x
        centred = x - x.mean(-1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + layer_norm_module.eps) \
            * layer_norm_module.weight + layer_norm_module.bias

    seq = tokens.shape[1]
    pos = model.W_pos[:seq] if cfg.positional != "none" else torch.zeros(seq, cfg.d_model)
    x = model.W_E[tokens] + (pos if cfg.positional == "learned" else 0.0)
    causal = torch.tril(torch.ones(seq, seq, dtype=torch.bool))
    for layer in model.layers:
        n = norm(x, layer.norm)
        qk_input = n + pos if cfg.positional == "shortformer" else n
        out = torch.zeros_like(x)
        for h in range(cfg.n_heads):
            scores = (qk_input @ layer.W_Q[h]) @ (qk_input @ layer.W_K[h]).transpose(-1, -2) / math.sqrt(cfg.d_head)
            pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
            out = out + pattern @ (n @ layer.W_V[h]) @ layer.W_O[h]
        x = x + out
    return norm(x, model.final_norm) @ model.W_U


@pytest.mark.parametrize("layer_norm", ["none", "pre"])
@pytest.mark.parametrize("positional", ["learned", "shortformer", "none"])
def test_every_variant_equals_its_direct_computation(layer_norm, positional):
    model = _model(layers=2, layer_norm=layer_norm, positional=positional).double()
    with torch.no_grad():  # LayerNorm gains and biases away from 1 and 0, so they are exercised
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    x = torch.randint(0, 10, (3, 12), generator=torch.Generator().manual_seed(1))
    expected = _direct_forward(model, x)
    torch.testing.assert_close(model(x), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(model(x, return_attention=True)[0], expected, rtol=1e-10, atol=1e-10)


def test_shortformer_keeps_positions_out_of_the_residual_stream():
    """With values blind to position, a token's logits can depend on position only through the pattern:
    a one-layer shortformer model with a single token repeated gives the same logits at every position."""
    model = _model(layers=1, positional="shortformer")
    same = torch.full((1, 12), 3)
    logits = model(same)[0]
    torch.testing.assert_close(logits, logits[:1].expand_as(logits), rtol=1e-5, atol=1e-6)
    learned = _model(layers=1, positional="learned")(same)[0]
    assert (learned - learned[:1]).abs().max() > 1e-2  # learned positions do enter the residual stream


def test_pre_layer_norm_normalises_each_layer_input():
    model = _model(layers=2, layer_norm="pre")
    seen = []
    model.layers[1].norm.register_forward_hook(lambda module, inputs, output: seen.append(output.detach()))
    with torch.no_grad():
        model.layers[1].norm.weight.fill_(1.0)
        model.layers[1].norm.bias.zero_()
    model(torch.randint(0, 10, (2, 12), generator=torch.Generator().manual_seed(2)))
    n = seen[0]
    torch.testing.assert_close(n.mean(-1), torch.zeros(2, 12), rtol=0, atol=1e-5)
    torch.testing.assert_close(n.var(-1, unbiased=False), torch.ones(2, 12), rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------------------- claim rules


def test_jump_rule_needs_a_large_share_of_the_fall_in_half_a_decade():
    steps = np.array([0, 1, 10, 100, 200, 400, 1000, 10000], dtype=float)
    curves = {  # ICL score per run
        (2, 0): [0, 0, -0.1, -0.2, -2.8, -3.0, -3.2, -3.4],   # 2.6 nats between steps 100 and 200: a jump
        (2, 1): [0, 0, -0.5, -1.0, -1.2, -1.45, -2.0, -3.0],  # 3 nats over 3 decades, <= 1 per half decade
        (2, 2): [0, 0, -0.5, -1.5, -2.0, -2.2, -4.0, -5.0],   # 1.0-1.8 nats per half decade of a 5-nat fall
        (1, 0): [0, 0, -0.1, -0.3, -0.6, -0.7, -0.8, -0.85],  # too small a fall to count
    }
    metrics = pd.DataFrame([{"n_layers": l, "seed": s, "step": st, "icl_score": v}
                            for (l, s), values in curves.items() for st, v in zip(steps, values)])
    windows = pd.DataFrame([{"n_layers": l, "seed": s, "detected": True, "start": 100.0, "end": 400.0,
                             "width_decades": 0.6} for l, s in curves])
    thresholds = {"min_jump": 1.0, "max_jump_decades": 0.5, "min_jump_fraction": 0.5}
    runs = jump_table(windows, metrics, thresholds).set_index(["n_layers", "seed"])
    assert runs.loc[(2, 0), "steepest_fall"] == pytest.approx(2.6) and runs.loc[(2, 0), "net_fall"] == pytest.approx(3.4)
    assert runs["jump"].to_dict() == {(1, 0): False, (2, 0): True, (2, 1): False, (2, 2): False}
    assert runs.loc[(2, 2), "steepest_fall"] == pytest.approx(1.8)  # 1.8 < 0.5 x 5.0: gradual
    row = sudden_emergence_row(runs.reset_index(), thresholds, family="noLN")
    assert (row.claim, row.experiment, row.value, row.verdict) == ("N1-noLN", "attention_noLN",
                                                                    pytest.approx(1 / 3), "not_reproduced")


def test_rank_dip_and_fall_step():
    curve = pd.Series([5.0, 5.0, 4.0, 3.0, 4.5, 4.8], index=[0, 1, 10, 100, 1000, 10000])
    step, depth = rank_dip(curve)
    assert step == 100 and depth == pytest.approx((4.8 - 3.0) / 4.8)
    assert in_window(step, (90.0, 95.0), 0.1) and not in_window(step, (20.0, 50.0), 0.1)
    assert fall_step(pd.Series([0.8, 0.7, 0.39, 0.1], index=[0, 5, 50, 500]), 0.5) == 50


# ------------------------------------------------------------------------------------------- training


def _tiny_section(steps=300):
    section = {"depths": [2], "seeds": [0], "model": {"d_model": 16, "n_heads": 2, "d_head": 8},
               "periodic": {"seq_len": 24, "vocab_size": 16, "period_min": 4, "period_max": 10},
               "train": {"steps": steps, "batch": 8, "eval_batch": 16,
                         "checkpoints": {"n_log": 10, "dense_from": 10, "dense_to": steps, "n_dense": 10}},
               "runtime": {"state_every": 10, "log_every": 50}}
    return validate(section, "attention")


_CHILD = """
import sys, json
from icl_dynamics.experiments.attention.run import train_attention_run
import torch
torch.set_num_threads(1)
train_attention_run(json.loads(sys.argv[1]), 2, 0, state_dir=sys.argv[2], device="cpu")
"""


@pytest.fixture
def one_torch_thread():
    """Train on one thread here too, as the child does: float32 sums round differently on other thread
    counts, so a parent on two threads matched the child only when an earlier test had left one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_final_metrics(tmp_path, one_torch_thread):
    import json

    section = _tiny_section()
    reference, ref_ckpt, _ = train_attention_run(section, 2, 0, state_dir=tmp_path / "uninterrupted", device="cpu")
    state = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(section), str(state)],
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    state_file = state / "state.pt"
    while not state_file.exists() and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    saved_step = torch.load(state_file, weights_only=False)["step"]
    assert 0 < saved_step < section["train"]["steps"]
    resumed, resumed_ckpt, _ = train_attention_run(section, 2, 0, state_dir=state, device="cpu")
    pd.testing.assert_frame_equal(resumed, reference)
    for key in ref_ckpt:
        assert torch.equal(resumed_ckpt[key], ref_ckpt[key])
    assert reference["step"].iloc[-1] == 300 and reference["eval_loss"].iloc[-1] < reference["eval_loss"].iloc[0]


def test_bursty_training_records_the_three_test_sets():
    section = validate({"task": "bursty", "model": {"d_model": 16, "n_heads": 2, "d_head": 8},
                        "bursty": {"n_classes": 16, "n_labels": 8, "content_dim": 15, "position_width": 20},
                        "optimizer": {"name": "sgd", "lr": 0.01},
                        "train": {"steps": 10, "batch": 8, "eval_batch": 16,
                                  "checkpoints": {"n_log": 3, "dense_from": 0, "dense_to": 10, "n_dense": 2}}},
                       "attention")
    metrics, checkpoints, _ = train_attention_run(section, 1, 0, device="cpu")
    for kind in ("in_context", "flipped", "in_weights"):
        assert metrics[f"{kind}_acc"].between(0, 1).all()
    assert (metrics["icl_score"] - (metrics["in_context_loss"] - math.log(8))).abs().max() < 1e-12
    assert checkpoints["W_Q"].shape == (len(metrics), 1, 2, 16, 8)
    assert checkpoints["W_O"].dtype == torch.float32


def test_ablation_figure_has_one_legend_below_the_panels(monkeypatch, tmp_path):
    """Regression: figure S2 (as figures 4-6) put its legend inside the 1-layer panel, where at paper scale
    it covered that panel's curves; the legend is now the figure's, outside every axis."""
    steps = np.array([0, 10, 100, 1000])
    metrics = pd.DataFrame([{"n_layers": layers, "seed": seed, "step": step, "icl_score": -np.log10(step + 1) * layers}
                            for layers in (1, 2) for seed in (0, 1) for step in steps])
    windows = pd.DataFrame([{"n_layers": layers, "seed": seed, "detected": True, "start": 10.0, "end": 100.0}
                            for layers in (1, 2) for seed in (0, 1)])
    models = {family: {"layer_norm": norm, "positional": "shortformer"} for family, norm in (("main", "pre"),
                                                                                               ("noLN", "none"))}
    fig = figS2({"main": (metrics, windows), "noLN": (metrics, windows)}, models)
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["main: layer_norm pre, positions shortformer",
                                                         "noLN: layer_norm none, positions shortformer",
                                                         "main: detected window, median over seeds (bar)",
                                                         "noLN: detected window, median over seeds (bar)"]


def test_ablation_figure_windows_do_not_overlap():
    """Regression: figure S2 shaded each family's median window over the whole panel height, so two windows
    overlapped into a colour no legend named. Each family's window is now a bar of its own along the top of
    the panel, above every curve."""
    steps = np.array([0, 10, 100, 1000])
    metrics = pd.DataFrame([{"n_layers": 2, "seed": seed, "step": step, "icl_score": -np.log10(step + 1)}
                            for seed in (0, 1) for step in steps])
    windows = pd.DataFrame([{"n_layers": 2, "seed": seed, "detected": True, "start": 10.0, "end": 100.0} for seed in (0, 1)])
    models = {family: {"layer_norm": "pre", "positional": "shortformer"} for family in ("main", "noLN")}
    fig = figS2({"main": (metrics, windows), "noLN": (metrics, windows)}, models)
    (ax,) = fig.axes
    bars = [patch for patch in ax.patches]
    assert len(bars) == 2
    (y0_main, y1_main), (y0_noln, y1_noln) = [(p.get_bbox().y0, p.get_bbox().y1) for p in bars]  # axes fraction
    assert y1_noln <= y0_main and y1_main <= 1
    curves_top = max(line.get_ydata().max() for line in ax.get_lines())
    low, high = ax.get_ylim()
    assert (curves_top - low) / (high - low) < y0_noln  # above every curve


def test_figure_4_names_its_depths_shares_each_rows_y_axis_and_labels_every_line():
    """Regression: figure 4's title said '1-4 layer' whatever the depths, each panel had its own y axis (a
    0.5-nat fall looked like a 3-nat one), the per-seed window edges had no legend entry and the median
    window was called 'detected window'."""
    from icl_dynamics.experiments.attention.figures import fig4

    steps = np.array([0, 10, 100, 1000])
    metrics = pd.DataFrame([{"n_layers": layers, "seed": seed, "step": step, "icl_score": -np.log10(step + 1) * layers,
                             "eval_loss": 3 - np.log10(step + 1) * layers} for layers in (1, 2) for seed in (0, 1)
                            for step in steps])
    windows = pd.DataFrame([{"n_layers": layers, "seed": seed, "detected": True, "start": 10.0 + seed, "end": 100.0}
                            for layers in (1, 2) for seed in (0, 1)])
    fig = fig4({"metrics": metrics, "windows": windows}, {})
    assert fig._suptitle.get_text() == "Fig. 4: ICL score and loss of attention-only models with 1 and 2 layers"
    top, bottom = fig.axes[:2], fig.axes[2:]  # rows: ICL score, held-out loss; columns: depths 1, 2
    assert top[0].get_ylim() == top[1].get_ylim() and bottom[0].get_ylim() == bottom[1].get_ylim()
    assert top[0].get_ylim() != bottom[0].get_ylim()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["mean over 2 seeds (band: min-max)", "each seed",
                                                         "detected window, median over seeds",
                                                         "each seed's detected window (start, end)"]
