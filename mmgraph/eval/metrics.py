"""Full-ranking evaluation: every item scored for every user with held-out items.

Protocol (stated in every table): users with at least one held-out interaction; their training
items masked to -inf (and their validation items at test time, when asked); one ``topk`` at the
largest K per user batch, exact score ties broken in a fixed random order of the items (seed 0,
the same for every model and run); all metrics computed on the device.

* Precision@K = hits / K, Recall@K = hits / |held-out_u|,
* NDCG@K with IDCG over min(|held-out_u|, K),
* hit_rate@K = share of users with at least one hit,
* HR@K (the MetaMMF paper's) = total hits / total held-out items (micro recall).

Per-user metrics are averaged over users with non-empty ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from mmgraph.distributed import Dist, all_sum
from mmgraph.eval.itemsets import UserItemSets

METRICS = ("precision", "recall", "ndcg", "hit_rate", "hr")


def _top(scores: Tensor, k: int, columns: Tensor) -> Tensor:
    """The ``k`` best items per row, ties broken in the order of ``columns``.

    One ``topk`` of ``k + 1`` on the scores as they are: a tie can decide the top ``k`` only where
    two neighbours among those values are equal.  Only such rows are ranked again over the
    columns in tie order; that gather costs as much as the scores' matrix product, so it is not
    done for every row."""
    values, top = torch.topk(scores, min(k + 1, scores.size(1)), dim=1)
    tied = (values[:, 1:] == values[:, :-1]).any(1)
    top = top[:, :k]
    if tied.any():
        again = tied.nonzero().flatten()
        top[again] = columns[torch.topk(scores[again][:, columns], k, dim=1).indices]
    return top


def full_ranking(
    score_fn: Callable[[Tensor], Tensor],
    num_items: int,
    held_out: UserItemSets,
    exclude: Sequence[UserItemSets],
    ks: Sequence[int] = (10, 20),
    batch_size: int | None = None,
    ranks: Dist = Dist(),
    candidates: Tensor | None = None,
    per_user: bool = False,
) -> dict[str, float]:
    """Evaluate ``score_fn(users) -> [B, num_items]`` against ``held_out``.

    ``exclude`` are the item sets masked to -inf (training, and validation at test time).
    ``batch_size`` users per batch; by default as many as keep a batch near 2^26 scores.
    Under ``torchrun`` (``ranks``) each rank scores every ``world``-th user and the totals are
    summed over the ranks, so every rank returns the same metrics.
    ``candidates`` (``[num_items]`` bool) ranks only those items (cold-start evaluation: the
    cold items); ``held_out`` should then hold only candidate items.  Ties are broken in a
    fixed random order of the items, not by item id: untrained or zero item vectors tie, and in
    real data item ids follow popularity (CLCRec's cold MovieLens items: Spearman -0.40), which
    index order would reward.
    Returns ``{"recall@20": ..., ..., "users": n}``; with ``per_user=True`` also ``"per_user"``:
    ``{"users": [n] ids, "recall@20": [n], ...}`` (float64 tensors on the CPU, one value per
    evaluated user, for paired significance tests; one process only).
    """
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"K values must be positive integers, got {ks}")
    kmax = min(ks[-1], num_items if candidates is None else int(candidates.sum()))
    device = held_out.indptr.device
    counts = held_out.counts()
    users = torch.nonzero(counts > 0).flatten()
    if users.numel() == 0:
        raise ValueError("no user has held-out items to evaluate")
    batch_size = batch_size or max(1, (1 << 26) // max(num_items, 1))
    discount = 1.0 / torch.log2(torch.arange(2, kmax + 2, device=device, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)
    averaged = [m for m in METRICS if m != "hr"]  # HR is micro: total hits / total held-out items
    sums = {
        f"{m}@{k}": torch.zeros((), dtype=torch.float64, device=device)
        for m in averaged
        for k in ks
    }
    total_hits = {k: torch.zeros((), dtype=torch.float64, device=device) for k in ks}
    n_users = users.numel()
    if per_user and ranks.enabled:
        raise ValueError("per-user metrics are computed in one process; evaluate without torchrun")
    mine = users[ranks.rank :: ranks.world]
    # the (candidate) items in the order that breaks ties: a fixed random order
    columns = torch.randperm(num_items, generator=torch.Generator().manual_seed(0)).to(device)
    if candidates is not None:
        columns = columns[candidates[columns]]
    rows: dict[str, list[Tensor]] = {}
    for start in range(0, mine.numel(), batch_size):
        batch = mine[start : start + batch_size]
        scores = score_fn(batch).float()
        for sets in exclude:
            row, col = sets.rows(batch)
            scores[row, col] = float("-inf")
        if candidates is not None:
            scores.masked_fill_(~candidates, float("-inf"))
        top = _top(scores, kmax, columns)
        del scores
        hits = held_out.contains(batch.unsqueeze(1), top).double()  # [B, kmax]
        n_true = counts[batch].double()
        for k in ks:
            h = hits[:, :k]
            n_hit = h.sum(1)
            idcg = ideal[(torch.clamp(n_true, max=k) - 1).long()]
            values = {
                "precision": n_hit / k,
                "recall": n_hit / n_true,
                "ndcg": (h * discount[:k]).sum(1) / idcg,
                "hit_rate": (n_hit > 0).double(),
            }
            for name, v in values.items():
                sums[f"{name}@{k}"] += v.sum()
                if per_user:
                    rows.setdefault(f"{name}@{k}", []).append(v.cpu())
            total_hits[k] += n_hit.sum()
        if per_user:
            rows.setdefault("users", []).append(batch.cpu())
    totals = all_sum(torch.stack([*sums.values(), *total_hits.values()]), ranks).tolist()
    out = {key: val / n_users for key, val in zip(sums, totals)}
    n_held_out = counts.sum().item()
    for k, hits in zip(ks, totals[len(sums) :]):
        out[f"hr@{k}"] = hits / n_held_out
    out["users"] = n_users
    if per_user:
        out["per_user"] = {key: torch.cat(parts) for key, parts in rows.items()}
    return out  # METRICS order (hr last), then "users" (and "per_user")
