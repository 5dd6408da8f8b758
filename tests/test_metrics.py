import math

import numpy as np
import pytest
import torch

from mmgraph.errors import MMGraphError
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.metrics import full_ranking
from mmgraph.eval.significance import paired_test
from mmgraph.train.negatives import sample_negatives


def reference(scores, train, held_out, ks):
    """Slow, obviously correct: Python loops over users and ranks."""
    U, I = scores.shape
    out = {f"{m}@{k}": [] for m in ("precision", "recall", "ndcg", "hit_rate") for k in ks}
    total_hits = {k: 0 for k in ks}
    n_held = sum(len(v) for v in held_out.values())
    for u in range(U):
        truth = held_out.get(u, set())
        if not truth:
            continue
        s = scores[u].copy()
        for i in train.get(u, ()):
            s[i] = -np.inf
        ranking = sorted(range(I), key=lambda i: (-s[i], i))
        for k in ks:
            top = ranking[:k]
            hits = [1 if i in truth else 0 for i in top]
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(len(truth), k)))
            out[f"precision@{k}"].append(sum(hits) / k)
            out[f"recall@{k}"].append(sum(hits) / len(truth))
            out[f"ndcg@{k}"].append(dcg / idcg)
            out[f"hit_rate@{k}"].append(float(sum(hits) > 0))
            total_hits[k] += sum(hits)
    res = {key: float(np.mean(v)) for key, v in out.items()}
    res |= {f"hr@{k}": total_hits[k] / n_held for k in ks}
    return res


def as_pairs(d):
    return torch.tensor([(u, i) for u, items in d.items() for i in items], dtype=torch.long).t()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_ranking_matches_slow_reference(seed):
    rng = np.random.default_rng(seed)
    U, I = 23, 40
    scores = rng.normal(size=(U, I)).astype(np.float32)
    train, held = {}, {}
    for u in range(U):
        items = rng.permutation(I)
        train[u] = set(items[: rng.integers(0, 10)].tolist())
        if u % 4:  # a quarter of the users have nothing held out
            held[u] = set(items[10 : 10 + rng.integers(1, 25)].tolist())
    got = full_ranking(
        lambda users: torch.from_numpy(scores)[users],
        I,
        UserItemSets(as_pairs(held), U, I),
        [UserItemSets(as_pairs(train), U, I)],
        ks=(1, 5, 20),
        batch_size=4,
    )
    ref = reference(scores, train, held, (1, 5, 20))
    assert got["users"] == len(held)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def test_masking_training_items_to_minus_inf():
    scores = torch.tensor([[10.0, 9.0, 1.0, 0.0]])
    held = UserItemSets(torch.tensor([[0], [2]]), 1, 4)
    train = UserItemSets(torch.tensor([[0, 0], [0, 1]]), 1, 4)
    got = full_ranking(lambda users: scores[users].clone(), 4, held, [train], ks=(1,))
    assert got["recall@1"] == 1.0  # items 0 and 1 masked, item 2 ranks first
    unmasked = full_ranking(lambda users: scores[users].clone(), 4, held, [], ks=(1,))
    assert unmasked["recall@1"] == 0.0


def test_negatives_avoid_training_items_and_are_seeded():
    pairs = torch.tensor([[0, 0, 0, 1, 1], [0, 1, 2, 3, 4]])
    train = UserItemSets(pairs, 2, 6)
    users = torch.tensor([0, 1] * 500)
    a = sample_negatives(train, users, 3, torch.Generator().manual_seed(0))
    b = sample_negatives(train, users, 3, torch.Generator().manual_seed(0))
    assert a.shape == (1000, 3) and torch.equal(a, b)
    assert not train.contains(users.view(-1, 1), a).any()
    assert set(a[users == 0].unique().tolist()) == {3, 4, 5}


def test_item_sets_rows_and_contains():
    sets = UserItemSets(torch.tensor([[2, 0, 2, 2], [5, 1, 0, 5]]), 3, 6)
    row, item = sets.rows(torch.tensor([2, 1, 0]))
    assert row.tolist() == [0, 0, 2] and item.tolist() == [0, 5, 1]
    assert sets.contains(torch.tensor([2, 2, 1]), torch.tensor([5, 1, 0])).tolist() == [
        True,
        False,
        False,
    ]
    assert sets.counts().tolist() == [1, 0, 2]


def test_negatives_are_exact_for_users_who_have_seen_nearly_everything():
    # user 0 has seen every item but 7 (item 8 is cold): rejection alone keeps invalid draws;
    # the exact fallback (forced here with max_rounds=0) never does
    n = 10
    pairs = torch.tensor([[0] * 8 + [1], [0, 1, 2, 3, 4, 5, 6, 9, 0]])
    train = UserItemSets(pairs, 2, n)
    cold = torch.zeros(n, dtype=torch.bool)
    cold[8] = True
    users = torch.tensor([0, 1] * 200)
    for rounds in (0, 50):
        neg = sample_negatives(
            train, users, 4, torch.Generator().manual_seed(1), max_rounds=rounds, exclude=cold
        )
        assert set(neg[users == 0].unique().tolist()) == {7}
        assert set(neg[users == 1].unique().tolist()) == set(range(1, 8)) | {9}
    with pytest.raises(MMGraphError, match="user 0 has trained on every item"):
        full = UserItemSets(
            torch.stack(
                [torch.zeros(9, dtype=torch.long), torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 9])]
            ),
            1,
            n,
        )
        sample_negatives(full, torch.tensor([0]), 1, torch.Generator().manual_seed(0), exclude=cold)


def test_per_user_metrics_average_to_the_reported_ones():
    torch.manual_seed(0)
    U, I = 40, 30
    held = UserItemSets(
        torch.stack([torch.randint(0, U, (120,)), torch.randint(0, I, (120,))]), U, I
    )
    scores = torch.randn(U, I)
    out = full_ranking(
        lambda users: scores[users].clone(), I, held, [], ks=[5, 10], batch_size=7, per_user=True
    )
    rows = out["per_user"]
    assert torch.equal(rows["users"], torch.nonzero(held.counts() > 0).flatten())
    for key in ("recall@5", "ndcg@10", "precision@10", "hit_rate@5"):
        assert rows[key].shape == (out["users"],)
        assert rows[key].mean().item() == pytest.approx(out[key], abs=1e-12)
    assert "per_user" not in full_ranking(lambda users: scores[users].clone(), I, held, [], ks=[5])


def test_paired_test_against_scipy_and_its_edges():
    from scipy import stats

    rng = np.random.default_rng(0)
    b = rng.random(300)
    a = b + rng.normal(0.05, 0.1, 300)
    got = paired_test(a, b)
    assert got["mean_diff"] == pytest.approx((a - b).mean())
    assert got["t_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue) and got["t_p"] < 1e-6
    assert got["wilcoxon_p"] == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert got["a_wins"] + got["b_wins"] == pytest.approx(1.0) and got["pairs"] == 300
    # the bootstrap interval of the mean difference: around it, about 2 standard errors wide each way
    se = (a - b).std(ddof=1) / np.sqrt(300)
    assert got["ci_low"] < got["mean_diff"] < got["ci_high"]
    assert got["ci_high"] - got["ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert paired_test(a, b)["ci_low"] == got["ci_low"]  # seeded
    same = paired_test(b, b)
    assert same["t_p"] == 1.0 and same["wilcoxon_p"] == 1.0 and same["mean_diff"] == 0
    assert same["ci_low"] == same["ci_high"] == 0.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_test(a, b[:10])


def test_pool_users_averages_seeds_on_fixed_data_and_pairs_seeds_and_users_otherwise():
    from mmgraph.eval.significance import pool_users

    runs = [
        {"users": np.array([3, 7]), "recall@20": np.array([0.2, 0.4])},
        {"users": np.array([3, 7]), "recall@20": np.array([0.4, 0.0])},
    ]
    units, values = pool_users(runs, "recall@20", data_follows_seed=False)
    assert units.tolist() == [3, 7] and values == pytest.approx([0.3, 0.2])
    units, values = pool_users(runs, "recall@20", data_follows_seed=True)
    assert units.tolist() == [[0, 3], [0, 7], [1, 3], [1, 7]] and values.tolist() == [
        0.2,
        0.4,
        0.4,
        0.0,
    ]
    runs[1]["users"] = np.array([3, 8])
    with pytest.raises(ValueError, match="rank different users"):
        pool_users(runs, "recall@20", data_follows_seed=False)


def test_ties_broken_only_where_they_decide_equal_a_full_tie_order_ranking():
    from mmgraph.eval.metrics import _top

    torch.manual_seed(0)
    scores = torch.randint(0, 6, (300, 40)).float()  # many ties
    scores[:150] += torch.rand(150, 40)  # ... and rows without any
    columns = torch.randperm(40)
    expected = columns[torch.topk(scores[:, columns], 10, dim=1).indices]
    assert torch.equal(_top(scores, 10, columns), expected)
