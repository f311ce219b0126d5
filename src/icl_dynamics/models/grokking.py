"""The one-layer grokking transformer of Nanda et al. (2023) (docs/science.md section 8).

Token embedding W_E (vocab, d_model) plus learned positional embedding W_pos (n_ctx, d_model); one
causal attention layer with explicit per-head weights W_Q, W_K, W_V (heads, d_model, d_head) and
W_O (heads, d_head, d_model) added to the residual stream; a ReLU MLP W_in (d_model, d_mlp), b_in,
W_out (d_mlp, d_model), b_out added to the residual stream; unembedding W_U (d_model, n_out). No
LayerNorm, no attention biases. Per head, the QK circuit is W_Q W_K^T and the OV circuit W_V W_O,
both (d_model, d_model).

Initialisation [choice]: every weight matrix N(0, 1/d_model), biases zero.

Two forward passes give the same last-position logits:
- ``forward_full``: the straightforward pass, every position through every layer and the unembedding;
- ``forward`` (used for training): the cross-entropy reads the last position only, so only the last
  position's query, attention row, MLP and unembedding are computed; queries, keys and values come
  from per-token and per-position tables (the embedding times W_Q, W_K, W_V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icl_dynamics.models import HEAD_WEIGHTS


@dataclass
class GrokkingModelConfig:
    """Sizes of the model: ``p`` outputs, vocabulary p + 1 (the "=" token), context of 3 tokens.

    The sizes are required: their defaults live in one place, the ``grokking.task.p`` and
    ``grokking.model`` schema keys (``schemas/grokking.schema.yaml``). ``n_ctx`` is not a choice but the
    length of the input [a, b, =]; it is a field so that a checkpoint of another context length loads.
    """

    p: int
    d_model: int
    n_heads: int
    d_head: int
    d_mlp: int
    n_ctx: int = 3


class GrokkingTransformer(nn.Module):
    """One-layer transformer for [a, b, =] -> (a + b) mod p with explicit per-head circuits."""

    def __init__(self, cfg: GrokkingModelConfig):
        super().__init__()
        self.cfg = cfg
        d, h, dh = cfg.d_model, cfg.n_heads, cfg.d_head
        std = 1.0 / math.sqrt(d)

        def weight(*shape):
            return nn.Parameter(torch.randn(*shape) * std)

        self.W_E = weight(cfg.p + 1, d)
        self.W_pos = weight(cfg.n_ctx, d)
        self.W_Q = weight(h, d, dh)
        self.W_K = weight(h, d, dh)
        self.W_V = weight(h, d, dh)
        self.W_O = weight(h, dh, d)
        self.W_in = weight(d, cfg.d_mlp)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = weight(cfg.d_mlp, d)
        self.b_out = nn.Parameter(torch.zeros(d))
        self.W_U = weight(d, cfg.p)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_E[x] + self.W_pos[: x.shape[1]]  # (batch, pos, d_model)

    def _mlp(self, resid: torch.Tensor) -> torch.Tensor:
        return resid + F.relu(resid @ self.W_in + self.b_in) @ self.W_out + self.b_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, p) at the last position, computing only what they need.

        The residual stream entering attention is W_E[token] + W_pos[position], so its queries,
        keys and values are sums of rows of small tables, (W_E W) and (W_pos W) for W = W_Q, W_K,
        W_V: the projections cost (vocab + n_ctx) rows instead of batch x n_ctx rows. Only the last
        position's query, attention row, MLP and unembedding are computed; its attention over the
        few positions is done elementwise, not as tiny batched matrix products.
        """
        h, e = self.cfg.n_heads, self.cfg.d_head
        b, s = x.shape
        d = self.cfg.d_model
        w_qkv = torch.cat([self.W_Q, self.W_K, self.W_V], dim=0).transpose(0, 1).reshape(d, 3 * h * e)
        token_table, pos_table = self.W_E @ w_qkv, self.W_pos[:s] @ w_qkv    # (vocab | s, 3 h e)
        q = (token_table[x[:, -1], : h * e] + pos_table[-1, : h * e]).view(b, h, 1, e)
        kv = (token_table[x, h * e:] + pos_table[:, h * e:]).view(b, s, 2, h, e)
        k, v = kv.permute(2, 0, 3, 1, 4)                                      # (b, h, s, e) each
        scores = (q * k).sum(dim=-1) / math.sqrt(e)                           # (b, h, s)
        z = (scores.softmax(dim=-1).unsqueeze(-1) * v).sum(dim=2)             # (b, h, e)
        last = self.W_E[x[:, -1]] + self.W_pos[s - 1] + z.reshape(b, h * e) @ self.W_O.reshape(h * e, d)
        return self._mlp(last) @ self.W_U

    def forward_full(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, pos, p) at every position: the straightforward causal pass."""
        resid = self._embed(x)
        s = x.shape[1]
        q = torch.einsum("bsd,hde->bhse", resid, self.W_Q)
        k = torch.einsum("bsd,hde->bhse", resid, self.W_K)
        v = torch.einsum("bsd,hde->bhse", resid, self.W_V)
        scores = torch.einsum("bhqe,bhke->bhqk", q, k) / math.sqrt(self.cfg.d_head)
        causal = torch.ones(s, s, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        z = torch.einsum("bhqk,bhke->bhqe", scores.softmax(dim=-1), v)
        resid = resid + torch.einsum("bhqe,hed->bqd", z, self.W_O)
        return self._mlp(resid) @ self.W_U

    def head_weights(self) -> dict[str, torch.Tensor]:
        """Per-head weights with a layer axis (the model's one layer), detached float32 on CPU, in the layout
        every model shares (TransformerLens' order): ``W_Q, W_K, W_V`` (1, heads, d_model, d_head) and ``W_O``
        (1, heads, d_head, d_model)."""
        return {name: getattr(self, name).detach().float().cpu().clone()[None] for name in HEAD_WEIGHTS}

    @property
    def QK(self) -> torch.Tensor:
        """Dense QK circuits ``W_Q W_K^T``, (1, heads, d_model, d_model)."""
        return (self.W_Q @ self.W_K.transpose(-1, -2)).detach()[None]

    @property
    def OV(self) -> torch.Tensor:
        """Dense OV circuits ``W_V W_O``, (1, heads, d_model, d_model)."""
        return (self.W_V @ self.W_O).detach()[None]


def cross_entropy_float64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy with log-softmax in float64, sound once the loss is tiny (~1e-7)."""
    logp = logits.double().log_softmax(dim=-1)
    return -logp.gather(1, labels[:, None]).mean()
