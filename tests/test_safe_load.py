import os
import pickle

import numpy as np
import pytest
import torch

from mmgraph.data import RestrictedUnpickler, load_npy, load_pt
from mmgraph.errors import DataError, UnsafeFileError


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_plain_containers_round_trip(tmp_path):
    obj = {0: [5, 6], 1: {7, 8}, 2: np.array([1, 2], dtype=np.int64), 3: (np.int64(4), 2.5)}
    np.save(tmp_path / "d.npy", obj, allow_pickle=True)
    got = load_npy(tmp_path / "d.npy").item()
    assert got[0] == [5, 6] and got[1] == {7, 8} and got[3] == (4, 2.5)
    np.testing.assert_array_equal(got[2], [1, 2])


def test_plain_numeric_array_and_mmap(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_npy(tmp_path / "x.npy"), x)
    assert isinstance(load_npy(tmp_path / "x.npy", mmap=True), np.memmap)


@pytest.mark.parametrize("wrap", ["object_array", "dict_value", "raw_pickle"])
def test_crafted_pickle_is_refused_without_running(tmp_path, wrap):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.npy"
    if wrap == "object_array":
        np.save(path, np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    elif wrap == "dict_value":
        np.save(path, {0: Payload(str(marker))}, allow_pickle=True)
    else:  # a bare pickle renamed .npy is not a .npy: refused as unreadable
        path.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(DataError) as info:
        load_npy(path)
    assert not marker.exists()
    if wrap != "raw_pickle":
        assert isinstance(info.value, UnsafeFileError)
        assert "refused" in str(info.value) and "evil.npy" in str(info.value)


def test_restricted_unpickler_refuses_builtins_eval(tmp_path):
    import io

    data = pickle.dumps(Payload(str(tmp_path / "m")))
    with pytest.raises(UnsafeFileError, match="makedirs"):
        RestrictedUnpickler(io.BytesIO(data)).load()
    assert not (tmp_path / "m").exists()


def test_crafted_pt_is_refused(tmp_path):
    marker = tmp_path / "pt_payload_ran"
    torch.save({"x": Payload(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeFileError, match="evil.pt"):
        load_pt(tmp_path / "evil.pt")
    assert not marker.exists()


def test_truncated_and_missing_files(tmp_path):
    np.save(tmp_path / "ok.npy", np.zeros((100, 4)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:200])
    with pytest.raises(DataError, match="cut.npy.*truncated"):
        load_npy(tmp_path / "cut.npy")
    with pytest.raises(DataError, match="not found"):
        load_npy(tmp_path / "absent.npy")
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="bad.pt"):
        load_pt(tmp_path / "bad.pt")


def test_pickles_written_by_numpy_1_load(tmp_path):
    """MMGCN's files date from numpy 1 (globals under numpy.core); both spellings must load."""
    from numpy.lib import format as npy_format

    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = [0, 5, 6], np.array([1, 7])
    body = pickle.dumps(arr, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in body
    with open(tmp_path / "old.npy", "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (2,)})
        f.write(body)
    rows = load_npy(tmp_path / "old.npy")
    assert rows[0] == [0, 5, 6] and rows[1].tolist() == [1, 7]
