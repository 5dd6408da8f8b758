"""The evaluation protocol: which items each split masks, ranking among cold items, and the
sentence every run and table states it with."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from mmgraph.distributed import Dist
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking


def rank_splits(
    scores: Callable[[Tensor], Tensor],
    splits: dict[str, UserItemSets],
    names: Sequence[str],
    *,
    num_items: int,
    cold: Tensor | None = None,
    ks: Sequence[int] = (10, 20),
    batch_size: int | None = None,
    mask_valid_at_test: bool = True,
    ranks: Dist = Dist(),
    per_user: bool = False,
) -> dict[str, dict]:
    """Full-ranking metrics (:func:`~mmgraph.eval.metrics.full_ranking`) of the named splits.

    ``scores(users)`` gives ``[len(users), num_items]`` scores.  Every split masks the train
    items; ``test`` / ``test_cold`` also mask the valid items when ``mask_valid_at_test``;
    ``*_cold`` splits rank only the ``cold`` items (``[num_items]`` bool) and are left out when
    ``splits`` has none.
    """
    out = {}
    for name in names:
        if name not in splits and name.endswith("_cold"):
            continue
        exclude = [splits["train"]]
        if name.startswith("test") and mask_valid_at_test:
            exclude.append(splits["valid"])
        out[name] = full_ranking(
            scores,
            num_items,
            splits[name],
            exclude,
            ks,
            batch_size,
            ranks,
            cold if name.endswith("_cold") else None,
            per_user,
        )
    return out


def describe_protocol(
    train, *, num_items: int, cold: Tensor | None, unsampled: Tensor | None, split: str
) -> str:
    """The protocol sentence of a run trained with ``train`` (a
    :class:`~mmgraph.train.config.TrainConfig`): ranking, masking, ties, the ``split`` (as the
    data describes it), negatives and their pool (all ``num_items`` but the ``unsampled``
    ones), batches, budget, selection and cold items."""
    masked = "train+valid" if train.mask_valid_at_test else "train"
    selection = "the last epoch reported (train.select=last); " if train.select == "last" else ""
    cold_note = (
        ""
        if cold is None
        else (
            f"; cold items: {int(cold.sum()):,} held out of training (never negatives), their "
            "held-out interactions also ranked among the cold items alone (test_cold)"
        )
    )
    pool = num_items - (0 if unsampled is None else int(unsampled.sum()))
    negatives = (
        f"BPR with {train.num_negatives} negative(s) per positive from the {pool:,} items "
        + (
            "with a training interaction"
            if train.negatives == "trained"
            else "known at training time"
        )
        + f", batches of {train.batch_size:,}, at most {train.epochs} epochs, patience {train.patience}"
        + (f", {train.time_limit:g} s limit" if train.time_limit else "")
    )
    return (
        f"full ranking over all {num_items:,} items; {masked} items masked at test, "
        f"train items at validation; ties in a fixed random item order; {split}; "
        f"{negatives}; "
        f"{selection}selection on "
        f"{'validation' if train.select_on == 'valid' else 'validation cold items'} "
        f"{train.metric}{cold_note}"
    )
