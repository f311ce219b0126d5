"""Config validation: bad values fail at once with a message naming the key (library and workflow)."""

import copy

import pytest

from icl_dynamics.config import ConfigError, load_config, validate
from icl_dynamics.experiments.linear.checks import check_config
from icl_dynamics.experiments.linear.settings import resolve_setting, used_settings

from conftest import REPO


@pytest.fixture(scope="module")
def paper_config():
    return load_config(REPO / "config/config.yaml")


def _linear(cfg):
    lin = copy.deepcopy(cfg["linear"])
    return lin


def test_shipped_configs_are_valid(paper_config):
    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    for cfg in (paper_config, quick):
        validate(cfg, "config")
        validate(cfg["linear"], "linear", prefix="linear")
        check_config(cfg["linear"])
    assert len(used_settings(quick["linear"])) < len(used_settings(paper_config["linear"]))


@pytest.mark.parametrize("key,value,message", [
    ("lr", -0.1, r"config key 'linear.defaults.lr' = -0.1 is invalid.*must be > 0"),
    ("N", 0, r"config key 'linear.defaults.N' = 0 is invalid.*must be >= 1"),
    ("spectrum", {"kind": "cubic"}, r"'linear.defaults.spectrum.kind' = 'cubic' is not allowed; allowed values: "
                                    r"'explicit', 'geometric', 'power_law', 'isotropic'"),
    ("init", "zeros", r"'linear.defaults.init' = 'zeros' is not allowed; allowed values: 'aligned', 'random'"),
])
def test_bad_values_name_the_key(paper_config, key, value, message):
    lin = _linear(paper_config)
    lin["defaults"][key] = value
    with pytest.raises(ConfigError, match=message):
        validate(lin, "linear", prefix="linear")


def test_unknown_and_missing_keys(paper_config):
    lin = _linear(paper_config)
    lin["defaults"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"'linear.defaults.learning_rate' is not a known option"):
        validate(lin, "linear", prefix="linear")
    lin = _linear(paper_config)
    del lin["seeds"]
    with pytest.raises(ConfigError, match=r"'linear.seeds' is required but missing"):
        validate(lin, "linear", prefix="linear")


def test_cross_field_checks(paper_config):
    lin = _linear(paper_config)
    lin["figures"]["fig2_main"] = "nope"
    with pytest.raises(ValueError, match=r"'linear.figures.fig2_main' names setting 'nope'"):
        check_config(lin)
    lin = _linear(paper_config)
    lin["settings"]["short"] = {"spectrum": {"kind": "explicit", "values": [1.0, 2.0]}}
    with pytest.raises(ValueError, match=r"'linear.settings.short.spectrum.values' has 2 values but d = 4"):
        check_config(lin)


def test_settings_override_defaults(paper_config):
    s = resolve_setting(paper_config["linear"], "near_iso_N300")
    assert s["N"] == 300 and s["spectrum"]["kind"] == "geometric"
    assert s["batch"] == paper_config["linear"]["defaults"]["batch"]
    with pytest.raises(KeyError, match="unknown linear setting 'x'"):
        resolve_setting(paper_config["linear"], "x")


def test_defaults_are_filled():
    cfg = {}
    validate(cfg, "config")
    assert cfg["device"] == "auto" and cfg["threads"] == {"train": 1, "default": 1}


# Regression tests of checks that came late or misled: each used to pass the dry run (or name no key).
CROSS_KEY_CASES = [
    ("attention:\n  periodic: {period_min: 40, period_max: 30}\n",
     r"'attention.periodic.period_min' = 40 and 'attention.periodic.period_max' = 30: period_min must not exceed"),
    ("attention:\n  periodic: {early_frac: 0.9, late_frac: 0.1}\n",
     r"'attention.periodic.early_frac' = 0.9 and 'attention.periodic.late_frac' = 0.1: the ICL score's late "
     r"position 13 must come after early position 115"),
    ("grokking:\n  train: {checkpoint_every: 100000}\n",
     r"'grokking.train.checkpoint_every' = 100000 and 'grokking.train.steps' = 40000 give 2 checkpoints, fewer "
     r"than 'measures.curvature_window' = 10"),
    ("grokking:\n  task: {p: 53, train_fraction: 0.0001}\n",
     r"'grokking.task.train_fraction' = 0.0001 and 'grokking.task.p' = 53: the training set would hold 0 of the "
     r"2809 pairs"),
    ("linear:\n  settings:\n    aniso_N30: {spectrum: {kind: geometric}}\n",
     r"config key 'linear.settings.aniso_N30.spectrum.ratio' is required but missing"),
    ("text:\n  context: {seq_len: 256}\n",
     r"'text.context.late_position' = 500 and 'text.context.seq_len' = 256: the ICL score needs early_position < "
     r"late_position <= seq_len - 2"),
    ("grokking:\n  seeds: [0, 1, 1]\n", r"config key 'grokking.seeds' = \[0, 1, 1\] lists a value twice"),
    ("grokking:\n  optimizer: {lr: 1e-2}\n",
     r"'grokking.optimizer.lr' = '1e-2' is a string, not number: YAML 1.1 reads a number written like '1e-2' "
     r"\(an exponent without a decimal point\) as text; write it as 1.0e-2"),
]


def _check_all(cfg):
    """What workflow/rules/*.smk run before any job: schema validation, then each section's cross-key checks."""
    from icl_dynamics.experiments.attention.checks import check_config as check_attention
    from icl_dynamics.experiments.grokking.checks import check_config as check_grokking
    from icl_dynamics.experiments.text.checks import check_config as check_text

    validate(cfg, "config")
    for section in ("linear", "measures", "attention", "grokking", "text"):
        validate(cfg[section], section, prefix=section)
    for section, check in (("linear", check_config), ("attention", check_attention), ("grokking", check_grokking),
                           ("text", check_text)):
        check(cfg[section], cfg)


@pytest.mark.parametrize("override,message", CROSS_KEY_CASES)
def test_cross_key_checks_name_the_keys(tmp_path, override, message):
    path = tmp_path / "override.yaml"
    path.write_text(override)
    cfg = load_config(REPO / "config/config.yaml", path)
    with pytest.raises(ConfigError, match=message):
        _check_all(cfg)


def test_shipped_presets_pass_the_cross_key_checks():
    _check_all(load_config(REPO / "config/config.yaml"))
    _check_all(load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml"))
