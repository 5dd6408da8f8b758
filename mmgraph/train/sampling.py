"""Negative sampling for BPR: uniform items, rejected against each user's training items."""

from __future__ import annotations

import torch
from torch import Tensor

from mmgraph.train.itemsets import UserItemSets


def sample_negatives(train: UserItemSets, users: Tensor, num_negatives: int,
                     generator: torch.Generator, max_rounds: int = 50,
                     exclude: Tensor | None = None) -> Tensor:
    """``[len(users), num_negatives]`` items drawn uniformly among those each user has not seen
    (and, given an ``[I]`` bool mask ``exclude``, never those items: cold items do not exist at
    training time).

    Vectorized rejection sampling: draw all, redraw the ones that hit a training item (a
    ``searchsorted`` in the sorted CSR of training pairs), until none is left.  After
    ``max_rounds`` (only a user who has seen nearly every item can get there) the remaining
    draws are kept.
    """
    shape = (users.numel(), num_negatives)
    neg = torch.randint(0, train.num_items, shape, generator=generator, device=users.device)
    users = users.view(-1, 1)
    for _ in range(max_rounds):
        bad = train.contains(users, neg)
        if exclude is not None:
            bad |= exclude[neg]
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        neg[bad] = torch.randint(0, train.num_items, (n_bad,), generator=generator, device=users.device)
    return neg
