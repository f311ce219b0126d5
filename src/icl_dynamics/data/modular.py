"""Modular addition data for grokking (Power et al. 2022; Nanda et al. 2023; docs/science.md section 8).

Every pair (a, b) with a, b in {0, ..., p-1} becomes the input sequence [a, b, =] where the token
"=" is ``p`` (so the vocabulary has p + 1 tokens), with label (a + b) mod p. A seeded random
permutation of the p^2 pairs puts the first ``round(train_fraction * p^2)`` into the training set
and the rest into the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModularSplit:
    """Train and test inputs (n, 3) and labels (n,), int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device) -> "ModularSplit":
        return ModularSplit(*(t.to(device) for t in (self.train_x, self.train_y, self.test_x, self.test_y)))


def all_pairs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All p^2 inputs [a, b, p] in row-major order of (a, b), shape (p^2, 3), and labels (a + b) mod p."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return x, (a + b) % p


def modular_addition_split(p: int, train_fraction: float, seed: int) -> ModularSplit:
    """The seeded train/test split of all p^2 pairs; ``train_fraction`` of them (rounded) for training."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    x, y = all_pairs(p)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(round(train_fraction * p * p))
    train, test = order[:n_train], order[n_train:]
    return ModularSplit(x[train], y[train], x[test], y[test])
