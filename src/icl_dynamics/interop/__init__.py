"""Exchange of models with other interpretability tools (:mod:`.transformer_lens`).

Nothing here is imported by the training or measuring code, so the optional packages it uses (the extra
``tl``) are needed only by those who use it.
"""
