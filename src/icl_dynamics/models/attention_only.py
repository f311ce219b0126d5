"""Attention-only transformer with explicit per-head weights (Elhage et al. 2021 notation).

Each layer ``l`` has, per head ``h``, ``W_Q[h], W_K[h], W_V[h]`` of shape ``(d_model, d_head)`` and
``W_O[h]`` of shape ``(d_head, d_model)``, stored as ``(heads, d_model, d_head)`` and
``(heads, d_head, d_model)``. With residual stream ``x`` (rows are positions) a layer adds

    sum_h  softmax_causal( a W_Q[h] W_K[h]^T a^T / sqrt(d_head) ) n(x) W_V[h] W_O[h]

where ``n`` is the identity (``layer_norm = "none"``) or a LayerNorm with gain and bias before each layer
(``"pre"``, which also puts a LayerNorm before the unembedding), and ``a`` is the query/key input: ``n(x)``,
or ``n(x) + W_pos`` with shortformer positions. No MLPs and no biases.

Positions (``positional``):

- ``learned``: ``W_pos`` is added to the embedding, so it enters the residual stream;
- ``shortformer``: ``W_pos`` is added only to the query and key inputs of every layer (after its
  LayerNorm), never to the residual stream or the values: only the attention pattern sees positions;
- ``none``: no positional information at all.

The QK circuit of a head is ``W_Q[h] W_K[h]^T`` and its OV circuit ``W_V[h] W_O[h]``, both ``d_model x
d_model`` (:attr:`AttentionOnlyTransformer.QK`, :attr:`~AttentionOnlyTransformer.OV`, as in
TransformerLens). The LayerNorm gains and biases are not part of them: the measures read the circuits of
the weights as stored, i.e. of the normalised stream, which is the convention of TransformerLens without
weight processing (``fold_ln=False``). Folding a gain ``g`` in would turn QK into ``diag(g) W_Q W_K^T
diag(g)``; we do not, so that every variant is measured the same way.

Inputs are token ids (``vocab_size``, embedding ``W_E``) or vectors (``input_dim``, a linear embedding,
used by the bursty classification task). The unembedding ``W_U`` maps the final residual stream (after
the final LayerNorm in the pre-LN model) to ``n_outputs`` logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icl_dynamics.models import HEAD_WEIGHTS


POSITIONAL = ("learned", "shortformer", "none")


@dataclass
class AttentionOnlyConfig:
    """Shape and options of the model. Exactly one of ``vocab_size`` and ``input_dim`` is set.

    Every choice is required: the defaults live in one place, the ``attention.model`` schema
    (``schemas/attention.schema.yaml``), which :func:`icl_dynamics.experiments.attention.run.build_model`
    reads. ``vocab_size`` and ``input_dim`` default to None only because exactly one of them is set.
    """

    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    n_ctx: int
    n_outputs: int
    layer_norm: str  # "none" | "pre"
    positional: str  # "learned" | "shortformer" | "none"
    init_std: float
    vocab_size: int | None = None
    input_dim: int | None = None

    def __post_init__(self):
        if (self.vocab_size is None) == (self.input_dim is None):
            raise ValueError("set exactly one of vocab_size (token inputs) and input_dim (vector inputs)")
        if self.layer_norm not in ("none", "pre"):
            raise ValueError(f"layer_norm {self.layer_norm!r} not in ('none', 'pre')")
        if self.positional not in POSITIONAL:
            raise ValueError(f"positional {self.positional!r} not in {POSITIONAL}")


class AttentionLayer(nn.Module):
    """One causal multi-head attention layer with per-head ``W_Q, W_K, W_V, W_O``, added to the residual."""

    def __init__(self, cfg: AttentionOnlyConfig):
        super().__init__()
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.randn(h, d, e) * cfg.init_std)
        self.W_K = nn.Parameter(torch.randn(h, d, e) * cfg.init_std)
        self.W_V = nn.Parameter(torch.randn(h, d, e) * cfg.init_std)
        self.W_O = nn.Parameter(torch.randn(h, e, d) * cfg.init_std)
        self.norm = nn.LayerNorm(d) if cfg.layer_norm == "pre" else nn.Identity()
        self.scale = 1.0 / math.sqrt(e)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, return_pattern: bool = False,
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` (batch, seq, d_model) -> (residual stream after the layer, attention (batch, heads, seq, seq)
        when ``return_pattern`` else None). ``pos`` (seq, d_model): shortformer positions, added to the
        query and key inputs only.

        Without the pattern, the causal softmax runs in torch's fused ``scaled_dot_product_attention``,
        which computes the same layer without materialising the pattern (faster: see
        ``benchmarks/bench_attention.py``); with it, the pattern is computed explicitly.
        """
        n = self.norm(x)
        qk_input = n if pos is None else n + pos
        q = torch.einsum("bsd,hde->bhse", qk_input, self.W_Q)
        k = torch.einsum("bsd,hde->bhse", qk_input, self.W_K)
        v = torch.einsum("bsd,hde->bhse", n, self.W_V)
        if return_pattern:
            scores = torch.einsum("bhqe,bhke->bhqk", q, k) * self.scale
            seq = x.shape[1]
            future = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=x.device), diagonal=1)
            pattern = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
            z = torch.einsum("bhqk,bhke->bhqe", pattern, v)
        else:
            pattern = None
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        out = torch.einsum("bhqe,hed->bqd", z, self.W_O)
        return x + out, pattern


class AttentionOnlyTransformer(nn.Module):
    """1-4 (or more) attention-only layers on a residual stream with embeddings and unembedding."""

    def __init__(self, cfg: AttentionOnlyConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        if cfg.vocab_size is not None:
            self.W_E = nn.Parameter(torch.randn(cfg.vocab_size, d) * cfg.init_std)
        else:
            self.W_E = nn.Parameter(torch.randn(cfg.input_dim, d) * cfg.init_std)
        self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, d) * cfg.init_std) if cfg.positional != "none" else None
        self.layers = nn.ModuleList(AttentionLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(d) if cfg.layer_norm == "pre" else nn.Identity()
        self.W_U = nn.Parameter(torch.randn(d, cfg.n_outputs) * cfg.init_std)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Token ids (batch, seq) or vectors (batch, seq, input_dim) -> residual stream (batch, seq, d_model);
        learned positions are added here, shortformer ones in each layer."""
        x = self.W_E[inputs] if self.cfg.vocab_size is not None else inputs @ self.W_E
        if self.cfg.positional == "learned":
            x = x + self.W_pos[: x.shape[1]]
        return x

    def forward(self, inputs: torch.Tensor, return_attention: bool = False):
        """Logits (batch, seq, n_outputs); with ``return_attention`` also the patterns
        (layers, batch, heads, seq, seq)."""
        x = self.embed(inputs)
        pos = self.W_pos[: x.shape[1]] if self.cfg.positional == "shortformer" else None
        patterns = []
        for layer in self.layers:
            x, pattern = layer(x, pos=pos, return_pattern=return_attention)
            patterns.append(pattern)
        logits = self.final_norm(x) @ self.W_U
        if return_attention:
            return logits, torch.stack(patterns)
        return logits

    def head_weights(self) -> dict[str, torch.Tensor]:
        """Per-head weights stacked over layers, detached, float32 on CPU:
        ``W_Q, W_K, W_V`` (layers, heads, d_model, d_head), ``W_O`` (layers, heads, d_head, d_model)."""
        return {name: torch.stack([getattr(layer, name).detach() for layer in self.layers]).float().cpu()
                for name in HEAD_WEIGHTS}

    @property
    def QK(self) -> torch.Tensor:
        """Dense QK circuits ``W_Q W_K^T``, (layers, heads, d_model, d_model)."""
        w = self.head_weights()
        return w["W_Q"] @ w["W_K"].transpose(-1, -2)

    @property
    def OV(self) -> torch.Tensor:
        """Dense OV circuits ``W_V W_O``, (layers, heads, d_model, d_model)."""
        w = self.head_weights()
        return w["W_V"] @ w["W_O"]
