"""The models: the linear transformer (``linear_attention``), attention-only transformers
(``attention_only``) and the one-layer grokking transformer (``grokking``).

Both transformers give their per-head weights the same way, in one layout (TransformerLens' order, with a
layer axis also for the one-layer grokking model): ``head_weights()`` returns :data:`HEAD_WEIGHTS`
(``W_Q, W_K, W_V`` of shape (layers, heads, d_model, d_head), ``W_O`` of shape (layers, heads, d_head,
d_model)), and the properties ``QK`` and ``OV`` the dense circuits (layers, heads, d_model, d_model). A
checkpoint stack adds a leading step axis, so one :func:`icl_dynamics.measures.summary.circuit_table`
serves every experiment.
"""

HEAD_WEIGHTS = ("W_Q", "W_K", "W_V", "W_O")
