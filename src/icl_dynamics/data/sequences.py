"""Token-sequence tasks whose solution needs an induction circuit, and the scores read off them.

Task (docs/science.md section 7, [choice]): *periodic random-token sequences*. Each sequence draws a period
``p`` uniformly from ``[period_min, period_max]`` and ``p`` tokens uniformly from the vocabulary, and
repeats that segment until it has ``seq_len`` tokens. A token in the first period is unpredictable
(loss ``log(vocab)``); every later token is the token that followed the previous occurrence of the
current token, which an induction circuit (a previous-token head composed with a copying head, two
layers; Olsson et al. 2022) finds. Because the period varies between sequences, a single attention layer
cannot copy from a fixed positional offset; it can only learn in-context unigram statistics ("predict a
token seen before").

Scores (Olsson et al. 2022):

- ICL score: the mean next-token loss at a late position minus that at an early position. Olsson et al.
  use token 500 minus token 50 of a 512-token context; here the two positions are the fractions
  ``early_frac`` and ``late_frac`` of ``seq_len`` (``icl_positions``). Negative is better.
- Prefix-matching score of a head: on a random segment of length ``n`` followed by its exact repeat, the
  mean attention that a token in the repeat gives to the token *after* its earlier occurrence (the key
  position ``q - n + 1`` for query position ``q >= n``).
"""

from __future__ import annotations

import math

import torch


def periodic_sequences(
    n_seq: int,
    seq_len: int,
    vocab_size: int,
    period_min: int,
    period_max: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Random-token sequences that repeat a random segment of random period.

    Returns a long tensor ``(n_seq, seq_len)``; row ``b`` satisfies ``x[b, t] == x[b, t - p_b]`` for every
    ``t >= p_b`` with ``p_b`` uniform on ``[period_min, period_max]``.
    """
    if not 1 <= period_min <= period_max <= seq_len:
        raise ValueError(f"need 1 <= period_min <= period_max <= seq_len, got {period_min}, {period_max}, {seq_len}")
    periods = torch.randint(period_min, period_max + 1, (n_seq, 1), generator=generator)
    segments = torch.randint(0, vocab_size, (n_seq, period_max), generator=generator)
    source = torch.arange(seq_len).unsqueeze(0) % periods  # position in the segment
    return torch.gather(segments, 1, source)


def repeated_random_tokens(n_seq: int, half_len: int, vocab_size: int, generator: torch.Generator) -> torch.Tensor:
    """A random segment of ``half_len`` tokens followed by its exact repeat: ``(n_seq, 2 * half_len)``."""
    first = torch.randint(0, vocab_size, (n_seq, half_len), generator=generator)
    return torch.cat([first, first], dim=1)


def icl_positions(seq_len: int, early_frac: float, late_frac: float) -> tuple[int, int]:
    """The early and late token positions of the ICL score: ``round(frac * seq_len)``, clipped to the sequence.

    Positions index the *predicted* token's predecessor, i.e. the loss at position ``t`` is the loss of
    predicting token ``t + 1``; valid positions are ``0 .. seq_len - 2``.
    """
    early = min(max(int(round(early_frac * seq_len)), 0), seq_len - 2)
    late = min(max(int(round(late_frac * seq_len)), 0), seq_len - 2)
    if late <= early:
        raise ValueError(f"late position {late} must come after early position {early}")
    return early, late


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over all positions and sequences (the training loss).

    ``logits`` ``(batch, seq_len, vocab)`` predict token ``t + 1`` at position ``t``.
    """
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


def per_position_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy at each position, averaged over sequences: shape ``(seq_len - 1,)``.

    ``logits`` ``(batch, seq_len, vocab)`` predict token ``t + 1`` at position ``t``.
    """
    pred = logits[:, :-1].reshape(-1, logits.shape[-1])
    target = tokens[:, 1:].reshape(-1)
    loss = torch.nn.functional.cross_entropy(pred.float(), target, reduction="none")
    return loss.view(tokens.shape[0], -1).mean(dim=0)


def icl_score(position_loss: torch.Tensor, early: int, late: int) -> float:
    """Olsson et al.'s in-context-learning score: loss at the late position minus loss at the early one."""
    return float(position_loss[late] - position_loss[early])


def prefix_matching_scores(attention: torch.Tensor, half_len: int) -> torch.Tensor:
    """Per-head prefix-matching score from attention patterns on repeated random tokens.

    ``attention`` ``(layers, batch, heads, seq, seq)`` (query, key) from sequences built by
    :func:`repeated_random_tokens` with ``half_len``. Returns ``(layers, heads)``: the mean over the batch
    and over query positions ``q = half_len .. 2 half_len - 1`` of ``attention[..., q, q - half_len + 1]``.
    """
    queries = torch.arange(half_len, 2 * half_len)
    keys = queries - half_len + 1
    return attention[..., queries, keys].mean(dim=(1, 3))


def uniform_loss(vocab_size: int) -> float:
    """Cross-entropy of a uniform guess over the vocabulary, ``log(vocab_size)`` nats."""
    return math.log(vocab_size)
