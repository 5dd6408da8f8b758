"""Top-K recommendations for users given by their original (source) ids."""

from __future__ import annotations

import numpy as np
import torch

from mmgraph.errors import MMGraphError
from mmgraph.train.trainer import Experiment


def _raw(ids: np.ndarray | None, index: int):
    value = index if ids is None else ids[index]
    return value.item() if isinstance(value, np.generic) else value


def user_index(exp: Experiment, raw_users: list[str]) -> torch.Tensor:
    """Internal indices of users given by their source ids (as text); :class:`MMGraphError`
    naming the first unknown one."""
    ids = exp.raw_ids[0]
    known = dict(zip(map(str, ids.tolist()), range(len(ids)))) if ids is not None else None
    out = []
    for raw in raw_users:
        raw = str(raw).strip()
        if known is not None:
            index = known.get(raw)
        else:
            index = int(raw) if raw.lstrip("-").isdigit() else None
            index = index if index is not None and 0 <= index < exp.graph.num_users else None
        if index is None:
            raise MMGraphError(f"user '{raw}' is not in {exp.data_info['dataset']} "
                               f"({exp.graph.num_users:,} users); give a user id of its interaction files")
        out.append(index)
    return torch.tensor(out, dtype=torch.long, device=exp.device)


@torch.no_grad()
def recommend(exp: Experiment, raw_users: list[str], k: int = 10, exclude_seen: bool = True) -> list[dict]:
    """``k`` items per user, best first: ``{"user", "rank", "item", "score"}`` rows with source
    ids.  ``exclude_seen`` leaves out the user's known items (training, validation and test)."""
    if k < 1:
        raise MMGraphError(f"--k must be at least 1, got {k}")
    users = user_index(exp, raw_users)
    exp.model.eval()
    user_emb, item_emb = exp.model.embed(exp.graph)
    scores = exp.model.full_scores(user_emb.float(), item_emb.float(), users).float()
    if exclude_seen:
        for sets in exp.splits.values():
            row, col = sets.rows(users)
            scores[row, col] = float("-inf")
    top = torch.topk(scores, min(k, exp.graph.num_items), dim=1)
    rows = []
    for n, raw in enumerate(raw_users):
        for rank, (score, item) in enumerate(zip(top.values[n].tolist(), top.indices[n].tolist()), 1):
            if score == float("-inf"):  # the user has seen (nearly) every item
                break
            rows.append({"user": str(raw).strip(), "rank": rank, "item": _raw(exp.raw_ids[1], item),
                         "score": score})
    return rows
