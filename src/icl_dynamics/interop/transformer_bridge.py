"""Our transformers as TransformerLens 4 ``TransformerBridge`` models (the extra ``tl4``).

TransformerLens 4 removed ``HookedTransformer``; a model built from a config without a model hub is a
``TransformerBridge`` around its native transformer (``TransformerBridge.boot_native`` with a
``TransformerBridgeConfig``), and weights in the TransformerLens property format (``blocks.{l}.attn.W_Q``
..., :func:`~icl_dynamics.interop.transformer_lens.hooked_transformer_state_dict`) reach it through
``transformer_lens.utilities.tl_checkpoint_conversion.convert_tl_checkpoint``, which reshapes each per-head
weight into the native model's ``nn.Linear`` layout. The bridge config holds the same fields as the
``HookedTransformerConfig`` of :func:`~icl_dynamics.interop.transformer_lens.hooked_transformer_config`,
so the correspondence described there holds, with one exception:

- the native model adds positions to the residual stream (``"standard"``) or rotates queries and keys
  (``"rotary"``); it has no shortformer positions (``W_pos`` added to the query and key inputs only), so
  an attention-only model with ``positional: shortformer`` raises :class:`NotImplementedError` naming
  TransformerLens 3.9.0, whose ``HookedTransformer`` expresses it. ``learned`` and ``none`` (a zero
  ``W_pos``) with either ``layer_norm`` are exported, and so is the grokking model.

The bridge holds the weights unprocessed (no LayerNorm folding, no centring), as the export to
TransformerLens 3.9 does: ``bridge.QK`` and ``bridge.OV`` are the circuits our measures read, and
``bridge.tl_parameters()`` gives the weights back under TransformerLens' names (what ``icl-measures
--circuits`` and :func:`~icl_dynamics.interop.transformer_lens.grokking_from_state_dict` read). Calling the
bridge's ``enable_compatibility_mode()`` with its default weight processing would fold the LayerNorm gains
into the weights; ``enable_compatibility_mode(no_processing=True)`` keeps them as they are.
"""

from __future__ import annotations

from icl_dynamics.interop.transformer_lens import (
    hooked_transformer_config,
    hooked_transformer_state_dict,
    to_hooked_transformer,
    transformer_lens_major,
    transformer_lens_version,
)
from icl_dynamics.models.attention_only import AttentionOnlyTransformer
from icl_dynamics.models.grokking import GrokkingTransformer

SHORTFORMER_RELEASE = "3.9.0"
"""The TransformerLens release (the extra ``tl``) that expresses shortformer positions."""


def transformer_bridge_config(model: AttentionOnlyTransformer | GrokkingTransformer) -> dict:
    """Keyword arguments of TransformerLens 4's ``TransformerBridgeConfig`` describing ``model``.

    The fields of :func:`~icl_dynamics.interop.transformer_lens.hooked_transformer_config` but the device,
    which ``TransformerBridge.boot_native`` takes; no TransformerLens import.

    Raises
    ------
    NotImplementedError
        For an attention-only model with shortformer positions, naming the TransformerLens release that
        has them.
    ValueError
        For an attention-only model with vector inputs (``input_dim``): TransformerLens embeds token ids.
    """
    if isinstance(model, AttentionOnlyTransformer) and model.cfg.positional == "shortformer":
        raise NotImplementedError(
            "positional 'shortformer' (W_pos added to the query and key inputs of every layer, never to the "
            "residual stream) cannot become a TransformerBridge: the native model of TransformerLens 4 has "
            "positional_embedding_type 'standard' or 'rotary' only (installed TransformerLens: "
            f"{transformer_lens_version() or 'none'}). TransformerLens {SHORTFORMER_RELEASE} expresses it "
            "(HookedTransformer, positional_embedding_type='shortformer'): pip install -e '.[tl]' and use "
            "to_hooked_transformer")
    kwargs = hooked_transformer_config(model)
    del kwargs["device"]
    return kwargs


def to_transformer_bridge(model: AttentionOnlyTransformer | GrokkingTransformer):
    """A TransformerLens 4 ``TransformerBridge`` (in eval mode) that computes the same logits as ``model``.

    ``TransformerBridge.boot_native(TransformerBridgeConfig(**transformer_bridge_config(model)))`` on the
    device and in the dtype of ``model``, then ``load_state_dict(convert_tl_checkpoint(
    hooked_transformer_state_dict(model), cfg), strict=True)``: every weight is ours (TransformerLens'
    random initialisation is overwritten), the attention and unembedding biases are zero.

    Raises
    ------
    NotImplementedError
        For shortformer positions (:func:`transformer_bridge_config`), before TransformerLens is imported.
    ImportError
        When TransformerLens 4 is not installed (``pip install -e ".[tl4]"``).
    """
    kwargs = transformer_bridge_config(model)
    if (transformer_lens_major() or 0) < 4:
        raise ImportError(f"TransformerBridge export needs TransformerLens 4 (installed: "
                          f"{transformer_lens_version()}): pip install -e '.[tl4]'; with TransformerLens 3.9 use "
                          "to_hooked_transformer")
    from transformer_lens import TransformerBridge, TransformerBridgeConfig
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    cfg = TransformerBridgeConfig(**kwargs)
    bridge = TransformerBridge.boot_native(cfg, device=model.W_E.device, dtype=model.W_E.dtype,
                                           model_name=type(model).__name__)
    bridge.load_state_dict(convert_tl_checkpoint(hooked_transformer_state_dict(model), cfg), strict=True)
    return bridge.eval()


def to_transformer_lens(model: AttentionOnlyTransformer | GrokkingTransformer):
    """``model`` in the installed TransformerLens: a ``HookedTransformer`` under 3.x
    (:func:`~icl_dynamics.interop.transformer_lens.to_hooked_transformer`), a ``TransformerBridge`` under 4.x
    (:func:`to_transformer_bridge`, which refuses shortformer
    positions). Either computes the same logits as ``model`` and holds its weights unprocessed.
    """
    major = transformer_lens_major()
    if major is None:
        raise ImportError("TransformerLens is not installed: pip install -e '.[tl]' (3.9.0) or -e '.[tl4]' (4.x)")
    if major >= 4:
        return to_transformer_bridge(model)
    return to_hooked_transformer(model)
