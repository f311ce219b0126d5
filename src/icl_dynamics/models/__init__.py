"""The models: the linear transformer (``linear_attention``), attention-only transformers
(``attention_only``) and the one-layer grokking transformer (``grokking``).

Both transformers give their per-head weights the same way: ``head_weights()`` returns
:data:`HEAD_WEIGHTS` (``W_Q, W_K, W_V`` of shape (..., heads, d_model, d_head), ``W_O`` of shape
(..., heads, d_head, d_model)), and the properties ``QK`` and ``OV`` the dense circuits.
"""

HEAD_WEIGHTS = ("W_Q", "W_K", "W_V", "W_O")
