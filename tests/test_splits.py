import numpy as np
import pytest

from mmgraph.data import split_per_user
from mmgraph.errors import DataError


def test_per_user_counts_and_partition():
    counts = [1, 2, 5, 10, 21]
    users = np.repeat(np.arange(5), counts)
    items = np.concatenate([np.arange(c) for c in counts])
    train, val, test = split_per_user(users, items, seed=3)
    got = [tuple(np.bincount(s[0], minlength=5)[u] for s in (train, val, test)) for u in range(5)]
    # floor(n * 0.1 + 0.5) held out each; at least one training item
    assert got == [(1, 0, 0), (2, 0, 0), (3, 1, 1), (8, 1, 1), (17, 2, 2)]
    allpairs = sorted(map(tuple, np.concatenate([train, val, test], 1).T.tolist()))
    assert allpairs == sorted(zip(users.tolist(), items.tolist()))


def test_temporal_order():
    users = np.zeros(10, dtype=np.int64)
    items = np.arange(10)
    times = np.arange(10)[::-1]  # item 0 newest
    train, val, test = split_per_user(users, items, timestamps=times)
    assert test[1].tolist() == [0] and val[1].tolist() == [1]


def test_bad_ratios():
    with pytest.raises(DataError, match="ratios"):
        split_per_user(np.zeros(3), np.arange(3), ratios=(0.5, 0.5, 0.5))
