"""Several models of one shape trained as one: their parameters stacked along a leading member axis.

:class:`StackedParameters` holds the parameters of ``M`` models of one architecture (say the seeds of one
depth), each parameter of shape ``(M, *shape)``, in the order of the per-run model's ``parameters()`` (so
an optimizer over the stack has per-run optimizer states slice by slice, see
:mod:`icl_dynamics.training.batched`). :func:`attention_only_logits` and :func:`grokking_logits` are the
forward passes of :mod:`~icl_dynamics.models.attention_only` and :mod:`~icl_dynamics.models.grokking` on
such a stack: every per-member matrix product is a batched product over the member axis, and the fused
causal attention sees the member axis folded into its batch axis, ``(M, batch) -> (M * batch)``. (Not
``torch.func.vmap``: ``scaled_dot_product_attention`` has no batching rule on CPU, so vmap falls back to a
loop over members.) Member ``m``'s logits are those of its own model on its own inputs, the same
computation up to the order of float reductions.

Members never mix: the loss of the stack is the sum of the members' losses, whose gradient with respect
to member ``m``'s slice is the gradient of member ``m``'s loss alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from icl_dynamics.models.attention_only import AttentionOnlyConfig
from icl_dynamics.models.grokking import GrokkingModelConfig


class StackedParameters(nn.Module):
    """The parameters of ``models`` (one architecture, no buffers) stacked along a new leading axis.

    ``stack[name]`` is the ``(M, *shape)`` tensor of the per-run parameter ``name`` (``"layers.0.W_Q"``);
    :meth:`member_state` gives member ``m``'s per-run ``state_dict`` and :meth:`load_members` sets every
    member from per-run state dicts.
    """

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("a stack needs at least one model")
        reference = models[0].state_dict()
        self.names = [name for name, _ in models[0].named_parameters()]
        if list(reference) != self.names:
            raise ValueError(f"{type(models[0]).__name__} has buffers or shared parameters; a stack holds "
                             "parameters only")
        for model in models[1:]:
            shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
            if shapes != {name: tuple(reference[name].shape) for name in self.names}:
                raise ValueError("the models of a stack must have the same parameter names and shapes")
        self.stacked = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach() for m in models]))
            for name in self.names)
        self._index = {name: i for i, name in enumerate(self.names)}
        self.n_members = len(models)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.stacked[self._index[name]]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def member_state(self, m: int) -> dict[str, torch.Tensor]:
        """Member ``m``'s parameters as its per-run model's ``state_dict`` (detached copies, not views:
        ``torch.save`` of a view would write the whole stack)."""
        return {name: self[name][m].detach().clone() for name in self.names}

    @torch.no_grad()
    def load_members(self, states: list[dict[str, torch.Tensor]]) -> None:
        """Set member ``m`` to the per-run ``state_dict`` ``states[m]``, for every member."""
        if len(states) != self.n_members:
            raise ValueError(f"{len(states)} states for a stack of {self.n_members} members")
        for name in self.names:
            self[name].copy_(torch.stack([state[name] for state in states]))

    @torch.no_grad()
    def member_model(self, m: int, model: nn.Module) -> nn.Module:
        """``model`` (a per-run model of the same architecture) with member ``m``'s parameters loaded."""
        model.load_state_dict(self.member_state(m))
        return model


def member_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[m, index[m]]`` for every member: ``table`` (M, rows, ...), ``index`` (M, ...) of row numbers.
    One gather from the member-flattened table (rows of member m at ``m * rows``): indexing with a member
    index tensor as well is a multi-dimensional gather, whose backward is far slower on CPU."""
    members, rows = table.shape[:2]
    offset = torch.arange(members, device=index.device).view(members, *[1] * (index.ndim - 1)) * rows
    return table.flatten(0, 1)[index + offset]


def _layer_norm(x: torch.Tensor, stack: StackedParameters, prefix: str) -> torch.Tensor:
    """``nn.LayerNorm(d_model)`` of each member (its own gain and bias) on ``x`` (M, batch, seq, d_model)."""
    weight, bias = stack[f"{prefix}.weight"], stack[f"{prefix}.bias"]
    return F.layer_norm(x, x.shape[-1:]) * weight[:, None, None] + bias[:, None, None]


def attention_only_logits(cfg: AttentionOnlyConfig, stack: StackedParameters, inputs: torch.Tensor) -> torch.Tensor:
    """The logits ``(M, batch, seq, n_outputs)`` of :class:`~icl_dynamics.models.attention_only.
    AttentionOnlyTransformer` member ``m`` on ``inputs[m]`` (token ids (M, batch, seq) or vectors
    (M, batch, seq, input_dim)): per layer ``x + sum_h softmax_causal(a W_Q W_K^T a^T / sqrt(d_head)) n(x) W_V
    W_O`` as in that module, with the fused attention run on the member axis folded into the batch axis."""
    members, batch, seq = inputs.shape[:3]
    if cfg.vocab_size is not None:
        x = member_rows(stack["W_E"], inputs)                            # (M, b, s, d)
    else:
        x = inputs @ stack["W_E"][:, None]                               # (M, b, s, in) @ (M, 1, in, d)
    if cfg.positional == "learned":
        x = x + stack["W_pos"][:, None, :seq]
    pos = stack["W_pos"][:, None, :seq] if cfg.positional == "shortformer" else None
    h, e = cfg.n_heads, cfg.d_head
    for layer in range(cfg.n_layers):
        name = f"layers.{layer}"
        n = _layer_norm(x, stack, f"{name}.norm") if cfg.layer_norm == "pre" else x
        qk_input = n if pos is None else n + pos
        q = torch.einsum("mbsd,mhde->mbhse", qk_input, stack[f"{name}.W_Q"]).reshape(members * batch, h, seq, e)
        k = torch.einsum("mbsd,mhde->mbhse", qk_input, stack[f"{name}.W_K"]).reshape(members * batch, h, seq, e)
        v = torch.einsum("mbsd,mhde->mbhse", n, stack[f"{name}.W_V"]).reshape(members * batch, h, seq, e)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / math.sqrt(e))
        x = x + torch.einsum("mbhqe,mhed->mbqd", z.reshape(members, batch, h, seq, e), stack[f"{name}.W_O"])
    if cfg.layer_norm == "pre":
        x = _layer_norm(x, stack, "final_norm")
    return x @ stack["W_U"][:, None]                                     # (M, b, s, d) @ (M, 1, d, out)


def grokking_logits(cfg: GrokkingModelConfig, stack: StackedParameters, x: torch.Tensor) -> torch.Tensor:
    """The last-position logits ``(M, batch, p)`` of :class:`~icl_dynamics.models.grokking.GrokkingTransformer`
    member ``m`` on ``x[m]`` (M, batch, 3): its ``forward`` (queries, keys and values from the per-token and
    per-position tables ``W_E W`` and ``W_pos W``, attention of the last position only, then the residual ReLU
    MLP and the unembedding), with every matrix product batched over the member axis."""
    members, b, s = x.shape
    h, e, d = cfg.n_heads, cfg.d_head, cfg.d_model
    w_qkv = torch.cat([stack["W_Q"], stack["W_K"], stack["W_V"]], dim=1).transpose(1, 2).reshape(members, d, 3 * h * e)
    token_table = stack["W_E"] @ w_qkv                                   # (M, vocab, 3 h e)
    pos_table = stack["W_pos"][:, :s] @ w_qkv                            # (M, s, 3 h e)
    last_token = x[:, :, -1]
    q = (member_rows(token_table[..., : h * e], last_token) + pos_table[:, None, -1, : h * e]).view(members, b, h, 1, e)
    kv = (member_rows(token_table[..., h * e:], x) + pos_table[:, None, :, h * e:]).view(members, b, s, 2, h, e)
    k, v = kv.permute(3, 0, 1, 4, 2, 5)                                  # (M, b, h, s, e) each
    scores = (q * k).sum(dim=-1) / math.sqrt(e)                          # (M, b, h, s)
    z = (scores.softmax(dim=-1).unsqueeze(-1) * v).sum(dim=3)            # (M, b, h, e)
    last = (member_rows(stack["W_E"], last_token) + stack["W_pos"][:, None, s - 1]
            + z.reshape(members, b, h * e) @ stack["W_O"].reshape(members, h * e, d))
    hidden = F.relu(last @ stack["W_in"] + stack["b_in"][:, None])
    return (last + hidden @ stack["W_out"] + stack["b_out"][:, None]) @ stack["W_U"]
