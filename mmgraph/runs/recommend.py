"""Top-K recommendations for users given by their original (source) ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmgraph.errors import MMGraphError
from mmgraph.runs.context import Experiment


def _raw(ids, index: int):
    value = index if ids is None else ids[index]
    return value.item() if isinstance(value, np.generic) else value


def _rows(raw_users: list[str], top, item_ids) -> list[dict]:
    """``{"user", "rank", "item", "score"}`` rows of a ``topk`` result, items by source id
    (``item_ids[index]``, or the index); a user's ``-inf`` tail (items all seen) is left out."""
    rows = []
    for n, raw in enumerate(raw_users):
        for rank, (score, item) in enumerate(
            zip(top.values[n].tolist(), top.indices[n].tolist()), 1
        ):
            if score == float("-inf"):
                break
            rows.append(
                {
                    "user": str(raw).strip(),
                    "rank": rank,
                    "item": _raw(item_ids, item),
                    "score": score,
                }
            )
    return rows


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
            raise MMGraphError(
                f"user '{raw}' is not in {exp.data_info['dataset']} "
                f"({exp.graph.num_users:,} users); give a user id of its interaction files"
            )
        out.append(index)
    return torch.tensor(out, dtype=torch.long, device=exp.device)


@torch.no_grad()
def recommend(
    exp: Experiment, raw_users: list[str], k: int = 10, exclude_seen: bool = True
) -> list[dict]:
    """``k`` items per user, best first: ``{"user", "rank", "item", "score"}`` rows with source
    ids.  ``exclude_seen`` leaves out the user's known items (training, validation and test)."""
    if k < 1:
        raise MMGraphError(f"--k must be at least 1, got {k}")
    users = user_index(exp, raw_users)
    exp.model.eval()
    user_emb, item_emb = exp.model(exp.graph)
    scores = exp.model.full_scores(user_emb.float(), item_emb.float(), users).float()
    if exclude_seen:
        for split in ("train", "valid", "test"):  # the *_cold splits are parts of these
            row, col = exp.splits[split].rows(users)
            scores[row, col] = float("-inf")
    return _rows(raw_users, torch.topk(scores, min(k, exp.graph.num_items), dim=1), exp.raw_ids[1])


def read_new_items(exp: Experiment, folder: Path) -> tuple[dict[str, torch.Tensor], list]:
    """The features of items the run never saw, from ``folder``: one ``<modality>.npy`` (or
    ``<modality>_feat.npy``) per dense modality of the run's dataset, one row per new item, raw
    as the dataset's files (they are normalized, and reduced by PCA, as the run treated its
    items), and optionally ``item_index.txt`` with each row's item id (default: ``new-<row>``)."""
    from mmgraph.data import load_records
    from mmgraph.data.features import normalize, normalize_like, parse_pca, pca_like
    from mmgraph.data.formats.generic import read_item_index
    from mmgraph.data.formats.split_npz import feature_paths
    from mmgraph.data.records import check_features, feature_rows
    from mmgraph.data.safe_load import load_npy

    if not exp.model.capabilities.cold_start:
        raise MMGraphError(
            f"model '{exp.config.model}' cannot score items it never trained on; "
            "--new-items needs a model that reads items from their features alone (metammf)"
        )
    if not folder.is_dir():
        raise MMGraphError(
            f"{folder}: no such folder; --new-items takes a folder of <modality>.npy files"
        )
    if exp.graph.bags:
        raise MMGraphError(
            f"--new-items: the run's {', '.join(exp.graph.bags)} modality is a bag of words; "
            "new items can be given only for dense features"
        )
    d = exp.config.data
    paths = feature_paths(folder)
    wanted = list(exp.graph.features)
    missing = [m for m in wanted if m not in paths]
    if missing:
        raise MMGraphError(
            f"{folder}: no {', '.join(f'{m}.npy' for m in missing)}; give one file per "
            f"modality of the run ({', '.join(wanted)}), one row per new item"
        )
    raw = {m: load_npy(paths[m]) for m in wanted}
    rows = feature_rows(raw, paths)
    seed, reduce = exp.config.train.seed, parse_pca(d.pca, wanted)
    reference = None
    if d.normalize == "standard" or reduce:  # the run's items, raw: their statistics and PCA fit
        reference = load_records(
            d.name,
            d.root,
            synthetic=d.synthetic,
            scale=d.scale,
            seed=seed,
            split=d.split,
            normalize="none",
            cold_items=d.cold_items,
        ).features
    feats = {}
    for m in wanted:
        x = check_features(raw[m], m, rows, str(paths[m]))
        dim = (reference[m] if reference is not None else exp.graph.features[m]).shape[1]
        if x.shape[1] != dim:
            raise MMGraphError(
                f"{paths[m]}: {m} features have {x.shape[1]} columns, the run's have {dim}; "
                f"give raw features of the kind the run was trained on"
            )
        x = normalize_like(x, reference[m] if reference is not None else x, d.normalize)
        if m in reduce:  # the run's PCA, refitted as it was fitted (same items, same seed)
            x = pca_like(x, normalize(reference[m], d.normalize), reduce[m], seed)
        feats[m] = torch.from_numpy(x).to(exp.device)
    index = folder / "item_index.txt"
    ids = [f"new-{r}" for r in range(rows)]
    if index.is_file():
        ids = read_item_index(index)
        if len(ids) != rows:
            raise MMGraphError(
                f"{index}: {len(ids)} ids for {rows} feature rows; give one id per row"
            )
    return feats, ids


@torch.no_grad()
def recommend_new(
    exp: Experiment, raw_users: list[str], folder: str | Path, k: int = 10
) -> list[dict]:
    """``k`` of the new items in ``folder`` (:func:`read_new_items`) per user, best first, scored
    from their features alone (the model's learned default ID vector stands in for an ID
    embedding); rows as :func:`recommend`."""
    if k < 1:
        raise MMGraphError(f"--k must be at least 1, got {k}")
    users = user_index(exp, raw_users)
    feats, ids = read_new_items(exp, Path(folder))
    graph = exp.graph.with_new_items(feats)
    exp.model.eval()
    user_emb, item_emb = exp.model(graph)
    scores = exp.model.full_scores(user_emb.float(), item_emb[exp.graph.num_items :].float(), users)
    return _rows(raw_users, torch.topk(scores.float(), min(k, len(ids)), dim=1), ids)
