import os

import numpy as np
import pytest
import torch
from conftest import (
    NUM_ITEMS,
    NUM_USERS,
    TEST,
    TRAIN,
    VAL,
    save_object_rows,
    shared_dataset,
    write_mmgcn,
)

from mmgraph.data import load_metammf_toy, load_mmgcn, load_records
from mmgraph.errors import DataError, UnsafeFileError


def pairs(d):
    return sorted((u, i) for u, its in d.items() for i in its)


@pytest.mark.parametrize("offset", [True, False])
def test_offset_and_zero_based_ids_give_the_same_graph(tmp_path, offset):
    rec = load_mmgcn(write_mmgcn(tmp_path / "d", offset=offset))
    assert (rec.num_users, rec.num_items) == (NUM_USERS, NUM_ITEMS)
    assert sorted(map(tuple, rec.train.T.tolist())) == sorted(TRAIN)
    assert sorted(map(tuple, rec.val.T.tolist())) == pairs(VAL)
    assert sorted(map(tuple, rec.test.T.tolist())) == pairs(TEST)
    assert rec.modalities == ["visual", "acoustic", "textual"]
    assert all(x.shape == (NUM_ITEMS, 3) and x.dtype == np.float32 for x in rec.features.values())
    assert rec.notes == []


def test_features_match_files_row_for_row(mmgcn_dir):
    rec = load_mmgcn(mmgcn_dir)
    np.testing.assert_array_equal(
        rec.features["visual"], torch.load(mmgcn_dir / "feat_v.pt").numpy()
    )


def test_npy_feature_files(tmp_path):
    rec = load_mmgcn(write_mmgcn(tmp_path / "d", pt=False))
    assert set(rec.features) == {"visual", "acoustic", "textual"}


def test_tiktok_word_pairs_become_a_bag_of_words(tmp_path):
    rec = load_mmgcn(write_mmgcn(tmp_path / "tiktok", text_words=True))
    assert list(rec.features) == ["visual", "acoustic"] and list(rec.bags) == ["textual"]
    bag = rec.bags["textual"]
    assert bag.num_words == NUM_ITEMS + 1 and bag.index.shape == (2, 2 * NUM_ITEMS)
    assert rec.modalities == ["visual", "acoustic", "textual"]


def test_kwai_without_acoustic(tmp_path):
    rec = load_mmgcn(write_mmgcn(tmp_path / "kwai", modalities=("visual",)))
    assert rec.modalities == ["visual"]


def test_movielens_feature_file_names(tmp_path):
    root = write_mmgcn(tmp_path / "ml", modalities=())
    for fname in (
        "FeatureVideo_normal.npy",
        "FeatureAudio_avg_normal.npy",
        "FeatureText_stl_normal.npy",
    ):
        np.save(root / fname, np.ones((NUM_ITEMS, 2)))
    assert load_mmgcn(root).modalities == ["visual", "acoustic", "textual"]


def test_user_item_dict_disagreement_is_noted(mmgcn_dir):
    np.save(mmgcn_dir / "user_item_dict.npy", {0: [NUM_USERS + 0]}, allow_pickle=True)
    rec = load_mmgcn(mmgcn_dir)
    assert any("differs from train.npy in 7 pairs" in n for n in rec.notes)


@pytest.mark.parametrize("slot", ["user_item_dict.npy", "val_full.npy", "test_full.npy"])
def test_crafted_pickle_in_every_slot_is_refused(mmgcn_dir, tmp_path, slot):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    np.save(mmgcn_dir / slot, np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeFileError, match=slot):
        load_mmgcn(mmgcn_dir)
    assert not marker.exists()


def test_missing_file_names_it(mmgcn_dir):
    (mmgcn_dir / "val_full.npy").unlink()
    with pytest.raises(DataError, match=r"val_full.npy: file not found"):
        load_mmgcn(mmgcn_dir)


def test_feature_rows_must_match_items(mmgcn_dir):
    torch.save(torch.randn(NUM_ITEMS + 1, 3), mmgcn_dir / "feat_a.pt")
    with pytest.raises(DataError, match="disagree on the item count"):
        load_mmgcn(mmgcn_dir)


def test_nan_features_are_rejected(mmgcn_dir):
    x = torch.randn(NUM_ITEMS, 3)
    x[4, 1] = float("nan")
    torch.save(x, mmgcn_dir / "feat_v.pt")
    with pytest.raises(
        DataError, match=r"feat_v.pt: visual features contain NaN or inf \(first at item row 4\)"
    ):
        load_mmgcn(mmgcn_dir)


def test_one_dimensional_features_are_rejected(mmgcn_dir):
    for f in ("feat_a.pt", "feat_t.pt"):
        (mmgcn_dir / f).unlink()
    torch.save(torch.randn(NUM_ITEMS), mmgcn_dir / "feat_v.pt")
    with pytest.raises(DataError, match="2-D"):
        load_mmgcn(mmgcn_dir)


def test_item_id_out_of_range(mmgcn_dir):
    save_object_rows(mmgcn_dir / "test_full.npy", [[0, NUM_USERS + NUM_ITEMS + 3]])
    with pytest.raises(DataError, match="test_full.npy: item id 13 does not fit 6 items"):
        load_mmgcn(mmgcn_dir)


def test_duplicates_removed_and_counted(mmgcn_dir):
    train = np.load(mmgcn_dir / "train.npy")
    np.save(mmgcn_dir / "train.npy", np.concatenate([train, train[:3]]))
    rec = load_mmgcn(mmgcn_dir)
    assert rec.train.shape[1] == len(TRAIN)
    assert any("removed 3 duplicate training interactions" in n for n in rec.notes)


def test_held_out_users_without_training_items_are_dropped(tmp_path):
    root = write_mmgcn(tmp_path / "d", offset=False)
    # user 4 exists only in the test split
    save_object_rows(root / "test_full.npy", [[u] + its for u, its in TEST.items()] + [[4, 2]])
    rec = load_mmgcn(root)
    assert rec.num_users == 5 and 4 not in rec.test[0]
    assert any("dropped 1 test interactions of 1 users" in n for n in rec.notes)
    assert rec.file_counts["test"] == 5


def test_empty_validation_split(mmgcn_dir):
    save_object_rows(mmgcn_dir / "val_full.npy", [])
    with pytest.raises(DataError, match="val_full.npy: the validation split is empty"):
        load_mmgcn(mmgcn_dir)


def test_toy_sample_dict_format(tmp_path):
    root = tmp_path / "toy"
    root.mkdir()
    rng = np.random.default_rng(0)
    d = {u: set(rng.choice(30, size=10, replace=False).tolist()) for u in range(5)}
    np.save(root / "user_item_dict_sample.npy", d, allow_pickle=True)
    np.save(root / "a_feat_sample.npy", rng.normal(size=(30, 4)))
    np.save(root / "t_feat_sample.npy", rng.normal(size=(30, 2)))
    rec = load_records("toy", root)
    assert (rec.num_users, rec.num_items) == (5, 30)
    # 10 items per user: 8 train, 1 valid, 1 test each
    assert (rec.train.shape[1], rec.val.shape[1], rec.test.shape[1]) == (40, 5, 5)
    assert rec.modalities == ["acoustic", "textual"]
    assert "seed 0" in rec.split_protocol


def test_real_metammf_toy_sample():
    root = shared_dataset("movielens_metammf_toy")
    rec = load_metammf_toy(root)
    assert (rec.num_users, rec.num_items) == (100, 1141)
    assert rec.train.shape[1] + rec.val.shape[1] + rec.test.shape[1] == 2071
    assert {m: x.shape[1] for m, x in rec.features.items()} == {"acoustic": 128, "textual": 100}


@pytest.mark.parametrize("bad", [{0: [None]}, {0: ["x"]}, {0: 5}])
def test_malformed_user_item_dict(mmgcn_dir, bad):
    np.save(mmgcn_dir / "user_item_dict.npy", bad, allow_pickle=True)
    with pytest.raises(DataError, match="user_item_dict.npy"):
        load_mmgcn(mmgcn_dir)


def test_non_integer_held_out_id(mmgcn_dir):
    save_object_rows(mmgcn_dir / "val_full.npy", [[0, 5.5]])
    with pytest.raises(DataError, match=r"val_full.npy \(row 0\): ids must be integers"):
        load_mmgcn(mmgcn_dir)


def test_sparse_feature_tensor_is_densified(mmgcn_dir):
    x = torch.randn(NUM_ITEMS, 3)
    torch.save(x.to_sparse(), mmgcn_dir / "feat_a.pt")
    np.testing.assert_allclose(load_mmgcn(mmgcn_dir).features["acoustic"], x.numpy())


def test_offset_inferred_from_feature_rows_when_last_users_are_silent(tmp_path):
    # 6 users declared by the offset (items stored as i + 6) but users 4 and 5 never appear
    root = write_mmgcn(tmp_path / "d", offset=False)
    np.save(root / "train.npy", np.array([(u, i + 6) for u, i in TRAIN]))
    save_object_rows(root / "val_full.npy", [[u] + [i + 6 for i in its] for u, its in VAL.items()])
    save_object_rows(
        root / "test_full.npy", [[u] + [i + 6 for i in its] for u, its in TEST.items()]
    )
    (root / "user_item_dict.npy").unlink()
    rec = load_mmgcn(root)
    # max item id 11 and 6 feature rows force U >= 6
    assert rec.num_users == 6 and sorted(map(tuple, rec.train.T.tolist())) == sorted(TRAIN)


def test_ambiguous_layout_is_noted(tmp_path):
    # 0-based-looking ids that also fit the offset layout: all item ids >= U and < rows
    root = tmp_path / "d"
    root.mkdir()
    np.save(root / "train.npy", np.array([(0, 2), (1, 3), (0, 4)]))
    save_object_rows(root / "val_full.npy", [[0, 5]])
    save_object_rows(root / "test_full.npy", [[1, 5]])
    torch.save(torch.randn(10, 2), root / "feat_v.pt")
    rec = load_mmgcn(root)
    assert any("also fit the 10 feature rows unshifted" in n for n in rec.notes)


def test_pair_in_validation_and_test_is_removed_from_validation(mmgcn_dir):
    save_object_rows(mmgcn_dir / "val_full.npy", [[0, NUM_USERS + 3], [1, NUM_USERS + 3]])
    rec = load_mmgcn(mmgcn_dir)
    assert rec.val.T.tolist() == [[1, 3]]
    assert any("1 validation interactions that are also test" in n for n in rec.notes)
