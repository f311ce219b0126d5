"""Our models in TransformerLens and back (icl_dynamics.interop.transformer_lens), and icl-measures on the
exported checkpoints.

The tests that build a HookedTransformer need the optional extra ``tl`` (CI installs it); the others run
without it.
"""

import importlib.util
import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from icl_dynamics.data.sequences import next_token_loss, periodic_sequences
from icl_dynamics.measures.summary import circuit_table
from icl_dynamics.interop.transformer_lens import (
    grokking_from_state_dict,
    hooked_transformer_config,
    hooked_transformer_state_dict,
    to_hooked_transformer,
)
from icl_dynamics.measures import measures_section, ov_circuit_singular_values, qk_circuit_singular_values
from icl_dynamics.measures.cli import main
from icl_dynamics.models.attention_only import POSITIONAL, AttentionOnlyConfig, AttentionOnlyTransformer
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer

torch.set_num_threads(1)

needs_transformer_lens = pytest.mark.skipif(
    importlib.util.find_spec("transformer_lens") is None,
    reason="transformer_lens is not installed: pip install -e '.[tl]' (CI installs it)")
# The pinned 3.9.0 warns that HookedTransformer goes away in 4.0; pyproject.toml says why we pin it.
pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")

VOCAB, N_CTX, P = 11, 10, 13
VARIANTS = list(itertools.product(("none", "pre"), POSITIONAL))


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


def assert_same_logits(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Equal to float32 rounding: within 1e-5 of the largest logit."""
    assert theirs.shape == ours.shape
    assert (theirs - ours).abs().max() <= 1e-5 * ours.abs().max()


@needs_transformer_lens
@pytest.mark.parametrize("layer_norm, positional", VARIANTS)
def test_hooked_transformer_gives_our_logits(layer_norm, positional):
    model = attention_model(layer_norm, positional)
    hooked = to_hooked_transformer(model)
    exported = hooked_transformer_state_dict(model)
    buffers = {f"blocks.{layer}.attn.{name}" for layer in range(2) for name in ("mask", "IGNORE")}
    assert set(hooked.state_dict()) - set(exported) == buffers
    assert set(exported) <= set(hooked.state_dict())
    tokens = torch.randint(0, VOCAB, (4, N_CTX), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_same_logits(model(tokens), hooked(tokens))


@needs_transformer_lens
def test_grokking_model_round_trip():
    model = grokking_model()
    hooked = to_hooked_transformer(model)
    tokens = torch.randint(0, P + 1, (6, 3), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_same_logits(model.forward_full(tokens), hooked(tokens))
    back = grokking_from_state_dict(hooked.state_dict())
    assert back.cfg == model.cfg
    for name, parameter in model.named_parameters():
        assert torch.equal(getattr(back, name), parameter), name


@needs_transformer_lens
def test_grokking_import_drops_the_extra_unembedding_column():
    """A TransformerLens grokking model with p + 1 outputs (the '=' token scored too, as in the original code)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(2)
    hooked = HookedTransformer(HookedTransformerConfig(**{**hooked_transformer_config(grokking_model()),
                                                          "d_vocab_out": P + 1})).eval()
    model = grokking_from_state_dict(hooked.state_dict())
    assert model.W_U.shape == (16, P)
    tokens = torch.randint(0, P + 1, (6, 3), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_same_logits(model(tokens), hooked(tokens)[:, -1, :P])


@needs_transformer_lens
@pytest.mark.parametrize("layer_norm, positional", [("pre", "shortformer"), ("none", "learned")])
def test_circuit_spectra_equal_transformer_lens_factored_svd(layer_norm, positional):
    for model in (attention_model(layer_norm, positional), grokking_model()):
        hooked = to_hooked_transformer(model)
        weights = model.head_weights()
        ours = {"QK": qk_circuit_singular_values(weights["W_Q"], weights["W_K"]),
                "OV": ov_circuit_singular_values(weights["W_V"], weights["W_O"])}
        theirs = {"QK": hooked.QK.svd()[1], "OV": hooked.OV.svd()[1]}
        for circuit in ours:
            expected = ours[circuit].reshape(theirs[circuit].shape)  # the grokking model has no layer axis
            np.testing.assert_allclose(theirs[circuit].detach().double().numpy(), expected, rtol=1e-5,
                                       atol=1e-6 * expected.max())


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
    with pytest.raises(ValueError, match="vector inputs"):
        hooked_transformer_state_dict(model)


def test_icl_measures_on_exported_checkpoints_equal_the_workflows_measures(tmp_path):
    """A model trained a few steps, saved in TransformerLens' format at each checkpoint: ``icl-measures
    --circuits`` gives the numbers of the workflow's own circuit measures of the same run."""
    model = attention_model("pre", "shortformer")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps, recorded = [0, 3, 10, 30], []
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for step in range(steps[-1] + 1):
        if step in steps:
            torch.save(hooked_transformer_state_dict(model), folder / f"ckpt_{step}.pt")
            recorded.append(model.head_weights())
        tokens = periodic_sequences(8, N_CTX, VOCAB, 2, 4, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        next_token_loss(model(tokens), tokens).backward()
        optimizer.step()
    checkpoints = {"step": torch.tensor(steps), **{name: torch.stack([w[name] for w in recorded])
                                                   for name in recorded[0]}}
    workflow = circuit_table(checkpoints, measures_section(), n_layers=2, seed=0).drop(columns=["n_layers", "seed"])
    assert main([str(folder), "-o", str(tmp_path / "m.csv"), "--circuits"]) == 0
    ours = pd.read_csv(tmp_path / "m.csv")
    index = ["step", "series", "layer", "head", "measure"]
    workflow, ours = (table.set_index(index)["value"].sort_index() for table in (workflow, ours))
    assert ours.index.equals(workflow.index)
    np.testing.assert_allclose(ours.to_numpy(), workflow.to_numpy(), rtol=1e-12, atol=1e-15)
