import json
import os
import stat
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import write_mmgcn

from mmgraph.data import load_records, registry
from mmgraph.data.features import normalize, parse_pca, preprocess
from mmgraph.data.formats import FORMATS
from mmgraph.errors import DataError


def test_second_load_comes_from_the_cache(mmgcn_dir, monkeypatch):
    first = load_records("tiny", mmgcn_dir)
    assert len(list((mmgcn_dir / ".mmgraph_cache").iterdir())) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("source files parsed again")

    monkeypatch.setitem(FORMATS, "mmgcn", replace(FORMATS["mmgcn"], read=refuse))
    second = load_records("tiny", mmgcn_dir)
    np.testing.assert_array_equal(first.train, second.train)
    np.testing.assert_array_equal(first.features["visual"], second.features["visual"])
    assert second.file_counts == first.file_counts and second.notes == first.notes


def test_cached_preprocessed_features_come_back(mmgcn_dir, monkeypatch):
    first = load_records("tiny", mmgcn_dir, normalize="l2")
    parse = lambda *a, **k: pytest.fail("source parsed again")  # noqa: E731
    monkeypatch.setitem(FORMATS, "mmgcn", replace(FORMATS["mmgcn"], read=parse))
    second = load_records("tiny", mmgcn_dir, normalize="l2")
    assert list(second.features) == ["visual", "acoustic", "textual"]
    for m in first.features:
        np.testing.assert_array_equal(first.features[m], second.features[m])


def test_cached_features_are_memory_mapped_copy_on_write(mmgcn_dir):
    load_records("tiny", mmgcn_dir, normalize="l2")
    data = registry.load_dataset("tiny", mmgcn_dir, normalize="l2")  # from the cache
    x = data["item"].visual
    mapped = load_records("tiny", mmgcn_dir, normalize="l2").features["visual"]
    assert isinstance(mapped, np.memmap) and str(mapped.filename).endswith("feat.visual.npy")
    before = np.load(mapped.filename).copy()
    x[0, 0] = 1e6  # writes land in private pages, never in the cache file
    np.testing.assert_array_equal(np.load(mapped.filename), before)


@pytest.mark.parametrize("changed", ["train.npy", "feat_v.pt"])
def test_changed_source_invalidates_the_cache(mmgcn_dir, changed):
    load_records("tiny", mmgcn_dir, normalize="standard")
    if changed == "train.npy":
        train = np.load(mmgcn_dir / "train.npy")
        np.save(mmgcn_dir / "train.npy", train[:-1])
        assert (
            load_records("tiny", mmgcn_dir, normalize="standard").train.shape[1] == len(train) - 1
        )
    else:
        torch.save(torch.arange(18.0).reshape(6, 3), mmgcn_dir / "feat_v.pt")
        x = load_records("tiny", mmgcn_dir, normalize="standard").features["visual"]
        np.testing.assert_allclose(x[:, 0], (np.arange(6) - 2.5) / np.arange(6).std(), rtol=1e-5)
    assert len(list((mmgcn_dir / ".mmgraph_cache").iterdir())) == 2


def test_entry_of_an_older_version_is_rebuilt(mmgcn_dir):
    load_records("tiny", mmgcn_dir)
    (entry,) = (mmgcn_dir / ".mmgraph_cache").iterdir()
    meta = json.loads((entry / "meta.json").read_text())
    meta["version"] = 1
    del meta["features_cached"]
    (entry / "meta.json").write_text(json.dumps(meta))
    assert load_records("tiny", mmgcn_dir).train.shape[1] == 8


def test_failed_load_leaves_no_cache_folder(mmgcn_dir):
    (mmgcn_dir / "feat_v.pt").write_bytes(b"broken")
    with pytest.raises(DataError):
        load_records("tiny", mmgcn_dir)
    assert not (mmgcn_dir / ".mmgraph_cache").exists()


def test_unwritable_cache_warns_and_loads(mmgcn_dir, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry.cache, "save", full_disk)
    with pytest.warns(UserWarning, match="could not write the dataset cache .*No space left"):
        rec = load_records("tiny", mmgcn_dir)
    assert rec.train.shape[1] == 8


def test_options_are_part_of_the_key(mmgcn_dir):
    plain = load_records("tiny", mmgcn_dir)
    l2 = load_records("tiny", mmgcn_dir, normalize="l2")
    assert not np.allclose(plain.features["visual"], l2.features["visual"])
    assert len(list((mmgcn_dir / ".mmgraph_cache").iterdir())) == 2
    np.testing.assert_allclose(np.linalg.norm(l2.features["visual"], axis=1), 1, rtol=1e-5)


def test_read_only_folder_uses_the_user_cache(tmp_path, monkeypatch):
    root = write_mmgcn(tmp_path / "ro")
    user_cache = tmp_path / "user_cache"
    monkeypatch.setenv("MMGRAPH_CACHE", str(user_cache))
    os.chmod(root, stat.S_IRUSR | stat.S_IXUSR)
    try:
        load_records("ro", root)
    finally:
        os.chmod(root, stat.S_IRWXU)
    assert not (root / ".mmgraph_cache").exists() and len(list(user_cache.iterdir())) == 1


def test_normalizations():
    x = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(normalize(x, "l2"), [[0.6, 0.8], [1, 0], [0, 1]], rtol=1e-6)
    s = normalize(x, "standard")
    np.testing.assert_allclose(s.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(s.std(0), 1, rtol=1e-5)
    with pytest.raises(DataError, match="unknown normalization"):
        normalize(x, "minmax")


def test_pca_per_modality_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    feats = {
        "visual": rng.normal(size=(50, 20)).astype(np.float32),
        "acoustic": rng.normal(size=(50, 6)).astype(np.float32),
    }
    out, notes = preprocess(feats, pca_dims=parse_pca("visual=4", list(feats)))
    assert notes == []
    assert out["visual"].shape == (50, 4) and out["acoustic"].shape == (50, 6)
    ref = PCA(4, svd_solver="full").fit(feats["visual"])
    # same subspace as an exact PCA: projections agree up to sign
    np.testing.assert_allclose(
        np.abs(out["visual"]), np.abs(ref.transform(feats["visual"])), atol=1e-3
    )
    assert parse_pca(8, ["a", "b"]) == {"a": 8, "b": 8}
    with pytest.raises(DataError, match="unknown modalities textual"):
        parse_pca("textual=8", ["visual"])


def test_pca_request_that_changes_nothing_is_noted(mmgcn_dir):
    rec = load_records("tiny", mmgcn_dir, pca=50)
    assert rec.features["visual"].shape == (6, 3)
    assert any("PCA to 50 dims left visual unchanged" in n for n in rec.notes)
