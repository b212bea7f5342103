"""A small labelled data set that counts the samples a pruner fetches (shared by the pruning tests)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class CountingDataset(Dataset):
    """``n`` seeded 1×8×8 Gaussian images labelled ``i mod 10``; ``fetched`` counts ``__getitem__`` calls."""

    def __init__(self, n: int = 300, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.x, self.y = torch.randn(n, 1, 8, 8, generator=gen), torch.arange(n) % 10
        self.fetched = 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        self.fetched += 1
        return self.x[i], self.y[i]
