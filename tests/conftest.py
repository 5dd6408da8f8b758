"""Shared fixtures: tiny hand-made dataset folders in each on-disk format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FUZZ_EXAMPLES = {"ci": 60, "heavy": 1000}  # examples per hypothesis property, per tier


def pytest_addoption(parser):
    parser.addoption(
        "--heavy",
        action="store_true",
        help="the heavy tier: also run tests marked heavy (long versions of CI tests) and "
        f"{FUZZ_EXAMPLES['heavy']:,} examples per fuzz property instead of "
        f"{FUZZ_EXAMPLES['ci']}",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "heavy: the long version of a CI test; runs with pytest --heavy"
    )
    try:
        from hypothesis import settings
    except ImportError:
        return
    for (
        tier,
        examples,
    ) in FUZZ_EXAMPLES.items():  # on top of the loaded profile (hypothesis' own "ci" on CI)
        settings.register_profile(f"mmgraph-{tier}", parent=settings(), max_examples=examples)
    settings.load_profile("mmgraph-heavy" if config.getoption("--heavy") else "mmgraph-ci")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--heavy"):
        skip = pytest.mark.skip(reason="heavy tier: run with pytest --heavy")
        for item in items:
            if "heavy" in item.keywords:
                item.add_marker(skip)


def shared_dataset(name: str) -> Path:
    """The real-data folder ``../shared/data/<name>``, or skip the test with a message."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (it sits beside the checkout in CI)")
    return path


def save_object_rows(path: Path, rows: list[list[int]]) -> None:
    """An MMGCN-style ragged object array: one row [u, i1, i2, ...] per user."""
    arr = np.empty(len(rows), dtype=object)
    for k, r in enumerate(rows):
        arr[k] = list(r)
    np.save(path, arr, allow_pickle=True)


# A 4-user, 6-item dataset.  Training pairs (u, i):
TRAIN = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 3), (2, 4), (3, 5), (3, 0)]
VAL = {0: [2], 1: [3], 2: [5]}
TEST = {0: [3, 4], 1: [0], 3: [1]}
NUM_USERS, NUM_ITEMS = 4, 6


def write_mmgcn(
    root: Path,
    *,
    offset: bool = True,
    modalities=("visual", "acoustic", "textual"),
    text_words: bool = False,
    pt: bool = True,
    dim: int = 3,
) -> Path:
    """Write the tiny dataset in the MMGCN format (items + U when ``offset``)."""
    root.mkdir(parents=True, exist_ok=True)
    off = NUM_USERS if offset else 0
    np.save(root / "train.npy", np.array([(u, i + off) for u, i in TRAIN], dtype=np.int64))
    d: dict[int, list[int]] = {}
    for u, i in TRAIN:
        d.setdefault(u, []).append(i + off)
    np.save(root / "user_item_dict.npy", d, allow_pickle=True)
    save_object_rows(
        root / "val_full.npy", [[u] + [i + off for i in its] for u, its in VAL.items()]
    )
    save_object_rows(
        root / "test_full.npy", [[u] + [i + off for i in its] for u, its in TEST.items()]
    )
    gen = torch.Generator().manual_seed(0)
    names = {"visual": "feat_v", "acoustic": "feat_a", "textual": "feat_t"}
    for m in modalities:
        if m == "textual" and text_words:
            # (item, word) pairs: item k has words k and k+1 of a 10-word vocabulary.
            items = torch.arange(NUM_ITEMS).repeat_interleave(2)
            words = torch.stack([torch.arange(NUM_ITEMS), torch.arange(NUM_ITEMS) + 1], 1).reshape(
                -1
            )
            torch.save(torch.stack([items, words]), root / "feat_t.pt")
        elif pt:
            torch.save(torch.randn(NUM_ITEMS, dim, generator=gen), root / f"{names[m]}.pt")
        else:
            np.save(root / f"{names[m]}.npy", torch.randn(NUM_ITEMS, dim, generator=gen).numpy())
    return root


@pytest.fixture
def mmgcn_dir(tmp_path: Path) -> Path:
    return write_mmgcn(tmp_path / "tiny")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep the fallback cache of read-only data folders inside the test's temporary folder."""
    monkeypatch.setenv("MMGRAPH_CACHE", str(tmp_path_factory.mktemp("cache")))
