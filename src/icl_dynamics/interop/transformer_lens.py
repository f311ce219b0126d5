"""Our transformers as TransformerLens models, and TransformerLens grokking models as ours.

The TransformerLens format (plain tensors and dicts; nothing here imports TransformerLens, so
``icl-measures --circuits`` and the import below work without it):

- :func:`hooked_transformer_config`: the keyword arguments of ``HookedTransformerConfig`` for an
  :class:`~icl_dynamics.models.attention_only.AttentionOnlyTransformer` (token inputs) or a
  :class:`~icl_dynamics.models.grokking.GrokkingTransformer`;
- :func:`hooked_transformer_state_dict`: the weights under TransformerLens' names (its property format,
  ``blocks.{l}.attn.W_Q`` ...), which both TransformerLens 3 and 4 read.

Export, by installed release (:func:`transformer_lens_version`):

- :func:`to_hooked_transformer`: TransformerLens 3.9 (the extra ``tl``), a ``HookedTransformer``;
- :func:`~icl_dynamics.interop.transformer_bridge.to_transformer_bridge`: TransformerLens 4 (the extra
  ``tl4``), which removed ``HookedTransformer``, a ``TransformerBridge`` around a native model;
- :func:`~icl_dynamics.interop.transformer_bridge.to_transformer_lens`: whichever of the two the installed
  release has. Both compute our logits.

Import: :func:`grokking_from_state_dict` turns a TransformerLens state dict of the one-layer grokking model
(e.g. the published checkpoints of Nanda et al. (2023) as converted for TransformerLens, whose unembedding has
p + 1 outputs; ``HookedTransformer.state_dict()`` in 3.x, ``TransformerBridge.tl_parameters()`` in 4.x) into a
:class:`~icl_dynamics.models.grokking.GrokkingTransformer`.

How the models correspond:

- per-head ``W_Q, W_K, W_V`` (heads, d_model, d_head) and ``W_O`` (heads, d_head, d_model) are stored as
  TransformerLens stores them (``blocks.{l}.attn.W_Q`` ...); its biases ``b_Q, b_K, b_V, b_O`` and ``b_U``
  are zero (our models have none);
- ``layer_norm: pre`` is ``normalization_type="LN"`` (``ln1`` before each attention layer and ``ln_final``,
  gain ``w`` and bias ``b``), ``none`` is ``normalization_type=None``. The weights are loaded without
  TransformerLens' weight processing (``fold_ln=False``, no centring), so its ``W_Q`` ... ``W_O`` are ours as
  stored and its ``QK``/``OV`` circuits are the ones our measures read;
- ``positional: learned`` is ``positional_embedding_type="standard"``; ``shortformer`` is ``"shortformer"``
  (TransformerLens 3.9 adds ``W_pos`` to the query and key inputs after ``ln1``, never to the residual stream,
  as ours does; TransformerLens 4 has no such model); ``none`` is ``"standard"`` with a zero ``W_pos``, since
  TransformerLens has no model without a positional embedding;
- the grokking model is one layer with a ReLU MLP (``blocks.0.mlp.W_in`` (d_model, d_mlp), ``b_in``, ``W_out``
  (d_mlp, d_model), ``b_out``) and no LayerNorm; its vocabulary is p + 1 (the ``=`` token) and it has p outputs.
"""

from __future__ import annotations

import importlib.metadata
import re

import torch

from icl_dynamics.models import HEAD_WEIGHTS
from icl_dynamics.models.attention_only import AttentionOnlyTransformer
from icl_dynamics.models.grokking import GrokkingModelConfig, GrokkingTransformer

GROKKING_WEIGHTS = {"embed.W_E": "W_E", "pos_embed.W_pos": "W_pos", "blocks.0.mlp.W_in": "W_in",
                    "blocks.0.mlp.b_in": "b_in", "blocks.0.mlp.W_out": "W_out", "blocks.0.mlp.b_out": "b_out",
                    "unembed.W_U": "W_U", **{f"blocks.0.attn.{name}": name for name in HEAD_WEIGHTS}}
"""TransformerLens' key of every weight of :class:`GrokkingTransformer`, and our name of it."""

ZERO_BIASES = ("blocks.0.attn.b_Q", "blocks.0.attn.b_K", "blocks.0.attn.b_V", "blocks.0.attn.b_O")
"""Biases of a TransformerLens grokking model that ours lacks: the import requires them to be zero."""

BUFFERS = ("blocks.0.attn.mask", "blocks.0.attn.IGNORE")
"""TransformerLens' attention buffers (the causal mask), which hold no weights."""


def _tensor(parameter: torch.Tensor) -> torch.Tensor:
    return parameter.detach().clone()


def _zero_biases(like: torch.Tensor, n_layers: int, n_heads: int, d_head: int, d_model: int,
                 n_outputs: int) -> dict[str, torch.Tensor]:
    """Zero ``b_Q, b_K, b_V`` (heads, d_head) and ``b_O`` (d_model) of every layer, and a zero ``b_U``."""
    out = {"unembed.b_U": like.new_zeros(n_outputs)}
    for layer in range(n_layers):
        out.update({f"blocks.{layer}.attn.b_{x}": like.new_zeros(n_heads, d_head) for x in "QKV"})
        out[f"blocks.{layer}.attn.b_O"] = like.new_zeros(d_model)
    return out


def _require_tokens(cfg) -> None:
    if cfg.vocab_size is None:
        raise ValueError(f"a model with vector inputs (input_dim {cfg.input_dim}) has no token embedding, which "
                         "TransformerLens needs")


def hooked_transformer_config(model: AttentionOnlyTransformer | GrokkingTransformer) -> dict:
    """Keyword arguments of TransformerLens' ``HookedTransformerConfig`` describing ``model``.

    Raises
    ------
    ValueError
        For an attention-only model with vector inputs (``input_dim``): TransformerLens embeds token ids.
    """
    cfg = model.cfg
    common = {"dtype": model.W_E.dtype, "device": str(model.W_E.device)}
    if isinstance(model, GrokkingTransformer):
        return {**common, "n_layers": 1, "d_model": cfg.d_model, "n_heads": cfg.n_heads, "d_head": cfg.d_head,
                "d_mlp": cfg.d_mlp, "act_fn": "relu", "n_ctx": cfg.n_ctx, "d_vocab": cfg.p + 1, "d_vocab_out": cfg.p,
                "normalization_type": None, "positional_embedding_type": "standard"}
    _require_tokens(cfg)
    out = {**common, "n_layers": cfg.n_layers, "d_model": cfg.d_model, "n_heads": cfg.n_heads, "d_head": cfg.d_head,
           "attn_only": True, "n_ctx": cfg.n_ctx, "d_vocab": cfg.vocab_size, "d_vocab_out": cfg.n_outputs,
           "normalization_type": "LN" if cfg.layer_norm == "pre" else None,
           "positional_embedding_type": "shortformer" if cfg.positional == "shortformer" else "standard"}
    if cfg.layer_norm == "pre":
        out["eps"] = model.final_norm.eps
    return out


def hooked_transformer_state_dict(model: AttentionOnlyTransformer | GrokkingTransformer) -> dict[str, torch.Tensor]:
    """The weights of ``model`` under TransformerLens' names and in its shapes (copies), zero biases included.

    Load them into a ``HookedTransformer`` built from :func:`hooked_transformer_config` without weight
    processing: ``load_and_process_state_dict(state_dict, fold_ln=False, center_writing_weights=False,
    center_unembed=False, fold_value_biases=False)`` (:func:`to_hooked_transformer` does).
    """
    cfg = model.cfg
    if isinstance(model, GrokkingTransformer):
        out = {key: _tensor(getattr(model, name)) for key, name in GROKKING_WEIGHTS.items()}
        return {**out, **_zero_biases(model.W_E, 1, cfg.n_heads, cfg.d_head, cfg.d_model, cfg.p)}
    _require_tokens(cfg)
    W_pos = model.W_pos if model.W_pos is not None else model.W_E.new_zeros(cfg.n_ctx, cfg.d_model)
    out = {"embed.W_E": _tensor(model.W_E), "pos_embed.W_pos": _tensor(W_pos), "unembed.W_U": _tensor(model.W_U)}
    for index, layer in enumerate(model.layers):
        out.update({f"blocks.{index}.attn.{name}": _tensor(getattr(layer, name)) for name in HEAD_WEIGHTS})
        if cfg.layer_norm == "pre":
            out[f"blocks.{index}.ln1.w"] = _tensor(layer.norm.weight)
            out[f"blocks.{index}.ln1.b"] = _tensor(layer.norm.bias)
    if cfg.layer_norm == "pre":
        out["ln_final.w"] = _tensor(model.final_norm.weight)
        out["ln_final.b"] = _tensor(model.final_norm.bias)
    return {**out, **_zero_biases(model.W_E, cfg.n_layers, cfg.n_heads, cfg.d_head, cfg.d_model, cfg.n_outputs)}


def transformer_lens_version() -> str | None:
    """The installed TransformerLens release (e.g. ``"3.9.0"``), or None when it is not installed.

    Read from the package metadata, so TransformerLens is not imported.
    """
    try:
        return importlib.metadata.version("transformer-lens")
    except importlib.metadata.PackageNotFoundError:
        return None


def transformer_lens_major() -> int | None:
    """The major version of the installed TransformerLens (3 has ``HookedTransformer``, 4 ``TransformerBridge``
    only), or None when it is not installed."""
    version = transformer_lens_version()
    return None if version is None else int(re.match(r"\d+", version).group())


def to_hooked_transformer(model: AttentionOnlyTransformer | GrokkingTransformer):
    """A TransformerLens ``HookedTransformer`` (in eval mode) that computes the same logits as ``model``.

    Needs TransformerLens 3 (``pip install -e ".[tl]"``, 3.9.0).

    Raises
    ------
    ImportError
        Under TransformerLens 4, which removed ``HookedTransformer``, pointing to
        :func:`~icl_dynamics.interop.transformer_bridge.to_transformer_bridge`.
    """
    if (transformer_lens_major() or 0) >= 4:
        raise ImportError(f"HookedTransformer was removed in TransformerLens 4.0 (installed: "
                          f"{transformer_lens_version()}): use icl_dynamics.interop.transformer_bridge."
                          "to_transformer_bridge (or to_transformer_lens), or install TransformerLens 3.9.0 "
                          "(pip install -e '.[tl]')")
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    hooked = HookedTransformer(HookedTransformerConfig(**hooked_transformer_config(model)))
    hooked.load_and_process_state_dict(hooked_transformer_state_dict(model), fold_ln=False,
                                       center_writing_weights=False, center_unembed=False, fold_value_biases=False)
    return hooked.eval()

def grokking_from_state_dict(state_dict: dict[str, torch.Tensor]) -> GrokkingTransformer:
    """Our grokking model holding the weights of a TransformerLens state dict of the one-layer grokking model.

    The sizes are read from the shapes: vocabulary p + 1 from ``embed.W_E``, heads and d_head from ``W_Q``,
    d_mlp from ``W_in``, the context from ``W_pos``. An unembedding ``unembed.W_U`` with p + 1 outputs (the
    original code's, which also scores the ``=`` token) loses its last column; with p it is taken whole.

    Raises
    ------
    ValueError
        Naming the key (and its shape) of a missing weight, a weight of the wrong shape, a nonzero bias our
        model lacks (``b_Q, b_K, b_V, b_O``, ``b_U``) or a key that is not part of the grokking model (e.g. a
        LayerNorm or a second layer).
    """
    unknown = sorted(set(state_dict) - set(GROKKING_WEIGHTS) - set(ZERO_BIASES) - set(BUFFERS) - {"unembed.b_U"})
    if unknown:
        raise ValueError(f"keys {unknown} are not part of the one-layer grokking model (no LayerNorm, one layer)")
    missing = [key for key in GROKKING_WEIGHTS if key not in state_dict]
    if missing:
        raise ValueError(f"the state dict lacks {missing}")
    for key, ndim in (("embed.W_E", 2), ("blocks.0.attn.W_Q", 3), ("blocks.0.mlp.W_in", 2), ("pos_embed.W_pos", 2)):
        if state_dict[key].ndim != ndim:
            raise ValueError(f"key '{key}' has shape {tuple(state_dict[key].shape)}, not {ndim}-D")
    vocab, d_model = state_dict["embed.W_E"].shape
    n_heads, _, d_head = state_dict["blocks.0.attn.W_Q"].shape
    cfg = GrokkingModelConfig(p=vocab - 1, d_model=d_model, n_heads=n_heads, d_head=d_head,
                              d_mlp=state_dict["blocks.0.mlp.W_in"].shape[1],
                              n_ctx=state_dict["pos_embed.W_pos"].shape[0])
    W_U = state_dict["unembed.W_U"]
    if tuple(W_U.shape) not in ((d_model, cfg.p), (d_model, cfg.p + 1)):
        raise ValueError(f"key 'unembed.W_U' has shape {tuple(W_U.shape)}, not ({d_model}, {cfg.p}) or "
                         f"({d_model}, {cfg.p + 1}) for p = {cfg.p} from embed.W_E {(vocab, d_model)}")
    biases = {key: state_dict[key] for key in ZERO_BIASES if key in state_dict}
    if "unembed.b_U" in state_dict:
        biases["unembed.b_U"] = state_dict["unembed.b_U"][: cfg.p]
    for key, bias in biases.items():
        if torch.count_nonzero(bias):
            raise ValueError(f"key '{key}' of shape {tuple(bias.shape)} is not zero: our grokking model has no "
                             "such bias")
    model = GrokkingTransformer(cfg)
    with torch.no_grad():
        for key, name in GROKKING_WEIGHTS.items():
            parameter = getattr(model, name)
            tensor = state_dict[key][:, : cfg.p] if key == "unembed.W_U" else state_dict[key]
            if tensor.shape != parameter.shape:
                raise ValueError(f"key '{key}' has shape {tuple(tensor.shape)}, not {tuple(parameter.shape)} as the "
                                 f"sizes read from the other weights want ({cfg})")
            parameter.copy_(tensor)
    return model
