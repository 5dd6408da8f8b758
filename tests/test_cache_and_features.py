import os
import stat

import numpy as np
import pytest
import torch

from conftest import write_mmgcn
from mmgraph.data import load_records, registry
from mmgraph.data.features import normalize, parse_pca, preprocess
from mmgraph.errors import DataError


def test_second_load_comes_from_the_cache(mmgcn_dir, monkeypatch):
    first = load_records("tiny", mmgcn_dir)
    assert len(list((mmgcn_dir / ".mmgraph_cache").iterdir())) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("source files parsed again")

    monkeypatch.setattr(registry, "_read", refuse)
    second = load_records("tiny", mmgcn_dir)
    np.testing.assert_array_equal(first.train, second.train)
    np.testing.assert_array_equal(first.features["visual"], second.features["visual"])
    assert second.file_counts == first.file_counts and second.notes == first.notes


def test_changed_source_invalidates_the_cache(mmgcn_dir):
    load_records("tiny", mmgcn_dir)
    torch.save(torch.full((6, 3), 7.0), mmgcn_dir / "feat_v.pt")
    rec = load_records("tiny", mmgcn_dir)
    assert (rec.features["visual"] == 7).all()


def test_options_are_part_of_the_key(mmgcn_dir):
    plain = load_records("tiny", mmgcn_dir)
    l2 = load_records("tiny", mmgcn_dir, normalize="l2")
    assert not np.allclose(plain.features["visual"], l2.features["visual"])
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
    feats = {"visual": rng.normal(size=(50, 20)).astype(np.float32),
             "acoustic": rng.normal(size=(50, 6)).astype(np.float32)}
    out = preprocess(feats, pca_dims=parse_pca("visual=4", list(feats)))
    assert out["visual"].shape == (50, 4) and out["acoustic"].shape == (50, 6)
    ref = PCA(4, svd_solver="full").fit(feats["visual"])
    # same subspace as an exact PCA: projections agree up to sign
    np.testing.assert_allclose(np.abs(out["visual"]), np.abs(ref.transform(feats["visual"])), atol=1e-3)
    assert parse_pca(8, ["a", "b"]) == {"a": 8, "b": 8}
    with pytest.raises(DataError, match="unknown modalities textual"):
        parse_pca("textual=8", ["visual"])
