"""Negative sampling for BPR: uniform items, rejected against each user's training items."""

from __future__ import annotations

import torch
from torch import Tensor

from mmgraph.errors import MMGraphError
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.models import RecGraph


def sample_negatives(
    train: UserItemSets,
    users: Tensor,
    num_negatives: int,
    generator: torch.Generator,
    max_rounds: int = 50,
    exclude: Tensor | None = None,
) -> Tensor:
    """``[len(users), num_negatives]`` items drawn uniformly among those each user has not seen
    (and, given an ``[I]`` bool mask ``exclude``, never those items: cold items do not exist at
    training time).

    Vectorized rejection sampling: draw all, redraw the ones that hit a training item (a
    ``searchsorted`` in the sorted CSR of training pairs) or an excluded item.  Draws still
    invalid after ``max_rounds`` (only users who have seen nearly every item get there) are drawn
    exactly, from an explicit mask of the items those users may get, so no negative is ever a
    training positive or an excluded item.  :class:`MMGraphError` when a user has no such item.
    """
    shape = (users.numel(), num_negatives)
    neg = torch.randint(0, train.num_items, shape, generator=generator, device=users.device)
    users = users.view(-1, 1)

    def invalid() -> Tensor:
        bad = train.contains(users, neg)
        return bad | exclude[neg] if exclude is not None else bad

    for _ in range(max_rounds):
        bad = invalid()
        n_bad = int(bad.sum())
        if n_bad == 0:
            return neg
        neg[bad] = torch.randint(
            0, train.num_items, (n_bad,), generator=generator, device=users.device
        )
    bad = invalid()
    if bad.any():
        row, col = bad.nonzero(as_tuple=True)
        neg[row, col] = _exact_draws(train, users.view(-1)[row], exclude, generator)
    return neg


def _exact_draws(
    train: UserItemSets,
    users: Tensor,
    exclude: Tensor | None,
    generator: torch.Generator,
    chunk: int = 1 << 24,
) -> Tensor:
    """One uniform draw per entry of ``users`` among the items that user has not trained on and
    that ``exclude`` does not mark (in chunks of about ``chunk`` mask cells)."""
    out = torch.empty_like(users)
    step = max(1, chunk // max(train.num_items, 1))
    for start in range(0, users.numel(), step):
        part = users[start : start + step]
        allowed = torch.ones(part.numel(), train.num_items, dtype=torch.bool, device=users.device)
        if exclude is not None:
            allowed &= ~exclude
        row, item = train.rows(part)
        allowed[row, item] = False
        empty = ~allowed.any(1)
        if empty.any():
            user = int(part[empty][0])
            raise MMGraphError(
                f"user {user} has trained on every item that can be a negative; no negative "
                "exists for them: drop such users from the training data"
            )
        out[start : start + step] = torch.multinomial(allowed.float(), 1, generator=generator).view(
            -1
        )
    return out


def negative_exclusions(graph: RecGraph, pool: str) -> Tensor | None:
    """``[I]`` bool mask of the items BPR never draws as negatives: cold items (they do not exist
    at training time), and with ``pool="trained"`` also every item without a training
    interaction, as MMRec samples.  Drawing those as negatives teaches a model to bury exactly the
    items only content can place.  ``None`` when nothing is excluded."""
    excluded = graph.cold
    if pool == "trained":
        untrained = torch.bincount(graph.edge_index[1], minlength=graph.num_items) == 0
        excluded = untrained if excluded is None else excluded | untrained
    return excluded if excluded is not None and bool(excluded.any()) else None
