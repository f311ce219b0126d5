"""Exchange of models with other interpretability tools: TransformerLens 3.9 (:mod:`.transformer_lens`,
``HookedTransformer``, the extra ``tl``) and 4.x (:mod:`.transformer_bridge`, ``TransformerBridge``, the extra
``tl4``).

Nothing here is imported by the training or measuring code, and only the functions that build a
TransformerLens model import TransformerLens, so the optional packages are needed only by those who use them.
"""
