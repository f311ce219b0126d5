"""Attention-only transformer with explicit per-head weights (Elhage et al. 2021 notation).

Each layer ``l`` has, per head ``h``, ``W_Q[h], W_K[h], W_V[h]`` of shape ``(d_model, d_head)`` and
``W_O[h]`` of shape ``(d_head, d_model)``, stored as ``(heads, d_model, d_head)`` and
``(heads, d_head, d_model)``. With residual stream ``x`` (rows are positions) a layer adds

    sum_h  softmax_causal( n(x) W_Q[h] W_K[h]^T n(x)^T / sqrt(d_head) ) n(x) W_V[h] W_O[h]

where ``n`` is the identity (``layer_norm = "none"``) or a LayerNorm before the layer (``"pre"``). So the
QK circuit of a head is ``W_Q[h] W_K[h]^T`` and its OV circuit ``W_V[h] W_O[h]``, both ``d_model x
d_model`` (:meth:`AttentionOnlyTransformer.circuits`). No MLPs and no biases.

Inputs are token ids (``vocab_size``, embedding ``W_E``) or vectors (``input_dim``, a linear embedding,
used by the bursty classification task). Positions: a learned absolute embedding ``W_pos`` or none.
The unembedding ``W_U`` maps the final residual stream (after a final LayerNorm in the pre-LN model) to
``n_outputs`` logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AttentionOnlyConfig:
    """Shape and options of the model. Exactly one of ``vocab_size`` and ``input_dim`` is set."""

    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    n_ctx: int
    n_outputs: int
    vocab_size: int | None = None
    input_dim: int | None = None
    layer_norm: str = "none"  # "none" | "pre"
    positional: str = "learned"  # "learned" | "none"
    init_std: float = 0.02

    def __post_init__(self):
        if (self.vocab_size is None) == (self.input_dim is None):
            raise ValueError("set exactly one of vocab_size (token inputs) and input_dim (vector inputs)")
        if self.layer_norm not in ("none", "pre"):
            raise ValueError(f"layer_norm {self.layer_norm!r} not in ('none', 'pre')")
        if self.positional not in ("learned", "none"):
            raise ValueError(f"positional {self.positional!r} not in ('learned', 'none')")


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

    def forward(self, x: torch.Tensor, return_pattern: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` (batch, seq, d_model) -> (residual stream after the layer, attention (batch, heads, seq, seq)
        when ``return_pattern`` else None).

        Without the pattern, the causal softmax runs in torch's fused ``scaled_dot_product_attention``,
        which computes the same layer without materialising the pattern (training 1.3x faster on CPU in the
        quick preset, 1.9x in the paper preset, ``benchmarks/bench_attention.py``); with it, the pattern
        is computed explicitly.
        """
        n = self.norm(x)
        q = torch.einsum("bsd,hde->bhse", n, self.W_Q)
        k = torch.einsum("bsd,hde->bhse", n, self.W_K)
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
        self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, d) * cfg.init_std) if cfg.positional == "learned" else None
        self.layers = nn.ModuleList(AttentionLayer(cfg) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(d) if cfg.layer_norm == "pre" else nn.Identity()
        self.W_U = nn.Parameter(torch.randn(d, cfg.n_outputs) * cfg.init_std)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Token ids (batch, seq) or vectors (batch, seq, input_dim) -> residual stream (batch, seq, d_model)."""
        x = self.W_E[inputs] if self.cfg.vocab_size is not None else inputs @ self.W_E
        if self.W_pos is not None:
            x = x + self.W_pos[: x.shape[1]]
        return x

    def forward(self, inputs: torch.Tensor, return_attention: bool = False):
        """Logits (batch, seq, n_outputs); with ``return_attention`` also the patterns
        (layers, batch, heads, seq, seq)."""
        x = self.embed(inputs)
        patterns = []
        for layer in self.layers:
            x, pattern = layer(x, return_pattern=return_attention)
            patterns.append(pattern)
        logits = self.final_norm(x) @ self.W_U
        if return_attention:
            return logits, torch.stack(patterns)
        return logits

    def head_weights(self) -> dict[str, torch.Tensor]:
        """Per-head weights stacked over layers, detached, float32 on CPU:
        ``W_Q, W_K, W_V`` (layers, heads, d_model, d_head), ``W_O`` (layers, heads, d_head, d_model)."""
        return {
            name: torch.stack([getattr(layer, name).detach() for layer in self.layers]).float().cpu()
            for name in ("W_Q", "W_K", "W_V", "W_O")
        }

    def circuits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """QK circuits ``W_Q W_K^T`` and OV circuits ``W_V W_O``, each (layers, heads, d_model, d_model)."""
        w = self.head_weights()
        return w["W_Q"] @ w["W_K"].transpose(-1, -2), w["W_V"] @ w["W_O"]
