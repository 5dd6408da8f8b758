"""Export a run's embeddings (and MetaMMF's per-item meta vectors and fusion outputs) as ``.npy``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from mmgraph.errors import MMGraphError
from mmgraph.runs.context import Experiment
from mmgraph.utils.io import atomic_write_bytes, atomic_write_text


def _ids_file(ids: np.ndarray | None, count: int, path: Path) -> None:
    """One source id per line, line n for index n."""
    values = range(count) if ids is None else ids.tolist()
    atomic_write_text("".join(f"{v}\n" for v in values), path)


def check_new_folder(out: Path) -> Path:
    """``out`` if it does not exist or is an empty folder; :class:`MMGraphError` otherwise."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MMGraphError(
            f"{out}: already exists and is not an empty folder; give a new --out "
            "(exports never overwrite)"
        )
    return out


@torch.no_grad()
def export(exp: Experiment, out: Path) -> list[str]:
    """Write ``user_embeddings.npy`` ``[U, d]``, ``item_embeddings.npy`` ``[I, d]`` (what the
    model scores with), ``user_ids.txt`` / ``item_ids.txt`` (source id of each row) and, for each
    model, the per-item arrays of :meth:`~mmgraph.models.Recommender.item_diagnostics` (MetaMMF:
    ``item_fused.npy``, its fusion output before propagation, ``item_meta.npy``, each item's meta
    vector s_i, and ``item_dynamic_share.npy`` ``[I, L]``, how far each item's fusion departs
    from the shared one per meta layer) into the new folder ``out``; return the file names."""
    out = check_new_folder(out)
    exp.model.eval()
    arrays = dict(zip(("user_embeddings", "item_embeddings"), exp.model(exp.graph)))
    arrays |= exp.model.item_diagnostics(exp.graph)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name, x in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, x.float().cpu().numpy(), allow_pickle=False)
            atomic_write_bytes(buffer.getvalue(), out / f"{name}.npy")
        _ids_file(exp.raw_ids[0], exp.graph.num_users, out / "user_ids.txt")
        _ids_file(exp.raw_ids[1], exp.graph.num_items, out / "item_ids.txt")
        info = {
            "dataset": exp.data_info["dataset"],
            "synthetic": exp.data_info["synthetic"],
            "data_fingerprint": exp.data_info["fingerprint"],
            "model": exp.config.model,
            "shapes": {k: list(v.shape) for k, v in arrays.items()},
        }
        atomic_write_text(json.dumps(info, indent=1), out / "export.json")
    except BaseException:  # all or nothing: the folder was empty (or absent) before
        for path in out.iterdir():
            path.unlink()
        if created:
            out.rmdir()
        raise
    return sorted(p.name for p in out.iterdir())
