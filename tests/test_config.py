"""Config validation: bad values fail at once with a message naming the key (library and workflow)."""

import copy

import pytest

from icl_dynamics.config import ConfigError, load_config, validate
from icl_dynamics.experiments.linear.run import check_config, resolve_setting, used_settings

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
