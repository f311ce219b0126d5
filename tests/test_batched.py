"""Batched training (issue 25): runs of one shape trained as one stacked model equal the runs trained alone
(to float32 rounding), resume mid-way as an uninterrupted batch does, keep each run's state in the per-run
layout, and the config switch training_jobs chooses the batched rules."""

import itertools
import os
import signal

import pandas as pd
import pytest
import torch

import icl_dynamics.experiments.grokking.run as grokking
from icl_dynamics.config import validate
from icl_dynamics.experiments.attention.batched import train_attention_batch
from icl_dynamics.experiments.attention.run import build_model, make_optimizer, train_attention_run
from icl_dynamics.experiments.grokking.batched import train_grokking_batch
from icl_dynamics.experiments.grokking.run import evaluate, train_grokking_run
from icl_dynamics.models.attention_only import AttentionOnlyConfig, AttentionOnlyTransformer
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer
from icl_dynamics.models.stacked import StackedParameters, attention_only_logits, grokking_logits
from icl_dynamics.training.batched import train_batched
from icl_dynamics.training.errors import TrainingInterrupted
from icl_dynamics.training.trainer import TrainerConfig

from conftest import copy_workflow, run_snakemake

ATTENTION = {"depths": [2], "seeds": [0, 1], "model": {"d_model": 16, "n_heads": 2, "d_head": 8},
             "periodic": {"seq_len": 24, "vocab_size": 16, "period_min": 4, "period_max": 10},
             "train": {"steps": 40, "batch": 8, "eval_batch": 16,
                       "checkpoints": {"n_log": 5, "dense_from": 10, "dense_to": 40, "n_dense": 4}},
             "runtime": {"state_every": 15, "log_every": 20}}
BURSTY = {"task": "bursty", "seeds": [0, 1], "model": {"d_model": 16, "n_heads": 2, "d_head": 8, "layer_norm": "pre"},
          "bursty": {"n_classes": 16, "n_labels": 8, "content_dim": 15, "position_width": 20},
          "optimizer": {"name": "sgd", "lr": 0.05},
          "train": {"steps": 20, "batch": 8, "eval_batch": 16,
                    "checkpoints": {"n_log": 3, "dense_from": 0, "dense_to": 20, "n_dense": 2}}}
GROKKING = {"task": {"p": 7, "train_fraction": 0.5}, "model": {"d_model": 16, "n_heads": 2, "d_head": 4, "d_mlp": 24},
            "train": {"steps": 60, "checkpoint_every": 20}, "runtime": {"state_every": 25, "log_every": 20}}
# float32 rounding: the stacked products sum in another order than the per-run ones
ATOL = 1e-5


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_close_runs(batched, alone, atol=ATOL):
    """Metrics tables (same columns, steps, seeds) and checkpoint stacks agree to ``atol``."""
    metrics, checkpoints = batched
    metrics_alone, checkpoints_alone = alone
    assert list(metrics.columns) == list(metrics_alone.columns)
    assert metrics["step"].tolist() == metrics_alone["step"].tolist()
    pd.testing.assert_frame_equal(metrics, metrics_alone, check_exact=False, rtol=0, atol=atol)
    assert checkpoints.keys() == checkpoints_alone.keys()
    for name in checkpoints:
        assert checkpoints[name].dtype == checkpoints_alone[name].dtype, name
        torch.testing.assert_close(checkpoints[name], checkpoints_alone[name], rtol=0, atol=atol, msg=name)


# ------------------------------------------------------------------------------------------ stacked forward


@pytest.mark.parametrize("layer_norm,positional,tokens",
                         list(itertools.product(["none", "pre"], ["learned", "shortformer", "none"], [True, False])))
def test_stacked_attention_logits_are_each_members_own(layer_norm, positional, tokens):
    inputs = {"vocab_size": 10} if tokens else {"input_dim": 5}
    cfg = AttentionOnlyConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, n_ctx=12, n_outputs=10,
                              layer_norm=layer_norm, positional=positional, init_std=0.3, **inputs)
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = AttentionOnlyTransformer(cfg)
        for p in model.parameters():  # LayerNorm gains and biases away from 1 and 0, so they matter
            if p.ndim == 1:
                p.data.normal_()
        models.append(model)
    x = torch.randint(0, 10, (3, 4, 12)) if tokens else torch.randn(3, 4, 12, 5)
    logits = attention_only_logits(cfg, StackedParameters(models), x)
    for m, model in enumerate(models):
        torch.testing.assert_close(logits[m], model(x[m]), rtol=0, atol=ATOL)


def test_stacked_grokking_logits_are_each_members_own():
    cfg = GrokkingModelConfig(p=7, d_model=16, n_heads=2, d_head=4, d_mlp=24)
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(GrokkingTransformer(cfg))
    x = torch.randint(0, 8, (3, 20, 3))
    logits = grokking_logits(cfg, StackedParameters(models), x)
    for m, model in enumerate(models):
        torch.testing.assert_close(logits[m], model(x[m]), rtol=0, atol=ATOL)


def test_stack_round_trips_member_states():
    models = [build_model(validate(ATTENTION, "attention"), 2) for _ in range(2)]
    stack = StackedParameters(models)
    states = [stack.member_state(m) for m in range(2)]
    assert list(states[1]) == list(models[1].state_dict())
    assert all(torch.equal(states[1][k], v) for k, v in models[1].state_dict().items())
    stack.load_members(states[::-1])
    assert torch.equal(stack["W_E"][0], models[1].W_E)


# ------------------------------------------------------------------------------------------ batch = runs alone


def test_attention_batch_of_two_seeds_equals_two_separate_runs():
    batch = train_attention_batch(ATTENTION, 2, [0, 1], device="cpu")
    for seed, (metrics, checkpoints, _) in zip([0, 1], batch):
        alone = train_attention_run(ATTENTION, 2, seed, device="cpu")
        assert_close_runs((metrics, checkpoints), alone[:2])
    # the members are not copies of each other: the seeds give different runs
    assert not torch.allclose(batch[0][1]["W_Q"][-1], batch[1][1]["W_Q"][-1])


def test_bursty_sgd_pre_ln_batch_equals_separate_runs():
    batch = train_attention_batch(BURSTY, 1, [0, 1], device="cpu")
    for seed, (metrics, checkpoints, _) in zip([0, 1], batch):
        assert_close_runs((metrics, checkpoints), train_attention_run(BURSTY, 1, seed, device="cpu")[:2])


def test_grokking_batch_of_two_seeds_equals_two_separate_runs():
    batch = train_grokking_batch(GROKKING, [0, 3], device="cpu")
    for seed, (metrics, checkpoints, _) in zip([0, 3], batch):
        assert_close_runs((metrics, checkpoints), train_grokking_run(GROKKING, seed, device="cpu")[:2])
    assert batch[0][0]["train_loss"].iloc[-1] < batch[0][0]["train_loss"].iloc[0]


# ------------------------------------------------------------------------------------------ resume


def interrupt_at_evaluation(monkeypatch, call):
    """Make the ``call``-th evaluation of the grokking run raise KeyboardInterrupt (a kill)."""
    calls = []

    def failing_evaluate(model, x, y):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return evaluate(model, x, y)

    monkeypatch.setattr(grokking, "evaluate", failing_evaluate)


def test_resumed_batch_equals_an_uninterrupted_one_and_states_are_per_run(tmp_path, monkeypatch):
    seeds = [0, 3]
    reference = train_grokking_batch(GROKKING, seeds, device="cpu")
    dirs = [tmp_path / f"seed{seed}" for seed in seeds]
    # two evaluations per member and checkpoint: epochs 0 and 20 make 8 calls, the 9th is at epoch 40, after
    # the states of epoch 25 were written
    interrupt_at_evaluation(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        train_grokking_batch(GROKKING, seeds, state_dirs=dirs, device="cpu")
    monkeypatch.undo()
    states = [torch.load(d / "state.pt", weights_only=False) for d in dirs]
    assert [s["step"] for s in states] == [25, 25]
    # each state is a per-run state: the model's state_dict and an optimizer state a run alone loads
    section = validate(GROKKING, "grokking")
    model = grokking.build_model(section)
    model.load_state_dict(states[1]["model"])
    optimizer, _ = grokking.build_optimizer(model, section)
    optimizer.load_state_dict(states[1]["optimizer"])
    assert optimizer.state[model.W_Q]["exp_avg"].shape == model.W_Q.shape
    assert [r["step"] for r in states[1]["records"]] == [0, 20]

    resumed = train_grokking_batch(GROKKING, seeds, state_dirs=dirs, device="cpu")
    for (metrics, checkpoints, _), (ref_metrics, ref_checkpoints, _) in zip(resumed, reference):
        pd.testing.assert_frame_equal(metrics, ref_metrics)
        for name in ref_checkpoints:
            assert torch.equal(checkpoints[name], ref_checkpoints[name]), name


def test_sigterm_saves_every_member_and_the_rerun_finishes_as_uninterrupted(tmp_path, monkeypatch):
    seeds = [0, 3]
    dirs = [tmp_path / f"seed{seed}" for seed in seeds]
    calls = []

    def signalling_evaluate(model, x, y):  # SIGTERM to this process during the checkpoint of epoch 40
        calls.append(1)
        if len(calls) == 9:
            os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(model, x, y)

    monkeypatch.setattr(grokking, "evaluate", signalling_evaluate)
    with pytest.raises(TrainingInterrupted, match=r"2 batched runs \(grokking seed 0, grokking seed 3\): signal 15 "
                                                  r"at step 40; state saved per run, rerun to resume"):
        train_grokking_batch(GROKKING, seeds, state_dirs=dirs, device="cpu")
    monkeypatch.undo()
    assert [torch.load(d / "state.pt", weights_only=False)["step"] for d in dirs] == [40, 40]
    resumed = train_grokking_batch(GROKKING, seeds, state_dirs=dirs, device="cpu")
    for (metrics, checkpoints, _), (ref_metrics, ref_checkpoints, _) in zip(
            resumed, train_grokking_batch(GROKKING, seeds, device="cpu")):
        pd.testing.assert_frame_equal(metrics, ref_metrics)
        assert all(torch.equal(checkpoints[k], ref_checkpoints[k]) for k in ref_checkpoints)


def test_a_member_without_state_restarts_the_batch_from_step_0(tmp_path, monkeypatch, caplog):
    seeds = [0, 3]
    dirs = [tmp_path / f"seed{seed}" for seed in seeds]
    interrupt_at_evaluation(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        train_grokking_batch(GROKKING, seeds, state_dirs=dirs, device="cpu")
    monkeypatch.undo()
    (dirs[1] / "state.pt").unlink()
    resumed = train_grokking_batch(GROKKING, seeds, state_dirs=dirs, device="cpu")
    assert ("batched runs have no common saved step (grokking seed 0: step 25, grokking seed 3: none); "
            "restarting every member from step 0") in caplog.text
    reference = train_grokking_batch(GROKKING, seeds, device="cpu")
    for (metrics, _, _), (ref_metrics, _, _) in zip(resumed, reference):
        pd.testing.assert_frame_equal(metrics, ref_metrics)


def test_runs_of_other_step_settings_are_refused():
    section = validate(ATTENTION, "attention")
    stack = StackedParameters([build_model(section, 1), build_model(section, 1)])
    configs = [TrainerConfig(run_name=f"run{i}", total_steps=steps, state_every=10, log_every=10,
                             divergence_factor=10.0, check_every=1) for i, steps in enumerate([10, 20])]
    with pytest.raises(ValueError, match="the runs of a batch must share total_steps; got 10, 20"):
        train_batched(stack, make_optimizer(stack, section), lambda step: [], configs)


# ------------------------------------------------------------------------------------------ workflow

TINY_WORKFLOW = """
attention:
  depths: [1]
  seeds: [0, 1]
  train:
    steps: 200
    checkpoints: {n_log: 10, dense_from: 20, dense_to: 200, n_dense: 10}
  runtime: {state_every: 100, log_every: 100}
grokking:
  seeds: [0, 1]
  task: {p: 11, train_fraction: 0.5}
  train: {steps: 100, checkpoint_every: 10}
  runtime: {state_every: 50, log_every: 50}
"""


TRAINED = ["results/attention/main/measures.parquet", "results/grokking/measures.parquet"]


@pytest.mark.workflow
@pytest.mark.parametrize("jobs,planned,not_planned", [
    ("batched", {"attention_train_batched": 2, "grokking_train_batched": 1}, ("attention_train", "grokking_train")),
    ("per_run", {"attention_train": 4, "grokking_train": 3}, ("attention_train_batched", "grokking_train_batched")),
])
def test_the_switch_plans_batched_or_per_run_rules(jobs, planned, not_planned):
    """The quick preset's main family: 2 depths x 2 seeds, 3 grokking seeds; batched, one job per depth and one
    for the grokking seeds."""
    from test_workflow import planned_jobs

    from conftest import REPO

    proc = run_snakemake(REPO, "-n", "--nolock", "--cores", "2", *TRAINED, "--configfile", "config/quick.yaml",
                         "--config", f"training_jobs={jobs}")
    counts = planned_jobs(proc.stdout)
    assert {rule: counts.get(rule) for rule in planned} == planned, counts
    assert not set(not_planned) & set(counts), counts


@pytest.mark.workflow
@pytest.mark.slow
def test_batched_rules_write_per_run_outputs_that_pass_check_runs(tmp_path):
    """The batched rules' per-run files feed the per-run chain: the attention measures (whose tables the claims
    check with check_runs) and the grokking seeds' metrics (read by figure 7) hold exactly the configured runs."""
    from icl_dynamics.workflow_io.cached_files import check_runs, read_cached

    work = copy_workflow(tmp_path / "wf")
    (work / "tiny.yaml").write_text(TINY_WORKFLOW)
    windows, measures = "results/attention/main/windows.csv", "results/attention/main/measures.parquet"
    grokking_metrics = [f"results/grokking/seed{seed}/metrics.parquet" for seed in (0, 1)]
    proc = run_snakemake(work, "--cores", "1", windows, *grokking_metrics, "--configfile", "config/quick.yaml",
                         "tiny.yaml", "--config", "training_jobs=batched")
    count = proc.stdout.count
    assert count("rule attention_train_batched:") == 1 and count("rule grokking_train_batched:") == 1, proc.stdout
    assert "rule attention_train:" not in proc.stdout and "rule grokking_train:" not in proc.stdout
    runs = [{"n_layers": 1, "seed": 0}, {"n_layers": 1, "seed": 1}]
    check_runs(read_cached(work / windows), runs, windows, one_row_per_run=True)
    check_runs(read_cached(work / measures), runs, measures)
    seeds = pd.concat([read_cached(work / path) for path in grokking_metrics])
    check_runs(seeds, [{"seed": 0}, {"seed": 1}], "results/grokking/seed*/metrics.parquet")
    assert (work / "logs/attention/attention_train_batched/main/L1.log").exists()
    assert not any((work / "state").rglob("state.pt")), "the finished states are removed on success"
