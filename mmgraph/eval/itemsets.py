"""Per-user item sets as a sorted CSR on the device: masking, ground truth, negative rejection."""

from __future__ import annotations

import torch
from torch import Tensor


def segments(start: Tensor, length: Tensor) -> tuple[Tensor, Tensor]:
    """``(which, position)``: for every ``n``, the positions ``start[n] .. start[n] + length[n] - 1``
    and ``n`` beside each (the elements of CSR segments, flattened)."""
    which = torch.repeat_interleave(torch.arange(start.numel(), device=start.device), length)
    first = torch.repeat_interleave(start - (torch.cumsum(length, 0) - length), length)
    return which, first + torch.arange(which.numel(), device=start.device)


class UserItemSets:
    """The (user, item) pairs of one split, sorted by user then item.

    ``keys = user * num_items + item`` is sorted, so membership is one ``searchsorted``;
    ``indptr`` [U + 1] gives each user's slice of ``items``.
    """

    def __init__(self, pairs: Tensor, num_users: int, num_items: int):
        pairs = pairs.long()
        self.num_users, self.num_items = num_users, num_items
        self.keys = torch.unique(pairs[0] * num_items + pairs[1])  # sorted, deduplicated
        self.items = self.keys % num_items
        users = self.keys // num_items
        self.indptr = torch.zeros(num_users + 1, dtype=torch.long, device=pairs.device)
        self.indptr[1:] = torch.cumsum(torch.bincount(users, minlength=num_users), 0)

    @property
    def device(self) -> torch.device:
        return self.keys.device

    def pairs(self) -> Tensor:
        """``[2, n]`` (user, item) pairs, sorted."""
        return torch.stack([self.keys // self.num_items, self.items])

    def counts(self) -> Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def contains(self, users: Tensor, items: Tensor) -> Tensor:
        """Whether each ``(users[n], items[n])`` (any shape, broadcast) is in the set."""
        if self.keys.numel() == 0:
            return torch.zeros(
                torch.broadcast_shapes(users.shape, items.shape),
                dtype=torch.bool,
                device=self.device,
            )
        query = users * self.num_items + items
        pos = torch.searchsorted(self.keys, query).clamp(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def rows(self, users: Tensor) -> tuple[Tensor, Tensor]:
        """``(row, item)`` for every item of the given users; ``row`` indexes into ``users``."""
        row, pos = segments(self.indptr[users], self.indptr[users + 1] - self.indptr[users])
        return row, self.items[pos]
