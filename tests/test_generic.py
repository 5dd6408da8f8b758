import numpy as np
import pytest

from mmgraph.data import load_generic, load_records
from mmgraph.errors import DataError


def write_csv(path, rows, header="user,item,timestamp"):
    path.write_text("\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def test_string_ids_are_remapped_and_kept(tmp_path):
    rows = [(f"u{u}", f"item-{i}", u * 100 + i) for u in range(5) for i in range(10)]
    rec = load_generic(write_csv(tmp_path / "log.csv", rows))
    assert (rec.num_users, rec.num_items) == (5, 10)
    assert rec.user_ids.tolist() == [f"u{u}" for u in range(5)]
    raw = {
        (rec.user_ids[u], rec.item_ids[i])
        for u, i in np.concatenate([rec.train, rec.val, rec.test], 1).T
    }
    assert raw == {(u, i) for u, i, _ in rows}
    # 10 per user -> 8 / 1 / 1
    assert (rec.train.shape[1], rec.val.shape[1], rec.test.shape[1]) == (40, 5, 5)


def test_random_split_is_seeded(tmp_path):
    path = write_csv(tmp_path / "log.csv", [(u, i, 0) for u in range(6) for i in range(20)])
    a, b, c = (load_generic(path, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_temporal_split_holds_out_the_newest(tmp_path):
    rows = [(u, i, 1000 - i) for u in range(3) for i in range(10)]  # item 0 newest
    rec = load_generic(write_csv(tmp_path / "log.csv", rows), split="temporal")
    assert sorted(rec.test[1].tolist()) == [0, 0, 0] and sorted(rec.val[1].tolist()) == [1, 1, 1]


def test_temporal_needs_timestamps(tmp_path):
    path = write_csv(tmp_path / "log.tsv", [(0, 1)], header="user\titem")
    path.write_text("user\titem\n0\t1\n")
    with pytest.raises(DataError, match="needs a timestamp column"):
        load_generic(path, split="temporal")


def test_features_with_integer_ids_and_item_index(tmp_path):
    rows = [(u, i, 0) for u in range(4) for i in range(0, 10, 2)]
    path = write_csv(tmp_path / "log.csv", rows)
    np.save(tmp_path / "visual.npy", np.arange(12 * 2, dtype=np.float32).reshape(12, 2))
    rec = load_generic(path, {"visual": tmp_path / "visual.npy"})
    assert rec.num_items == 12 and rec.item_ids is None  # feature rows define the items
    # an index file maps raw ids to rows in any order
    (tmp_path / "index.txt").write_text("\n".join(str(k) for k in reversed(range(12))))
    rec2 = load_generic(
        path, {"visual": tmp_path / "visual.npy"}, item_index=tmp_path / "index.txt"
    )
    assert rec2.item_ids.tolist() == list(reversed(range(12)))
    assert set(rec2.train[1].tolist()) <= {11 - i for i in range(0, 10, 2)}


def test_string_items_with_features_need_an_index(tmp_path):
    path = write_csv(tmp_path / "log.csv", [(0, "a", 0), (0, "b", 1)])
    np.save(tmp_path / "v.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match="raw item id of each feature row in an index file"):
        load_generic(path, {"v": tmp_path / "v.npy"})


def test_repeated_interactions_counted(tmp_path):
    rows = [(u, i, 0) for u in range(3) for i in range(10)]
    rec = load_generic(write_csv(tmp_path / "log.csv", rows + rows[:4]))
    assert any("removed 4 repeated interactions" in n for n in rec.notes)


def test_npz_and_generic_folder(tmp_path):
    root = tmp_path / "shop"
    root.mkdir()
    users = np.repeat(np.arange(4), 10)
    items = np.tile(np.arange(10), 4)
    np.savez(root / "interactions.npz", user=users, item=items)
    np.save(root / "image.npy", np.ones((10, 3)))
    rec = load_records("shop", root)
    assert rec.modalities == ["image"] and rec.train.shape[1] == 32


def test_non_numeric_timestamp(tmp_path):
    path = write_csv(tmp_path / "log.csv", [(0, 1, 5), (0, 2, "yesterday")])
    with pytest.raises(DataError, match=r"line 3, column 'timestamp': 'yesterday' is not a number"):
        load_generic(path)


def test_iso_dates_and_bom_header(tmp_path):
    rows = [(u, i, f"2024-01-{i + 1:02d}") for u in range(3) for i in range(10)]
    path = write_csv(tmp_path / "log.csv", rows, header="\ufeffuser_id,item_id,date")
    rec = load_generic(path, split="temporal")
    assert sorted(rec.test[1].tolist()) == [9, 9, 9]  # the latest date is held out


def test_generic_folder_temporal_via_load_records(tmp_path):
    root = tmp_path / "shop"
    root.mkdir()
    write_csv(root / "interactions.csv", [(u, i, 100 - i) for u in range(3) for i in range(10)])
    rec = load_records("shop", root, split="temporal")
    assert "temporal" in rec.split_protocol and sorted(rec.test[1].tolist()) == [0, 0, 0]
    assert "random" in load_records("shop", root).split_protocol
