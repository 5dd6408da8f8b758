"""Synthetic stand-ins for Kwai, TikTok and MovieLens, with structure that dynamic fusion can use.

The stand-in has the named dataset's user / item / interaction counts and modality dims (times
``scale``), power-law user activity and item popularity, and a planted structure:

* every item has latent factors ``q_i`` that drive who interacts with it;
* every item belongs to one of a few *types*; each type trusts one modality: that modality's
  features are a clean view of ``q_i`` (reliability ~0.85), the others are mostly noise (~0.15).
  The noise corrupts the latent view itself, before it is embedded in the feature space, so no
  projection of an unreliable modality recovers ``q_i``: the best fusion weighs each item's
  modalities by that item's reliabilities;
* each modality's features also carry a type signature, so the item's type, and hence which
  modality to trust, can be read off its features;
* TikTok's text is, as in MMGCN's files, a bag of (item, word id) pairs: each item has a topic
  given by its latent factors, and each of its words is on-topic with probability equal to its
  text reliability.

``x_i^m = (sqrt(r_im) q_i + sqrt(1 - r_im) eps_im) P_m + 0.5 noise + mu_{type(i), m}``
(``q_i`` scaled to unit variance, ``eps_im`` latent noise, ``mu`` the type signature).

A static fusion must weigh the modalities the same way for every item; a per-item (meta) fusion
can weigh them by item type.  Everything is drawn from ``numpy.random.default_rng(seed)``, so a
seed gives the same dataset on every machine.  Results on it are always labelled synthetic.
"""

from __future__ import annotations

import math

import numpy as np

from mmgraph.data.catalog import CATALOG, SYNTHETIC_NAMES
from mmgraph.data.records import BagOfWords, RecData, build_records
from mmgraph.data.splits import describe_split, split_per_user
from mmgraph.errors import DataError

_BLOCK_ELEMENTS = 1 << 24  # user-block size for sampling: ~64 MB of float32 scores


def _allocate(total: int, weights: np.ndarray, minimum: int, cap: int) -> np.ndarray:
    """Integer counts >= minimum, <= cap, summing to ``total`` (when feasible), ~ proportional to weights."""
    n = np.full(weights.size, minimum, dtype=np.int64)
    free = np.ones(weights.size, dtype=bool)
    for _ in range(50):
        rest = total - n.sum()
        if rest <= 0 or not free.any():
            break
        share = rest * weights * free / (weights * free).sum()
        add = np.floor(share).astype(np.int64)
        remainder = int(rest - add.sum())
        if remainder > 0:  # largest remainders get the last units
            add[np.argsort(-(share - add), kind="stable")[:remainder]] += 1
        n = np.minimum(n + add, cap)
        free = n < cap
    return n


def _gumbel(rng: np.random.Generator, shape) -> np.ndarray:
    return -np.log(np.maximum(rng.standard_exponential(shape, dtype=np.float32), 1e-30))


def _affinity(p: np.ndarray, q: np.ndarray, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    out = np.empty(users.size, dtype=np.float32)
    for s in range(0, users.size, 1 << 20):
        u, i = users[s : s + (1 << 20)], items[s : s + (1 << 20)]
        out[s : s + u.size] = np.einsum("nd,nd->n", p[u], q[i])
    return out


def _sample_interactions(rng, p, q, log_pop, counts):
    """Each user u picks ``counts[u]`` distinct items, ~ popularity * exp(3 p_u . q_i).

    Candidates are drawn by popularity (3 n_u + 30 per user) and the user keeps the Gumbel-top
    n_u of them by affinity, which costs O(interactions) instead of O(users x items).  The few
    users whose candidates hold too few distinct items are drawn exactly from the full scores.
    """
    num_users, num_items = len(counts), len(log_pop)
    pop = np.exp(log_pop.astype(np.float64))
    cdf = np.cumsum(pop / pop.sum())
    per_user = 3 * counts + 30
    cand_u = np.repeat(np.arange(num_users), per_user)
    cand_i = np.minimum(np.searchsorted(cdf, rng.random(cand_u.size)), num_items - 1)
    key = 3.0 * _affinity(p, q, cand_u, cand_i) + _gumbel(rng, cand_u.size)
    order = np.lexsort((-key, cand_u))
    pair = cand_u[order] * np.int64(num_items) + cand_i[order]
    _, first = np.unique(pair, return_index=True)
    first = np.sort(first)  # distinct candidates, still by user then key (best first)
    u, i = cand_u[order][first], cand_i[order][first]
    starts = np.searchsorted(u, np.arange(num_users))
    rank = np.arange(u.size) - starts[u]
    keep = rank < counts[u]
    u, i = u[keep], i[keep]
    short = np.nonzero(np.bincount(u, minlength=num_users) < counts)[0]
    if short.size:  # exact Gumbel top-k over all items for these users
        exact_u, exact_i = [], []
        for s in range(0, short.size, max(1, _BLOCK_ELEMENTS // num_items)):
            block = short[s : s + max(1, _BLOCK_ELEMENTS // num_items)]
            scores = log_pop + 3.0 * (p[block] @ q.T) + _gumbel(rng, (block.size, num_items))
            top = np.argsort(-scores, axis=1)
            for row, user in enumerate(block):
                exact_u.append(np.full(counts[user], user))
                exact_i.append(top[row, : counts[user]])
        drop = np.isin(u, short)
        u = np.concatenate([u[~drop]] + exact_u)
        i = np.concatenate([i[~drop]] + exact_i)
    return u, i


def _bag_of_words(
    rng: np.random.Generator,
    q: np.ndarray,
    reliability: np.ndarray,
    num_topics: int = 64,
    words_per_topic: int = 40,
) -> BagOfWords:
    """Text as (item, word) pairs, like MMGCN's TikTok: each item has a topic given by its latent
    factors; a word is on-topic with probability = the item's text reliability, else random."""
    directions = rng.standard_normal((num_topics, q.shape[1])).astype(np.float32)
    topic = np.argmax(q @ directions.T, axis=1)
    item = np.repeat(np.arange(q.shape[0]), 5 + rng.poisson(5, q.shape[0]))
    on_topic = rng.random(item.size) < reliability[item]
    vocab = num_topics * words_per_topic
    words = np.where(
        on_topic,
        topic[item] * words_per_topic + rng.integers(words_per_topic, size=item.size),
        rng.integers(vocab, size=item.size),
    )
    return BagOfWords(np.stack([item, words]), vocab)


def make_synthetic(
    name: str, *, scale: float = 1.0, seed: int = 0, latent_dim: int = 32, num_types: int = 8
) -> RecData:
    """Generate the synthetic stand-in for ``name`` (``kwai``, ``tiktok`` or ``movielens``)."""
    if name not in SYNTHETIC_NAMES:
        raise DataError(
            f"no synthetic stand-in for '{name}'; choose one of {', '.join(SYNTHETIC_NAMES)}"
        )
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0 < scale <= 16):
        raise DataError(f"--scale must be a number in (0, 16], got {scale}")
    spec = CATALOG[name]
    rng = np.random.default_rng(seed)
    num_users = max(8, round(spec.users * scale))
    num_items = max(16, round(spec.items * scale))
    cap = max(3, num_items // 2)
    total = int(min(max(round(spec.interactions * scale), 3 * num_users), num_users * cap))

    # Latent factors: item types are clusters in latent space.
    item_type = rng.integers(num_types, size=num_items)
    centers = rng.standard_normal((num_types, latent_dim)).astype(np.float32)
    q = 0.6 * centers[item_type] + 0.8 * rng.standard_normal(
        (num_items, latent_dim), dtype=np.float32
    )
    p = rng.standard_normal((num_users, latent_dim), dtype=np.float32)
    q /= math.sqrt(latent_dim) ** 0.5
    p /= math.sqrt(latent_dim) ** 0.5  # p.q has variance ~1

    # Power-law activity (Pareto) and popularity (Zipf-like over a random item order).
    activity = rng.pareto(1.5, size=num_users) + 1.0
    counts = _allocate(total, activity, minimum=3, cap=cap)
    log_pop = (-0.8 * np.log1p(rng.permutation(num_items))).astype(np.float32)

    users, items = _sample_interactions(rng, p, q, log_pop, counts)

    # Features: per-type trusted modality, noisy views of q, a type signature per modality.
    modalities = list(spec.modalities.items())
    trusted = rng.integers(len(modalities), size=num_types)
    reliability = np.where(
        trusted[item_type][:, None] == np.arange(len(modalities))[None, :], 0.85, 0.15
    )
    reliability = np.clip(reliability + rng.uniform(-0.1, 0.1, reliability.shape), 0.02, 0.98)
    q_std = float(q.std())
    features, bags = {}, {}
    for m, (modality, dim) in enumerate(modalities):
        if modality in spec.bag_modalities:
            bags[modality] = _bag_of_words(rng, q, reliability[:, m])
            continue
        proj = rng.standard_normal((latent_dim, dim), dtype=np.float32) / math.sqrt(latent_dim)
        signature = 0.5 * rng.standard_normal((num_types, dim), dtype=np.float32)
        x = np.empty((num_items, dim), dtype=np.float32)
        for s in range(0, num_items, 8192):  # chunked: peak memory ~ one matrix
            rows = slice(s, s + 8192)
            r = reliability[rows, m].astype(np.float32)[:, None]
            view = np.sqrt(r) * q[rows] / q_std + np.sqrt(1 - r) * rng.standard_normal(
                (r.shape[0], latent_dim), dtype=np.float32
            )
            x[rows] = (
                view @ proj
                + 0.5 * rng.standard_normal((r.shape[0], dim), dtype=np.float32)
                + signature[item_type[rows]]
            )
        features[modality] = x

    train, val, test = split_per_user(users, items, seed=seed)
    rec = build_records(
        name,
        num_users=num_users,
        num_items=num_items,
        train=train,
        val=val,
        test=test,
        features=features,
        bags=bags,
        synthetic=True,
        source=f"SYNTHETIC stand-in for {name} (seed {seed}, scale {scale:g}), not real data",
        split_protocol=describe_split("random", (0.8, 0.1, 0.1), seed),
    )
    rec.planted = {
        "item_type": item_type,
        "reliability": reliability.astype(np.float32),
        "item_factors": q,
        "user_factors": p,
    }
    return rec
