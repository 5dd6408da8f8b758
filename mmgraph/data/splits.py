"""Per-user train / validation / test splits (MetaMMF's protocol: random 80/10/10 per user)."""

from __future__ import annotations

import numpy as np

from mmgraph.errors import DataError


def split_per_user(
    users: np.ndarray,
    items: np.ndarray,
    *,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    timestamps: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each user's interactions into train / validation / test ``[2, E]`` arrays.

    A user with ``n`` interactions gets ``floor(n * r + 0.5)`` validation and test interactions
    for ratios ``r``, and always keeps at least one training interaction.  Without
    ``timestamps`` the order inside a user is a seeded random permutation; with them the split is
    temporal (oldest to train, newest to test; ties broken at random).  Fully vectorized.
    """
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0) or ratios[0] <= 0:
        raise DataError(
            f"split ratios must be three non-negative numbers summing to 1 with a "
            f"positive training share, got {ratios}"
        )
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(users.size)
    keys = (tiebreak, users) if timestamps is None else (tiebreak, np.asarray(timestamps), users)
    order = np.lexsort(keys)
    u = users[order]
    counts = np.bincount(u)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(u.size) - starts[u]
    n = counts[u].astype(np.float64)
    n_test = np.floor(n * ratios[2] + 0.5)
    n_val = np.floor(n * ratios[1] + 0.5)
    # At least one training interaction: shrink test first, then validation.
    over = np.maximum(n_test + n_val - (n - 1), 0)
    cut_test = np.minimum(over, n_test)
    n_test -= cut_test
    n_val -= over - cut_test
    n_train = n - n_val - n_test
    part = np.where(rank < n_train, 0, np.where(rank < n_train + n_val, 1, 2))
    pairs = np.stack([u, items[order]])
    return tuple(pairs[:, part == k] for k in range(3))


def describe_split(split: str, ratios: tuple[float, float, float], seed: int) -> str:
    shares = "/".join(f"{r:g}" for r in ratios)
    return f"{split} per-user split {shares} (train/valid/test), seed {seed}"


def cold_item_split(rec, fraction: float, seed: int = 0):
    """Hold a seeded ``fraction`` of the items out of training entirely (CLCRec's cold-start
    protocol): half of them become validation cold items, half test cold items, and *every*
    interaction of a cold item moves to that split.  Warm items keep their split.  The result is
    re-validated by :func:`~mmgraph.data.records.build_records` (held-out interactions of users
    left with no training interaction are dropped, with a note) and carries ``cold_items``.
    """
    from dataclasses import replace

    from mmgraph.data.records import build_records

    if not 0 < fraction < 1:
        raise DataError(f"the cold-item fraction must be between 0 and 1, got {fraction}")
    every = np.concatenate([rec.train, rec.val, rec.test], axis=1)
    present = np.unique(every[1])
    n_cold = int(round(fraction * present.size))
    if n_cold < 2:
        raise DataError(
            f"{rec.name}: a cold-item fraction of {fraction} of {present.size} items leaves "
            "fewer than 2 cold items (one for validation, one for test); raise it"
        )
    cold = np.sort(np.random.default_rng([seed, 7]).choice(present, n_cold, replace=False))
    role = np.zeros(rec.num_items, dtype=np.int8)  # 0 warm, 1 validation cold, 2 test cold
    role[cold] = 1
    role[cold[np.random.default_rng([seed, 8]).permutation(n_cold)[n_cold // 2 :]]] = 2
    warm = {
        s: pairs[:, role[pairs[1]] == 0]
        for s, pairs in (("train", rec.train), ("val", rec.val), ("test", rec.test))
    }
    held = {
        s: np.concatenate([warm[s], every[:, role[every[1]] == r]], axis=1)
        for s, r in (("val", 1), ("test", 2))
    }
    # features and bags were validated with ``rec`` and do not change: no second pass over them
    out = build_records(
        rec.name,
        num_users=rec.num_users,
        num_items=rec.num_items,
        train=warm["train"],
        val=held["val"],
        test=held["test"],
        user_ids=rec.user_ids,
        item_ids=rec.item_ids,
        synthetic=rec.synthetic,
        source=rec.source,
        notes=rec.notes,
        cold_items=cold,
        split_protocol=f"{rec.split_protocol}; then {n_cold:,} cold items ({fraction:g} "
        f"of the items, seed {seed}) held out of training, half to "
        "validation and half to test",
    )
    return replace(
        out, features=rec.features, bags=rec.bags, file_counts=rec.file_counts, planted=rec.planted
    )
