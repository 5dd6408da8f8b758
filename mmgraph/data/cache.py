"""Cache of processed datasets, keyed by the content hash of every source file and the options.

A cache entry is a folder of plain ``.npy`` files plus ``meta.json`` (no pickles), written to a
temporary folder and renamed into place, so a crash never leaves a half-written entry.  Entries
live in ``<data root>/.mmgraph_cache/`` or, when the data folder is read-only, in
``$MMGRAPH_CACHE`` (default ``~/.cache/mmgraph``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mmgraph.data.records import BagOfWords, RecData

FORMAT_VERSION = 3  # bump whenever what an entry holds changes


def file_digest(path: Path, chunk: int = 1 << 23) -> str:
    h = hashlib.sha256()
    buf = bytearray(chunk)  # one reused buffer: no fresh pages to fault in per chunk
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def data_fingerprint(kind: str, files: list[Path], options: dict) -> str:
    """24 hex digits of SHA-256 over a dataset's source files and loading options: it changes
    when any source byte or option does.  Runs keep it to notice data changed under them."""
    payload = {
        "kind": kind,
        "options": options,
        "files": {p.name: file_digest(p) for p in sorted(files)},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :24
    ]


def cache_key(fingerprint: str) -> str:
    """The cache entry of the data with ``fingerprint`` in this version of the cache format."""
    return hashlib.sha256(f"{fingerprint}-v{FORMAT_VERSION}".encode()).hexdigest()[:24]


def cache_root(data_root: Path) -> Path:
    """``<data_root>/.mmgraph_cache`` when the data folder is writable, else the user cache.

    Nothing is created here; :func:`save` makes the folder when it writes an entry.
    """
    # Respect a folder marked read-only even when running as root (os.access says yes).
    if os.access(data_root, os.W_OK) and data_root.stat().st_mode & 0o222:
        return data_root / ".mmgraph_cache"
    return Path(os.environ.get("MMGRAPH_CACHE", Path.home() / ".cache" / "mmgraph"))


def save(rec: RecData, folder: Path, *, with_features: bool) -> None:
    """Write ``rec`` to ``folder`` atomically (temporary folder + rename).

    Raw feature matrices are left out unless ``with_features`` (set when preprocessing changed
    them): re-reading the hashed source is as fast as reading a copy and needs no second copy
    on disk.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        arrays = {"train": rec.train, "val": rec.val, "test": rec.test}
        if with_features:
            arrays |= {f"feat.{m}": x for m, x in rec.features.items()}
        arrays |= {f"bag.{m}": b.index for m, b in rec.bags.items()}
        if rec.user_ids is not None:
            arrays["user_ids"] = rec.user_ids
        if rec.item_ids is not None:
            arrays["item_ids"] = rec.item_ids
        if rec.cold_items is not None:
            arrays["cold_items"] = rec.cold_items
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", np.asarray(arr), allow_pickle=False)
        meta = {
            "version": FORMAT_VERSION,
            "name": rec.name,
            "num_users": rec.num_users,
            "num_items": rec.num_items,
            "features": list(rec.features),
            "features_cached": with_features,
            "bags": {m: b.num_words for m, b in rec.bags.items()},
            "synthetic": rec.synthetic,
            "source": rec.source,
            "split_protocol": rec.split_protocol,
            "notes": rec.notes,
            "file_counts": rec.file_counts,
            "arrays": sorted(arrays),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process filled the entry first; theirs is as good
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load(folder: Path) -> tuple[RecData, list[str]] | None:
    """Read a cache entry as ``(records, dense modalities still to read from the sources)``.

    Returns ``None`` when the entry is absent or unreadable (then it is rebuilt).
    """
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("version") != FORMAT_VERSION:
            return None
        # features are memory-mapped (copy-on-write: the file is never written), so a large
        # matrix costs pages as they are read, not its size, and the OS may drop them again
        arr = {
            k: np.load(
                folder / f"{k}.npy",
                allow_pickle=False,
                mmap_mode="c" if k.startswith("feat.") else None,
            )
            for k in meta["arrays"]
        }
        cached = meta["features_cached"]
        rec = RecData(
            name=meta["name"],
            num_users=meta["num_users"],
            num_items=meta["num_items"],
            train=arr["train"],
            val=arr["val"],
            test=arr["test"],
            features={m: arr[f"feat.{m}"] for m in meta["features"]} if cached else {},
            bags={m: BagOfWords(arr[f"bag.{m}"], n) for m, n in meta["bags"].items()},
            user_ids=arr.get("user_ids"),
            item_ids=arr.get("item_ids"),
            synthetic=meta["synthetic"],
            source=meta["source"],
            split_protocol=meta["split_protocol"],
            notes=meta["notes"],
            file_counts=meta["file_counts"],
            cold_items=arr.get("cold_items"),
        )
    except (OSError, ValueError, KeyError, TypeError):  # absent, partial or older: rebuild
        return None
    return rec, [] if cached else list(meta["features"])
