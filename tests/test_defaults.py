"""Defaults live in one place, the schemas: no dataclass or library function carries a hidden choice.

Issue 20, item 4. The schemas are read here straight from the YAML files (not through
``icl_dynamics.config``), so a default written twice cannot agree with itself by construction.
"""

import copy
import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
import torch
import yaml

import icl_dynamics.data
import icl_dynamics.models
from icl_dynamics.config import ConfigError, load_config, validate
from icl_dynamics.data.bursty import BurstySpec
from icl_dynamics.data.regression import make_basis, make_spectrum
from icl_dynamics.experiments.attention import run as attention_run
from icl_dynamics.experiments.grokking import run as grokking_run
from icl_dynamics.experiments.linear.settings import resolve_setting
from icl_dynamics.experiments.linear.simulate import simulate
from icl_dynamics.experiments.linear.sgd import SGDSettings
from icl_dynamics.models.attention_only import AttentionOnlyConfig
from icl_dynamics.models.grokking import GrokkingModelConfig
from icl_dynamics.training import trainer
from icl_dynamics.training.trainer import DivergenceError, TrainerConfig

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "src/icl_dynamics/schemas"


def schema_defaults(name: str, *path: str) -> dict:
    """``default`` of every property under ``path`` of ``<name>.schema.yaml``, read from the file."""
    node = yaml.safe_load((SCHEMAS / f"{name}.schema.yaml").read_text())
    for key in path:
        node = node["properties"][key]
    return {key: sub["default"] for key, sub in node["properties"].items() if "default" in sub}


# Fields whose default is not a choice of the experiment but switches a feature off or is fixed by the
# data format; none of them has a schema key (checked below).
STRUCTURAL_DEFAULTS = {
    ("AttentionOnlyConfig", "vocab_size"): "exactly one of vocab_size and input_dim is set",
    ("AttentionOnlyConfig", "input_dim"): "exactly one of vocab_size and input_dim is set",
    ("GrokkingModelConfig", "n_ctx"): "the input [a, b, =] has three tokens",
    ("TrainerConfig", "checkpoint_steps"): "no checkpoints",
    ("TrainerConfig", "state_dir"): "no resumable state",
    ("TrainerConfig", "fingerprint"): "no fingerprint",
    ("TrainResult", "state"): "no state folder",
    ("SGDRun", "name"): "a label in error messages",
}

# The schema sections whose keys a dataclass's fields are.
SCHEMA_SECTIONS = {
    "AttentionOnlyConfig": [("attention", "model")],
    "BurstySpec": [("attention", "bursty")],
    "GrokkingModelConfig": [("grokking", "model"), ("grokking", "task")],
    "TrainerConfig": [("attention", "runtime"), ("grokking", "runtime")],
}


def _dataclasses_of(modules):
    for module in modules:
        for _, cls in inspect.getmembers(module, dataclasses.is_dataclass):
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                yield cls


def _library_modules():
    """Every module of models/ and data/, and training/trainer.py and experiments/linear/sgd.py."""
    modules = [trainer, importlib.import_module("icl_dynamics.experiments.linear.sgd")]
    for package in (icl_dynamics.models, icl_dynamics.data):
        modules += [importlib.import_module(f"{package.__name__}.{info.name}")
                    for info in pkgutil.iter_modules(package.__path__)]
    return modules


def _field_default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def test_every_dataclass_default_is_structural_and_no_schema_key():
    """A scan of the dataclasses of models/, data/, the trainer and the linear SGD: a field with a default
    is one of the few structural ones, and no schema key of the class's sections has its name."""
    classes = list(_dataclasses_of(_library_modules()))
    assert {"AttentionOnlyConfig", "GrokkingModelConfig", "BurstySpec", "TrainerConfig", "SGDSettings"} <= {
        cls.__name__ for cls in classes}
    for cls in classes:
        keys = set()
        for name, section in SCHEMA_SECTIONS.get(cls.__name__, []):
            keys |= set(schema_defaults(name, section))
        for field in dataclasses.fields(cls):
            if _field_default(field) is dataclasses.MISSING:
                continue
            assert (cls.__name__, field.name) in STRUCTURAL_DEFAULTS, (
                f"{cls.__name__}.{field.name} has a default ({_field_default(field)!r}); its value belongs in a schema")
            assert field.name not in keys, f"{cls.__name__}.{field.name} is a schema key and has a code default"


@pytest.mark.parametrize("make", [
    lambda: AttentionOnlyConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, n_ctx=5, n_outputs=3, vocab_size=3),
    lambda: GrokkingModelConfig(),
    lambda: BurstySpec(),
    lambda: SGDSettings(lr=0.1, batch=8, steps=10),
    lambda: TrainerConfig(run_name="x", total_steps=10),
    lambda: make_basis("identity", 3),
], ids=["AttentionOnlyConfig", "GrokkingModelConfig", "BurstySpec", "SGDSettings", "TrainerConfig", "make_basis"])
def test_no_hidden_defaults(make):
    with pytest.raises(TypeError, match="missing"):
        make()


def test_a_spectrum_without_scale_is_an_error_not_one():
    with pytest.raises(ValueError, match="a geometric spectrum needs 'scale'"):
        make_spectrum("geometric", 4, ratio=0.8)
    lin = load_config(REPO / "config/config.yaml")["linear"]
    lin["settings"]["near_iso_N300"]["spectrum"] = {"kind": "geometric", "ratio": 0.8}
    with pytest.raises(ConfigError, match="'linear.settings.near_iso_N300.spectrum.scale' is required"):
        validate(lin, "linear", prefix="linear")


def test_attention_model_is_built_with_the_schemas_defaults():
    model_defaults = schema_defaults("attention", "model")
    model = attention_run.build_model(validate({}, "attention"), n_layers=2)
    for key, value in model_defaults.items():
        assert getattr(model.cfg, key) == value, key
    assert model_defaults["layer_norm"] == "pre" and model_defaults["positional"] == "shortformer"
    assert isinstance(model.layers[0].norm, torch.nn.LayerNorm) and isinstance(model.final_norm, torch.nn.LayerNorm)
    # the weights are drawn with the schema's init_std (4096 entries: the estimate is within ~1 %)
    assert model.layers[0].W_Q.detach().std().item() == pytest.approx(model_defaults["init_std"], rel=0.05)


def test_bursty_task_and_grokking_model_take_the_schemas_defaults():
    spec = attention_run.bursty_spec(validate({"task": "bursty"}, "attention"))
    assert dataclasses.asdict(spec) == schema_defaults("attention", "bursty")
    model = grokking_run.build_model(validate({}, "grokking"))
    assert model.cfg == GrokkingModelConfig(p=schema_defaults("grokking", "task")["p"],
                                            **schema_defaults("grokking", "model"))


def _one_overshooting_step(divergence_factor=None) -> dict:
    """One SGD step with a learning rate so large that the fast mode overshoots its fixed point: the
    held-out loss after it exceeds the initial one (by a factor ~10) without becoming non-finite."""
    lin = copy.deepcopy(load_config(REPO / "config/config.yaml")["linear"])
    if divergence_factor is not None:
        lin["defaults"]["divergence_factor"] = divergence_factor
    setting = resolve_setting(validate(lin, "linear", prefix="linear"), "aniso_N30")
    setting.update(lr=40.0, steps=1, n_log=2, n_lin=0, batch=256, eval_batch=256)
    return simulate(setting, [0])


def test_the_divergence_factor_reaches_the_sgd_from_the_config():
    assert schema_defaults("linear", "defaults")["divergence_factor"] == 1000.0
    out = _one_overshooting_step()  # the schema's factor 1000: no error
    assert list(out["steps"]) == [0, 1]
    ratio = out["loss"][0, 1] / out["loss"][0, 0]  # seed 0, step 1 over step 0
    assert 2.0 < ratio < 1000.0, ratio  # the step raises the loss, but by less than the default factor
    with pytest.raises(DivergenceError, match=r"run 'aniso_N30' diverged at step 1 with learning rate 40"):
        _one_overshooting_step(divergence_factor=ratio ** 0.5)
    with pytest.raises(ConfigError, match="linear.defaults.divergence_factor"):
        _one_overshooting_step(divergence_factor=1.0)  # the schema rejects a factor that stops every run
