import numpy as np
import pytest
from conftest import shared_dataset

from mmgraph.data import load_mmrec, load_records
from mmgraph.errors import DataError

ROWS = [(0, 0, 0), (0, 1, 0), (0, 2, 1), (1, 2, 0), (1, 3, 2), (2, 3, 0), (2, 0, 1), (2, 1, 2)]


def write_mmrec(root, rows=ROWS, header="userID\titemID\trating\tx_label", items=4):
    root.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{u}\t{i}\t5\t{lab}" for u, i, lab in rows]
    (root / "baby.inter").write_text("\n".join(lines) + "\n")
    np.save(root / "image_feat.npy", np.arange(items * 3, dtype=np.float32).reshape(items, 3))
    np.save(root / "text_feat.npy", np.ones((items, 2), dtype=np.float16))
    return root


def test_tiny_mmrec(tmp_path):
    rec = load_mmrec(write_mmrec(tmp_path / "baby"))
    assert rec.name == "baby" and (rec.num_users, rec.num_items) == (3, 4)
    assert rec.train.T.tolist() == [[0, 0], [0, 1], [1, 2], [2, 3]]
    assert rec.val.T.tolist() == [[0, 2], [2, 0]] and rec.test.T.tolist() == [[1, 3], [2, 1]]
    assert rec.modalities == ["image", "text"]  # named after the files
    assert rec.features["text"].dtype == np.float32  # float16 cast up


def test_bad_label_names_line(tmp_path):
    root = write_mmrec(tmp_path / "b", rows=ROWS + [(1, 1, 7)])
    with pytest.raises(DataError, match=r"baby.inter: line 10: x_label 7"):
        load_mmrec(root)


def test_missing_column(tmp_path):
    root = write_mmrec(tmp_path / "b", header="userID\titemID\trating\tlabel")
    with pytest.raises(DataError, match="missing column\\(s\\) x_label"):
        load_mmrec(root)


def test_non_numeric_cell(tmp_path):
    root = write_mmrec(tmp_path / "b")
    text = (root / "baby.inter").read_text().replace("1\t3\t5\t2", "1\tx3\t5\t2")
    (root / "baby.inter").write_text(text)
    with pytest.raises(DataError, match=r"line 6, column 'itemID': 'x3' is not an integer"):
        load_mmrec(root)


def test_item_beyond_feature_rows(tmp_path):
    root = write_mmrec(tmp_path / "b", rows=ROWS + [(0, 9, 0)])
    with pytest.raises(DataError, match="item id 9 is out of range for 4 items"):
        load_mmrec(root)


def test_empty_inter_file(tmp_path):
    root = write_mmrec(tmp_path / "b")
    (root / "baby.inter").write_text("")
    with pytest.raises(DataError, match="baby.inter: the file is empty"):
        load_mmrec(root)


def test_real_tiktok_counts():
    root = shared_dataset("tiktok")
    rec = load_records("tiktok", root)
    assert (rec.num_users, rec.num_items) == (9308, 6710)
    assert rec.file_counts == {"train": 59541, "val": 3051, "test": 6130}
    # 5 validation and 5 test users have no training interaction: dropped, as MMRec does
    assert (rec.train.shape[1], rec.val.shape[1], rec.test.shape[1]) == (59541, 3046, 6125)
    assert {m: x.shape for m, x in rec.features.items()} == {
        "audio": (6710, 128),
        "image": (6710, 128),
    }
    assert all(x.dtype == np.float32 for x in rec.features.values())


def test_feature_file_that_is_not_a_matrix_is_named(tmp_path):
    root = write_mmrec(tmp_path / "b")
    np.save(root / "image_feat.npy", {"not": "a matrix"}, allow_pickle=True)
    with pytest.raises(DataError, match="image_feat.npy: image features must be a 2-D"):
        load_mmrec(root)


def test_real_movielens_graph_with_cold_split():
    from mmgraph.data.formats.split_npz import load_split_npz

    root = shared_dataset("movielens_mmgcn_clcrec")
    full = load_records("movielens", root)
    assert (full.num_users, full.num_items) == (55485, 5986) and full.train.shape[1] == 922007
    cold = load_split_npz(root, held_out="cold")
    assert cold.test.shape[1] == 38885 and not np.isin(cold.test[1], full.train[1]).any()
