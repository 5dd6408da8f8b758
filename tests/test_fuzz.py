"""Property-based fuzzing (hypothesis) of the loaders and the restricted unpickler: random bytes
and random valid-looking arrays either load correctly or raise the package's own error, never an
unrelated exception, never a hang (each example has a 2 s deadline).  60 examples per property
in CI; ``pytest --heavy`` runs 1,000."""

import numpy as np
import pytest
from conftest import write_mmgcn

from mmgraph.data import load_generic, load_npy, load_pt, load_records
from mmgraph.errors import MMGraphError

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

# examples per property: 60 in CI, 1,000 with pytest --heavy (the profiles are in conftest.py)
FUZZ = settings(deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def loads_or_our_error(load, *args, **kwargs):
    """Call a loader: it may load, or raise the package's own error; anything else fails."""
    try:
        return load(*args, **kwargs)
    except MMGraphError:
        return None


def behind_header(path, array, data: bytes):
    """``path``: the ``.npy`` header of ``array`` followed by ``data`` instead of its body."""
    np.save(path, array, allow_pickle=True)
    raw = path.read_bytes()
    path.write_bytes(raw[: raw.index(b"\n") + 1] + data)
    return path


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_load_or_raise_our_error(tmp_path, data):
    for name, loader in (("x.npy", load_npy), ("x.pt", load_pt)):
        (tmp_path / name).write_bytes(data)
        loads_or_our_error(loader, tmp_path / name)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_after_a_valid_npy_header(tmp_path, data):
    loads_or_our_error(
        load_npy, behind_header(tmp_path / "x.npy", np.zeros((3, 2), np.float32), data)
    )


@FUZZ
@given(data=st.binary(max_size=400))
@example(data=b"\x95\x00\x00\x00\x00\x00\x00\x00\x01")  # found by this test: a frame of 2^56 bytes
@example(data=b"\x96\x00\x00\x00\x00\x00\x00\x00\x01")  # found by --heavy: a bytearray of 2^56
def test_random_pickles_never_run_and_raise_our_error(tmp_path, data):
    # a valid object-array header with random pickle bytes behind it
    loads_or_our_error(
        load_npy, behind_header(tmp_path / "x.npy", np.array([[1, 2]], dtype=object), data)
    )


@FUZZ
@given(text=st.text(alphabet="0123456789,;\t\n -.aex", max_size=300))
def test_random_interaction_tables_load_or_raise_our_error(tmp_path, text):
    (tmp_path / "interactions.csv").write_text(text)
    loads_or_our_error(load_generic, tmp_path / "interactions.csv")


@FUZZ
@given(
    users=hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(-2, 12)),
    shift=st.integers(0, 5),
    features=hnp.arrays(
        np.float32,
        st.tuples(st.integers(0, 14), st.integers(0, 3)),
        elements=st.floats(-1e3, 1e3, width=32) | st.just(np.float32(np.nan)),
    ),
)
def test_random_valid_looking_arrays_load_or_raise_our_error(tmp_path, users, shift, features):
    items = (users * 7 + shift) % 15 - (users < 0)
    np.savez(tmp_path / "interactions.npz", user=users, item=items)
    np.save(tmp_path / "visual.npy", features)
    rec = loads_or_our_error(
        load_generic, tmp_path / "interactions.npz", {"visual": tmp_path / "visual.npy"}
    )
    if rec is not None:
        assert rec.train.shape[1] > 0 and np.isfinite(rec.features["visual"]).all()
        assert rec.features["visual"].shape[0] == rec.num_items


@st.composite
def id_arrays(draw):
    """Small arrays that look like id columns: any of a few dtypes, 0 to 2 dimensions."""
    dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8, np.float64, np.bool_]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=12))
    elements = {
        np.float64: st.floats(-2, 15) | st.just(np.nan),
        np.bool_: st.booleans(),
        np.uint8: st.integers(0, 15),
    }.get(dtype, st.integers(-2, 15))
    return draw(hnp.arrays(dtype, shape, elements=elements))


SPLIT_KEYS = [
    "train_user",
    "train_item",
    "val_full_user",
    "val_full_item",
    "test_full_user",
    "test_full_item",
]


@FUZZ
@given(
    layout=st.sampled_from(["split-npz", "toy"]),
    arrays=st.lists(id_arrays(), min_size=7, max_size=7),
    with_shape=st.booleans(),
)
def test_random_npz_folders_load_or_raise_our_error(tmp_path_factory, layout, arrays, with_shape):
    root = tmp_path_factory.mktemp("npz")
    keys = SPLIT_KEYS if layout == "split-npz" else ["user", "item"]
    contents = dict(zip(keys + ["shape"], arrays[: len(keys)] + arrays[-1:]))
    if not with_shape:
        del contents["shape"]
    np.savez(root / "interactions.npz", **contents)
    if layout == "toy":
        np.save(root / "a_feat_sample.npy", np.ones((16, 2), np.float32))
    rec = loads_or_our_error(load_records, "fuzz", root, use_cache=False)
    if rec is not None:
        assert rec.train.shape[1] > 0 and rec.val.shape[1] > 0 and rec.test.shape[1] > 0
        assert rec.train.min() >= 0 and rec.train[1].max() < rec.num_items


@FUZZ
@given(
    data=st.binary(min_size=1, max_size=400),
    slot=st.sampled_from(["train.npy", "val_full.npy", "user_item_dict.npy", "feat_v.pt"]),
)
def test_random_bytes_in_an_mmgcn_folder(tmp_path_factory, data, slot):
    root = write_mmgcn(tmp_path_factory.mktemp("mmgcn"))
    (root / slot).write_bytes(data)
    loads_or_our_error(load_records, "toy", root, use_cache=False)


def test_a_deeply_nested_pickle_loads_or_raises_our_error(tmp_path):
    depth = 100_000  # lists inside lists: EMPTY_LIST x depth, then APPEND x (depth - 1)
    data = b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."
    got = loads_or_our_error(
        load_npy, behind_header(tmp_path / "x.npy", np.array([[1]], dtype=object), data)
    )
    assert got is None or got.dtype == object
