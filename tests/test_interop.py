"""Our models in TransformerLens and back (icl_dynamics.interop), and icl-measures on exported checkpoints.

The tests that build a TransformerLens model run with the installed release: 3.9.0 (the extra ``tl``, which
CI installs: ``HookedTransformer``) or 4.x (the extra ``tl4``: ``TransformerBridge``; the README section
"TransformerLens" gives the second test command). Tests of the other release skip and say why; the rest,
icl-measures on TransformerLens-format checkpoints included, run without TransformerLens.
"""

import itertools
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.data.sequences import next_token_loss, periodic_sequences
from icl_dynamics.interop.transformer_bridge import to_transformer_bridge, to_transformer_lens, transformer_bridge_config
from icl_dynamics.measures.summary import circuit_table
from icl_dynamics.interop.transformer_lens import (
    grokking_from_state_dict,
    hooked_transformer_config,
    hooked_transformer_state_dict,
    to_hooked_transformer,
    transformer_lens_major,
    transformer_lens_version,
)
from icl_dynamics.measures import measures_section, ov_circuit_singular_values, qk_circuit_singular_values
from icl_dynamics.measures.cli import main
from icl_dynamics.models.attention_only import POSITIONAL, AttentionOnlyConfig, AttentionOnlyTransformer
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer

torch.set_num_threads(1)

TL_MAJOR = transformer_lens_major()
INSTALLED = f"installed: {transformer_lens_version() or 'none'}"
needs_transformer_lens = pytest.mark.skipif(
    TL_MAJOR is None, reason="TransformerLens is not installed: pip install -e '.[tl]' (3.9.0; CI installs it) "
                             "or '.[tl4]' (4.x)")
needs_tl3 = pytest.mark.skipif(TL_MAJOR != 3, reason=f"needs TransformerLens 3.9 (HookedTransformer), {INSTALLED}")
needs_tl4 = pytest.mark.skipif((TL_MAJOR or 0) < 4, reason=f"needs TransformerLens 4.x (TransformerBridge), "
                                                          f"{INSTALLED}: README 'TransformerLens' gives the command")
# The pinned 3.9.0 warns that HookedTransformer goes away in 4.0; pyproject.toml says why we pin it.
pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")

VOCAB, N_CTX, P = 11, 10, 13
NO_SHORTFORMER = pytest.mark.skipif((TL_MAJOR or 0) >= 4, reason="TransformerLens 4 has no shortformer positions "
                                                                "(test_shortformer_names_the_release_that_has_it)")


def variant(layer_norm: str, positional: str):
    """A (layer_norm, positional) test case, skipped under TransformerLens 4 where it cannot be expressed."""
    return pytest.param(layer_norm, positional, marks=NO_SHORTFORMER if positional == "shortformer" else ())


VARIANTS = [variant(*v) for v in itertools.product(("none", "pre"), POSITIONAL)]


def attention_model(layer_norm: str, positional: str, seed: int = 0) -> AttentionOnlyTransformer:
    """A 2-layer model with weights large enough for every path to matter, LayerNorm gains and biases random."""
    torch.manual_seed(seed)
    model = AttentionOnlyTransformer(AttentionOnlyConfig(
        n_layers=2, d_model=16, n_heads=4, d_head=4, n_ctx=N_CTX, n_outputs=VOCAB, vocab_size=VOCAB,
        layer_norm=layer_norm, positional=positional, init_std=0.3))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.normal_(1.0 if name.endswith("weight") else 0.0, 0.5)
    return model


def grokking_model(seed: int = 0) -> GrokkingTransformer:
    torch.manual_seed(seed)
    return GrokkingTransformer(GrokkingModelConfig(p=P, d_model=16, n_heads=4, d_head=4, d_mlp=32))


def tl_weights(tl_model) -> dict[str, torch.Tensor]:
    """A TransformerLens model's weights under its names: ``HookedTransformer.state_dict()`` (3.x) or
    ``TransformerBridge.tl_parameters()`` (4.x), detached copies."""
    weights = tl_model.tl_parameters() if TL_MAJOR >= 4 else tl_model.state_dict()
    return {key: tensor.detach().clone() for key, tensor in weights.items()}


def random_tl_grokking_model(n_outputs: int):
    """TransformerLens' own randomly initialised grokking architecture with ``n_outputs`` logits."""
    if TL_MAJOR >= 4:
        from transformer_lens import TransformerBridge, TransformerBridgeConfig

        kwargs = {**transformer_bridge_config(grokking_model()), "d_vocab_out": n_outputs}
        return TransformerBridge.boot_native(TransformerBridgeConfig(**kwargs)).eval()
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    return HookedTransformer(HookedTransformerConfig(**{**hooked_transformer_config(grokking_model()),
                                                        "d_vocab_out": n_outputs})).eval()


def assert_same_logits(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Equal to float32 rounding: within 1e-5 of the largest logit."""
    assert theirs.shape == ours.shape
    assert (theirs - ours).abs().max() <= 1e-5 * ours.abs().max()


@needs_transformer_lens
@pytest.mark.parametrize("layer_norm, positional", VARIANTS)
def test_transformer_lens_model_gives_our_logits(layer_norm, positional):
    model = attention_model(layer_norm, positional)
    tl_model = to_transformer_lens(model)
    assert type(tl_model).__name__ == ("TransformerBridge" if TL_MAJOR >= 4 else "HookedTransformer")
    exported, held = hooked_transformer_state_dict(model), tl_weights(tl_model)
    for key, tensor in exported.items():
        assert torch.equal(held[key], tensor), key
    extra = set(held) - set(exported)
    if TL_MAJOR >= 4:  # tl_parameters() fills the MLP an attention-only model lacks with zeros
        assert extra and all(not held[key].any() for key in extra), extra
    else:  # the causal-mask buffers
        assert extra == {f"blocks.{layer}.attn.{name}" for layer in range(2) for name in ("mask", "IGNORE")}
    tokens = torch.randint(0, VOCAB, (4, N_CTX), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_same_logits(model(tokens), tl_model(tokens))


@needs_transformer_lens
@pytest.mark.parametrize("layer_norm, positional", VARIANTS)
def test_attention_patterns_are_ours(layer_norm, positional):
    """TransformerLens' hooks see our attention: ``hook_pattern`` of every layer is our pattern."""
    model = attention_model(layer_norm, positional)
    tokens = torch.randint(0, VOCAB, (4, N_CTX), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        _, patterns = model(tokens, return_attention=True)
        _, cache = to_transformer_lens(model).run_with_cache(tokens)
    for layer in range(2):
        torch.testing.assert_close(cache[f"blocks.{layer}.attn.hook_pattern"], patterns[layer], rtol=0, atol=1e-6)


@needs_transformer_lens
def test_grokking_model_round_trip():
    model = grokking_model()
    tl_model = to_transformer_lens(model)
    tokens = torch.randint(0, P + 1, (6, 3), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_same_logits(model.forward_full(tokens), tl_model(tokens))
    back = grokking_from_state_dict(tl_weights(tl_model))
    assert back.cfg == model.cfg
    for name, parameter in model.named_parameters():
        assert torch.equal(getattr(back, name), parameter), name


@needs_transformer_lens
def test_grokking_import_drops_the_extra_unembedding_column():
    """A TransformerLens grokking model with p + 1 outputs (the '=' token scored too, as in the original code)."""
    torch.manual_seed(2)
    tl_model = random_tl_grokking_model(P + 1)
    model = grokking_from_state_dict(tl_weights(tl_model))
    assert model.W_U.shape == (16, P)
    tokens = torch.randint(0, P + 1, (6, 3), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_same_logits(model(tokens), tl_model(tokens)[:, -1, :P])


@needs_transformer_lens
@pytest.mark.parametrize("layer_norm, positional", [variant("pre", "shortformer"), variant("pre", "learned"),
                                                    variant("none", "learned")])
def test_circuit_spectra_equal_transformer_lens_factored_svd(layer_norm, positional):
    for model in (attention_model(layer_norm, positional), grokking_model()):
        tl_model = to_transformer_lens(model)
        weights = model.head_weights()
        ours = {"QK": qk_circuit_singular_values(weights["W_Q"], weights["W_K"]),
                "OV": ov_circuit_singular_values(weights["W_V"], weights["W_O"])}
        theirs = {"QK": tl_model.QK.svd()[1], "OV": tl_model.OV.svd()[1]}
        for circuit in ours:
            expected = ours[circuit].reshape(theirs[circuit].shape)  # the grokking model has no layer axis
            np.testing.assert_allclose(theirs[circuit].detach().double().numpy(), expected, rtol=1e-5,
                                       atol=1e-6 * expected.max())


def test_bridge_config_refuses_shortformer_naming_the_release_that_has_it():
    """Checked before TransformerLens is imported, so the message is the same with or without it."""
    for layer_norm in ("none", "pre"):
        with pytest.raises(NotImplementedError, match=r"positional 'shortformer'.*TransformerLens 3\.9\.0"):
            transformer_bridge_config(attention_model(layer_norm, "shortformer"))
    assert transformer_bridge_config(attention_model("pre", "none"))["positional_embedding_type"] == "standard"


@needs_tl4
def test_shortformer_names_the_release_that_has_it():
    model = attention_model("pre", "shortformer")
    for export in (to_transformer_lens, to_transformer_bridge):
        with pytest.raises(NotImplementedError,
                           match=r"positional 'shortformer'.*TransformerLens 3\.9\.0 expresses it"):
            export(model)


@needs_tl4
def test_native_bridge_has_no_shortformer_positions():
    """Keeps the refusal above honest: TransformerLens 4's native model itself rejects shortformer positions.
    If a release adds them, this fails: check that they match ours, then export them."""
    from transformer_lens import TransformerBridge, TransformerBridgeConfig

    kwargs = {**transformer_bridge_config(attention_model("pre", "learned")),
              "positional_embedding_type": "shortformer"}
    with pytest.raises((ValueError, NotImplementedError), match="shortformer"):
        TransformerBridge.boot_native(TransformerBridgeConfig(**kwargs))


@needs_tl4
def test_hooked_transformer_under_4x_points_to_the_bridge():
    with pytest.raises(ImportError, match=r"removed in TransformerLens 4\.0.*to_transformer_bridge"):
        to_hooked_transformer(grokking_model())


@needs_tl4
def test_compatibility_mode_without_processing_keeps_our_weights():
    """``enable_compatibility_mode(no_processing=True)`` (HookedTransformer's hook names on the bridge) leaves
    our weights and logits; its default weight processing (LayerNorm folding, centring) would change both."""
    model = attention_model("pre", "learned")
    bridge = to_transformer_bridge(model)
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=True)
    tokens = torch.randint(0, VOCAB, (4, N_CTX), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert_same_logits(model(tokens), bridge(tokens))
    assert torch.equal(bridge.W_Q.detach(), model.head_weights()["W_Q"])


@needs_tl3
def test_bridge_under_3x_asks_for_transformer_lens_4():
    with pytest.raises(ImportError, match=r"needs TransformerLens 4 \(installed: 3\.9\.0\).*\[tl4\]"):
        to_transformer_bridge(grokking_model())


def test_grokking_import_rejects_what_our_model_cannot_hold():
    exported = hooked_transformer_state_dict(grokking_model())
    assert torch.equal(grokking_from_state_dict(exported).W_in, exported["blocks.0.mlp.W_in"])
    with pytest.raises(ValueError, match=r"key 'blocks.0.attn.b_Q' of shape \(4, 4\) is not zero"):
        grokking_from_state_dict({**exported, "blocks.0.attn.b_Q": torch.ones(4, 4)})
    with pytest.raises(ValueError, match=r"keys \['blocks.0.ln1.w'\] are not part of the one-layer grokking model"):
        grokking_from_state_dict({**exported, "blocks.0.ln1.w": torch.ones(16)})
    with pytest.raises(ValueError, match=r"key 'unembed.W_U' has shape \(16, 15\), not \(16, 13\) or \(16, 14\)"):
        grokking_from_state_dict({**exported, "unembed.W_U": torch.zeros(16, 15)})
    with pytest.raises(ValueError, match=r"key 'blocks.0.attn.W_K' has shape \(4, 16, 5\), not \(4, 16, 4\)"):
        grokking_from_state_dict({**exported, "blocks.0.attn.W_K": torch.zeros(4, 16, 5)})


def test_vector_input_models_are_not_exported():
    model = AttentionOnlyTransformer(AttentionOnlyConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, n_ctx=5,
                                                         n_outputs=3, input_dim=6, layer_norm="none",
                                                         positional="learned", init_std=0.02))
    for export in (hooked_transformer_state_dict, transformer_bridge_config):
        with pytest.raises(ValueError, match="vector inputs"):
            export(model)


# icl-measures in a fresh interpreter in which importing transformer_lens fails, as where it is not installed.
CLI_WITHOUT_TRANSFORMER_LENS = ("import sys; sys.modules['transformer_lens'] = None; "
                                "from icl_dynamics.measures.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("source, positional", [
    ("ours", "shortformer"),
    pytest.param("transformer_lens", "learned", marks=needs_transformer_lens)])
def test_icl_measures_on_exported_checkpoints_equal_the_workflows_measures(tmp_path, source, positional):
    """A model trained a few steps, saved in TransformerLens' format at each checkpoint (by us, or read back
    from the TransformerLens model: ``state_dict()`` in 3.x, ``tl_parameters()`` in 4.x): ``icl-measures
    --circuits`` gives the numbers of the workflow's own circuit measures of the same run. On our files it
    runs in an interpreter where TransformerLens cannot be imported (as where it is not installed)."""
    model = attention_model("pre", positional)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps, recorded = [0, 3, 10, 30], []
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for step in range(steps[-1] + 1):
        if step in steps:
            state_dict = (hooked_transformer_state_dict(model) if source == "ours"
                          else tl_weights(to_transformer_lens(model)))
            torch.save(state_dict, folder / f"ckpt_{step}.pt")
            recorded.append(model.head_weights())
        tokens = periodic_sequences(8, N_CTX, VOCAB, 2, 4, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        next_token_loss(model(tokens), tokens).backward()
        optimizer.step()
    checkpoints = {"step": torch.tensor(steps), **{name: torch.stack([w[name] for w in recorded])
                                                   for name in recorded[0]}}
    workflow = circuit_table(checkpoints, measures_section(), n_layers=2, seed=0).drop(columns=["n_layers", "seed"])
    arguments = [str(folder), "-o", str(tmp_path / "m.csv"), "--circuits"]
    if source == "ours":
        run = subprocess.run([sys.executable, "-c", CLI_WITHOUT_TRANSFORMER_LENS, *arguments], capture_output=True,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert run.returncode == 0, run.stderr
    else:
        assert main(arguments) == 0
    ours = pd.read_csv(tmp_path / "m.csv")
    index = ["step", "series", "layer", "head", "measure"]
    workflow, ours = (table.set_index(index)["value"].sort_index() for table in (workflow, ours))
    assert ours.index.equals(workflow.index)
    np.testing.assert_allclose(ours.to_numpy(), workflow.to_numpy(), rtol=1e-12, atol=1e-15)


def test_blocked_import_is_what_the_cli_test_relies_on():
    """The interpreter of the icl-measures test cannot import TransformerLens, whether or not it is installed."""
    code = "import sys; sys.modules['transformer_lens'] = None; import transformer_lens.utilities"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0 and "ModuleNotFoundError" in run.stderr, run.stderr
