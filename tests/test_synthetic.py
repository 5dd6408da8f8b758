import numpy as np
import pytest

from mmgraph.data import CATALOG, load_dataset, make_synthetic
from mmgraph.errors import DataError


@pytest.mark.parametrize("name", ["kwai", "tiktok", "movielens"])
def test_counts_and_dims_follow_the_named_dataset(name):
    spec = CATALOG[name]
    rec = make_synthetic(name, scale=0.02, seed=1)
    assert rec.synthetic and "SYNTHETIC" in rec.source
    assert rec.num_users == round(spec.users * 0.02) and rec.num_items == round(spec.items * 0.02)
    total = sum(rec.split(s).shape[1] for s in ("train", "val", "test"))
    assert total == round(spec.interactions * 0.02)
    dense = {m: d for m, d in spec.modalities.items() if m not in spec.bag_modalities}
    assert {m: x.shape[1] for m, x in rec.features.items()} == dense
    assert list(rec.bags) == list(spec.bag_modalities)  # TikTok text: (item, word) pairs
    assert rec.modalities == list(spec.modalities)
    assert rec.notes == []  # no duplicates, every held-out user has training items


def test_deterministic_per_seed():
    a, b, c = (make_synthetic("tiktok", scale=0.01, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.features["visual"], b.features["visual"])
    assert not np.array_equal(a.train, c.train)


def test_power_law_activity_and_popularity():
    rec = make_synthetic("movielens", scale=0.05)
    users = np.bincount(rec.train[0])
    items = np.bincount(rec.train[1], minlength=rec.num_items)
    assert users.max() > 8 * np.median(users) and items.max() > 8 * np.median(items)


def test_planted_reliability_is_item_specific_and_readable():
    rec = make_synthetic("tiktok", scale=0.05, seed=0)
    q, rel, kind = (rec.planted[k] for k in ("item_factors", "reliability", "item_type"))
    for m, name in enumerate(rec.features):
        x = rec.features[name]
        w, *_ = np.linalg.lstsq(x, q, rcond=None)
        err = ((x @ w - q) ** 2).sum(1) / (q**2).sum(1)
        trusted = rel[:, m] > 0.5
        if trusted.any() and (~trusted).any():
            # a modality explains the latent factors of the items that trust it far better
            assert err[trusted].mean() < 0.6 * err[~trusted].mean()
    # the item type (hence which modality to trust) can be read off the features
    x = np.concatenate(list(rec.features.values()), 1)
    centroids = np.stack([x[kind == t].mean(0) for t in range(kind.max() + 1)])
    guess = ((x[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert (guess == kind).mean() > 0.9


def test_labelled_synthetic_in_graph():
    data = load_dataset("kwai", synthetic=True, scale=0.01)
    assert data.synthetic is True and "SYNTHETIC" in data.source


def test_bad_scale_and_name():
    with pytest.raises(DataError, match="--scale"):
        make_synthetic("kwai", scale=0)
    with pytest.raises(DataError, match="no synthetic stand-in for 'baby'"):
        make_synthetic("baby")


def test_synthetic_text_words_follow_reliability():
    rec = make_synthetic("tiktok", scale=0.05, seed=0)
    bag, rel = rec.bags["textual"], rec.planted["reliability"][:, 2]
    item, word = bag.index
    topic_of_word = word // 40
    # share of an item's words in its most common topic: high for text-reliable items
    share = np.zeros(rec.num_items)
    for i in range(rec.num_items):
        share[i] = np.bincount(topic_of_word[item == i]).max() / (item == i).sum()
    assert share[rel > 0.5].mean() > share[rel < 0.5].mean() + 0.4
