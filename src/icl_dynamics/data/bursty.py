"""Reddy (ICLR 2024) bursty Gaussian-mixture classification, the second in-context task of docs/science.md section 7.

A fixed set of ``n_classes`` (K) classes; class ``k`` has a mean ``mu_k ~ N(0, I_D / D)`` and a fixed label
out of ``n_labels`` (L). An item of class ``k`` is ``x = (mu_k + eps * eta) / sqrt(1 + eps^2)`` with
``eta ~ N(0, I_D / D)``. Each of the L labels is itself a random vector ``N(0, I_D / D)``.

A sequence is ``x_1, l_1, ..., x_N, l_N, x_q`` (``2N + 1`` tokens); the target is the label *index* of
the query ``x_q``. Every token is its ``D`` content dimensions followed by a one-hot position of width
``position_width`` (Reddy: 65), whose first index is shifted by a random offset per sequence when
``position_shift`` is set ([choice]: the shift makes absolute position uninformative).

Training sequences are *bursty* with probability ``p_bursty``: the N context items come from ``N / B``
classes, ``B`` items each (``B`` = ``burstiness``), and the query's class is one of them. Otherwise the
N items and the query are drawn independently with class probabilities ``~ k^(-zipf_alpha)``.

Test sets (Reddy 2024):

- ``in_context``: classes never seen in training (fresh means), labels assigned at random per sequence,
  bursty context containing the query's class: only in-context learning can solve it.
- ``flipped``: the trained classes, but every label is moved by one per-sequence cyclic shift of
  ``1 .. L-1`` places, so each class carries a label other than its trained one; the target is the
  in-context label.
- ``in_weights``: a query of a trained class, context items drawn from *other* classes only, so the label
  must come from the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

TEST_SETS = ("in_context", "flipped", "in_weights")


@dataclass
class BurstySpec:
    """Parameters of the task (docs/science.md section 7), all required: their defaults (Reddy's values)
    live in one place, the ``attention.bursty`` schema (``schemas/attention.schema.yaml``)."""

    n_classes: int
    n_labels: int
    n_items: int
    content_dim: int
    position_width: int
    eps: float
    burstiness: int
    p_bursty: float
    zipf_alpha: float
    position_shift: bool

    @property
    def seq_len(self) -> int:
        return 2 * self.n_items + 1

    @property
    def token_dim(self) -> int:
        return self.content_dim + self.position_width


class BurstyTask:
    """The fixed class means, class labels and label vectors of one task instance, and its samplers."""

    def __init__(self, spec: BurstySpec, generator: torch.Generator):
        if spec.n_items % spec.burstiness:
            raise ValueError(f"n_items {spec.n_items} must be a multiple of burstiness {spec.burstiness}")
        if spec.seq_len > spec.position_width:
            raise ValueError(f"2 n_items + 1 = {spec.seq_len} exceeds position_width {spec.position_width}")
        self.spec = spec
        d = spec.content_dim
        self.class_means = torch.randn(spec.n_classes, d, generator=generator) / d**0.5
        self.class_labels = torch.randint(0, spec.n_labels, (spec.n_classes,), generator=generator)
        self.label_vectors = torch.randn(spec.n_labels, d, generator=generator) / d**0.5
        rank = torch.arange(1, spec.n_classes + 1, dtype=torch.float64)
        self.class_probs = rank ** (-spec.zipf_alpha) / (rank ** (-spec.zipf_alpha)).sum()

    def _items(self, means: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        d = self.spec.content_dim
        noise = torch.randn(means.shape, generator=generator) / d**0.5
        return (means + self.spec.eps * noise) / (1 + self.spec.eps**2) ** 0.5

    def _bursty_classes(self, n_seq: int, n_pool: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Context classes (n_seq, N) as B copies of N/B distinct classes from ``range(n_pool)``, shuffled,
        and a query class drawn from those in the context."""
        s = self.spec
        n_distinct = s.n_items // s.burstiness
        distinct = torch.stack([torch.randperm(n_pool, generator=generator)[:n_distinct] for _ in range(n_seq)])
        context = distinct.repeat_interleave(s.burstiness, dim=1)
        order = torch.argsort(torch.rand(n_seq, s.n_items, generator=generator), dim=1)
        context = torch.gather(context, 1, order)
        pick = torch.randint(0, n_distinct, (n_seq, 1), generator=generator)
        query = torch.gather(distinct, 1, pick).squeeze(1)
        return context, query

    def _assemble(self, items: torch.Tensor, labels: torch.Tensor, query_items: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
        """Interleave items and label vectors, append the query, add one-hot positions: (n, 2N+1, D+P)."""
        s = self.spec
        n_seq = items.shape[0]
        content = torch.empty(n_seq, s.seq_len, s.content_dim)
        content[:, 0:-1:2] = items
        content[:, 1:-1:2] = self.label_vectors[labels]
        content[:, -1] = query_items
        max_shift = s.position_width - s.seq_len
        if s.position_shift and max_shift > 0:
            shift = torch.randint(0, max_shift + 1, (n_seq, 1), generator=generator)
        else:
            shift = torch.zeros(n_seq, 1, dtype=torch.long)
        position = torch.nn.functional.one_hot(torch.arange(s.seq_len) + shift, s.position_width).float()
        return torch.cat([content, position], dim=-1)

    def sample_train(self, n_seq: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Training sequences ``(n_seq, 2N+1, D+P)`` and query labels ``(n_seq,)``."""
        s = self.spec
        context, query = self._bursty_classes(n_seq, s.n_classes, generator)
        iid = torch.rand(n_seq, generator=generator) >= s.p_bursty
        if iid.any():
            n_iid = int(iid.sum())
            draws = torch.multinomial(self.class_probs.float(), n_iid * (s.n_items + 1), replacement=True,
                                      generator=generator).view(n_iid, s.n_items + 1)
            context[iid] = draws[:, :-1]
            query[iid] = draws[:, -1]
        items = self._items(self.class_means[context], generator)
        query_items = self._items(self.class_means[query], generator)
        labels = self.class_labels[context]
        return self._assemble(items, labels, query_items, generator), self.class_labels[query]

    def sample_test(self, kind: str, n_seq: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One of the test sets named in :data:`TEST_SETS`: inputs and target label indices."""
        s = self.spec
        if kind == "in_context":
            n_pool = s.n_items // s.burstiness
            means = torch.randn(n_seq, n_pool, s.content_dim, generator=generator) / s.content_dim**0.5
            context, query = self._bursty_classes(n_seq, n_pool, generator)
            pool_labels = torch.stack([torch.randperm(s.n_labels, generator=generator)[:n_pool] for _ in range(n_seq)])
            rows = torch.arange(n_seq).unsqueeze(1)
            items = self._items(means[rows, context], generator)
            query_items = self._items(means[torch.arange(n_seq), query], generator)
            labels = pool_labels[rows, context]
            target = pool_labels[torch.arange(n_seq), query]
        elif kind == "flipped":
            context, query = self._bursty_classes(n_seq, s.n_classes, generator)
            # A per-sequence label shift by 1..L-1 changes every class's label away from its trained one.
            offset = torch.randint(1, s.n_labels, (n_seq, 1), generator=generator)
            labels = (self.class_labels[context] + offset) % s.n_labels
            target = (self.class_labels[query] + offset.squeeze(1)) % s.n_labels
            items = self._items(self.class_means[context], generator)
            query_items = self._items(self.class_means[query], generator)
        elif kind == "in_weights":
            query = torch.randint(0, s.n_classes, (n_seq,), generator=generator)
            # Context classes drawn from the other K-1 classes: shift a draw on [0, K-1) past the query.
            other = torch.randint(0, s.n_classes - 1, (n_seq, s.n_items), generator=generator)
            context = other + (other >= query.unsqueeze(1)).long()
            labels = self.class_labels[context]
            target = self.class_labels[query]
            items = self._items(self.class_means[context], generator)
            query_items = self._items(self.class_means[query], generator)
        else:
            raise ValueError(f"unknown test set {kind!r}; known: {', '.join(TEST_SETS)}")
        return self._assemble(items, labels, query_items, generator), target
