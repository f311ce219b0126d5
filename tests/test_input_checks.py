"""Inputs refused or made canonical before any job (issue 21, items 7, 10, 11): integral floats in integer
fields, duplicate YAML keys, a working directory without the config, the order of linear seeds, and runs
whose estimated memory or time is beyond any machine."""

import copy
import json

import numpy as np
import pytest

from icl_dynamics.config import (
    ConfigError,
    canonical_seeds,
    check_config_files,
    check_working_directory,
    load_config,
    validate,
)
from icl_dynamics.experiments.attention.checks import check_config as check_attention
from icl_dynamics.experiments.attention.run import trajectory_settings as attention_trajectory
from icl_dynamics.experiments.grokking.checks import check_config as check_grokking
from icl_dynamics.experiments.linear.checks import check_config as check_linear
from icl_dynamics.experiments.validity_map.checks import check_config as check_validity_map

from conftest import REPO

SECTIONS = ("linear", "measures", "attention", "grokking")
# (section, check) in the order the rule files run them; the validity map's checks read the linear section
CHECKS = [("linear", check_linear), ("linear", check_validity_map), ("attention", check_attention),
          ("grokking", check_grokking)]


def _read(tmp_path, *overrides: str, preset: str | None = None) -> dict:
    """The config the workflow reads from config/config.yaml, an optional preset and YAML overrides,
    validated as workflow/rules/common.smk does (in place)."""
    files = [REPO / "config/config.yaml"] + ([REPO / "config" / preset] if preset else [])
    for i, text in enumerate(overrides):
        files.append(tmp_path / f"override{i}.yaml")
        files[-1].write_text(text)
    cfg = load_config(*files)
    validate(cfg, "config")
    for section in SECTIONS:
        validate(cfg[section], section, prefix=section)
    return cfg


def _check(cfg: dict) -> None:
    for section, check in CHECKS:
        check(cfg[section], cfg)


# -- item 10: canonical values --------------------------------------------------------------------------

def test_integral_float_in_an_integer_field_gives_the_same_fingerprint(tmp_path):
    plain = _read(tmp_path, "attention:\n  train: {steps: 1000}\n")
    floated = _read(tmp_path, "attention:\n  train: {steps: 1000.0}\n")
    assert floated["attention"]["train"]["steps"] == 1000
    assert type(floated["attention"]["train"]["steps"]) is int
    dump = lambda cfg: json.dumps(attention_trajectory(cfg["attention"]), sort_keys=True)  # noqa: E731
    assert dump(floated) == dump(plain)


def test_integral_floats_are_canonical_everywhere_an_integer_is_wanted(tmp_path):
    cfg = _read(tmp_path, "attention:\n  seeds: [0.0, 1.0]\n  model: {n_heads: 4.0}\n"
                          "linear:\n  settings:\n    aniso_N30: {N: 30.0}\n  validity_map: {N: [10.0, 30.0]}\n"
                          "threads: {train: 2.0}\n")
    assert cfg["attention"]["seeds"] == [0, 1] and all(type(s) is int for s in cfg["attention"]["seeds"])
    assert type(cfg["attention"]["model"]["n_heads"]) is int
    assert type(cfg["linear"]["settings"]["aniso_N30"]["N"]) is int          # under additionalProperties + $ref
    assert [type(n) for n in cfg["linear"]["validity_map"]["N"]] == [int, int]  # array items
    assert type(cfg["threads"]["train"]) is int
    # number fields keep what was written
    assert type(cfg["linear"]["defaults"]["lr"]) is float


def test_float_steps_in_grokking_pass_the_checks(tmp_path):
    """``grokking.train.steps: 4000.0`` used to crash the cross-key check with a raw TypeError (range())."""
    cfg = _read(tmp_path, "grokking:\n  train: {steps: 4000.0, checkpoint_every: 25.0}\n", preset="quick.yaml")
    check_grokking(cfg["grokking"], cfg)
    assert cfg["grokking"]["train"] == {"steps": 4000, "checkpoint_every": 25}


def test_a_fractional_value_in_an_integer_field_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'grokking.train.steps' = 4000.5 is invalid"):
        _read(tmp_path, "grokking:\n  train: {steps: 4000.5}\n")


def test_canonical_seeds_are_sorted_and_the_simulation_does_not_depend_on_their_order():
    from icl_dynamics.experiments.linear.settings import resolve_setting
    from icl_dynamics.experiments.linear.simulate import simulate

    assert canonical_seeds([3, 0, 2]) == [0, 2, 3]
    lin = validate(copy.deepcopy(load_config(REPO / "config/config.yaml")["linear"]), "linear")
    setting = resolve_setting(lin, "aniso_N30")
    setting.update(steps=60, n_log=5, n_lin=5, batch=16, eval_batch=32)
    forward = simulate(setting, [0, 1, 2])
    backward = simulate(setting, [2, 0, 1])
    position = {0: 1, 1: 2, 2: 0}   # where seed s sits in the reordered run
    assert list(backward["seeds"]) == [2, 0, 1]
    for key, value in forward.items():
        if key in ("s", "U", "steps"):
            np.testing.assert_array_equal(backward[key], value, err_msg=key)
            continue
        axis = 1 if value.ndim >= 2 and value.shape[0] == len(forward["steps"]) else 0
        reordered = np.take(backward[key], [position[s] for s in (0, 1, 2)], axis=axis)
        np.testing.assert_array_equal(reordered, value, err_msg=key)


@pytest.mark.parametrize("written,advice", [("1.0e12", "an exponent without a sign.*write it as 1.0e\\+12"),
                                            ("1e12", "an exponent without a decimal point.*write it as 1.0e\\+12"),
                                            ("1e-2", "an exponent without a decimal point.*write it as 1.0e-2")])
def test_a_number_yaml_reads_as_text_gets_the_spelling_it_needs(tmp_path, written, advice):
    """YAML 1.1 (PyYAML, and Snakemake's loader) reads 1.0e12 as text: its float needs the exponent's sign."""
    with pytest.raises(ConfigError, match=rf"'grokking.train.steps' = '{written}' is a string.*{advice}"):
        _read(tmp_path, f"grokking:\n  train: {{steps: {written}}}\n")


# -- item 11: duplicate keys, working directory -----------------------------------------------------------

def test_a_duplicate_key_is_refused_naming_key_and_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("attention:\n  train:\n    steps: 1000\n    batch: 8\n    steps: 2000\n")
    with pytest.raises(ConfigError, match=r"dup.yaml, line 5: key 'steps' appears twice in one mapping "
                                          r"\(first at line 3\)"):
        load_config(path)
    with pytest.raises(ConfigError, match="line 5: key 'steps'"):
        check_config_files([path])


def test_merge_keys_and_repeated_keys_in_different_mappings_are_accepted(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {lr: 1.0, steps: 5}\nrun:\n  <<: *b\n  steps: 7\nother: {steps: 5}\n")
    cfg = load_config(path)
    assert cfg["run"] == {"lr": 1.0, "steps": 7} and cfg["other"] == {"steps": 5}
    check_config_files([path])


def test_shipped_presets_have_no_duplicate_keys():
    check_config_files([REPO / "config/config.yaml", REPO / "config/quick.yaml"])


def test_bad_yaml_and_a_top_level_list_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list.yaml: holds a list, not a mapping of config keys"):
        load_config(listed)


def test_working_directory_without_the_config_is_named(tmp_path):
    check_working_directory(REPO, REPO)
    with pytest.raises(ConfigError, match=rf"config/config.yaml not found in the working directory {tmp_path}: "
                                          rf"run snakemake from the repository root \(cd {REPO}\) or pass "
                                          rf"--directory {REPO}"):
        check_working_directory(REPO, tmp_path)


# -- item 7: runs beyond any machine ---------------------------------------------------------------------

@pytest.mark.parametrize("override,message", [
    ("grokking:\n  task: {p: 50000}\n",
     r"'grokking.task.p' = 50000.*logits of the test set.*TiB.*bound of 128 GiB"),
    ("attention:\n  model: {n_heads: 100000}\n",
     r"'attention.model.n_heads' = 100000.*attention patterns.*bound of 128 GiB"),
    ("attention:\n  train: {steps: 1.0e+12}\n",
     r"'attention.train.steps' = 1000000000000.*floating-point operations.*years at 1e\+14 FLOP/s.*bound of "
     r"30 days"),
    ("grokking:\n  train: {steps: 1.0e+12, checkpoint_every: 1.0e+10}\n",
     r"'grokking.train.steps' = 1000000000000.*floating-point operations.*bound of 30 days"),
    ("grokking:\n  train: {steps: 1.0e+11}\n",
     r"'grokking.train.steps' = 100000000000, 'grokking.train.checkpoint_every' = 100.*stack of one per-head "
     r"weight over checkpoints.*TiB.*bound of 128 GiB"),
    ("linear:\n  settings:\n    aniso_N30: {steps: 1.0e+13}\n",
     r"'linear.settings.aniso_N30.steps' = 10000000000000.*floating-point operations.*bound of 30 days"),
    ("linear:\n  defaults: {batch: 100000000}\n",
     r"'linear.defaults.batch' = 100000000.*TiB.*bound of 128 GiB"),
    ("linear:\n  validity_map: {duration: 1.0e+11}\n",
     r"'linear.validity_map.duration' = 100000000000.0.*floating-point operations.*bound of 30 days"),
])
def test_runs_beyond_any_machine_are_refused_before_any_job(tmp_path, override, message):
    cfg = _read(tmp_path, override)
    with pytest.raises(ConfigError, match=message):
        _check(cfg)


@pytest.mark.parametrize("preset", [None, "quick.yaml"])
def test_shipped_presets_are_within_the_bounds(tmp_path, preset):
    _check(_read(tmp_path, preset=preset))
    # a GPU paper run is the paper preset on device cuda: the bounds do not depend on the device
    _check(_read(tmp_path, "device: cuda\n", preset=preset))


def test_bounds_leave_room_above_the_paper_preset():
    """The estimates of the paper preset are far below the bounds (so a larger real run still passes)."""
    from icl_dynamics.experiments.budget import MAX_SECONDS, MAX_TENSOR_BYTES
    from icl_dynamics.experiments.attention.checks import run_estimates as attention_estimates
    from icl_dynamics.experiments.grokking.checks import run_estimates as grokking_estimates

    cfg = load_config(REPO / "config/config.yaml")
    for section, estimates in (("attention", attention_estimates), ("grokking", grokking_estimates)):
        validate(cfg[section], section, prefix=section)
        tensor, work = estimates(cfg[section])
        assert 1e6 < tensor.bytes < MAX_TENSOR_BYTES / 100, (section, tensor)
        assert work.seconds < MAX_SECONDS / 1000, (section, work)
        assert work.flops > 1e12, (section, work)   # the estimate counts the real work (not a stub)


def test_small_d_head_is_refused_for_the_configured_marginal_rank(tmp_path):
    cfg = _read(tmp_path, "attention:\n  model: {d_model: 8, n_heads: 4, d_head: 2}\n")
    with pytest.raises(ConfigError, match=r"'measures.marginal_rank_k_variant' = 2.*'attention.model.d_head' = 2"):
        check_attention(cfg["attention"], cfg)
    cfg = _read(tmp_path, "attention:\n  model: {d_model: 8, n_heads: 4, d_head: 2}\n"
                          "measures: {marginal_rank_k_variant: 1}\n")
    check_attention(cfg["attention"], cfg)
