"""The bad-input matrix: every loader format and every CLI command against broken files and
options.  Each case must give exit code 2, one line that names the file or option, no traceback,
and write nothing.  Then untrusted files: crafted pickles in every pickled slot and crafted
checkpoints.  (Property-based fuzzing of the loaders: tests/test_fuzz.py.)"""

import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import write_mmgcn

from mmgraph.cli import main
from mmgraph.data import load_records


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_exit_2(result, *fragments):
    out = result.output.strip()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    for fragment in fragments:
        assert fragment in out, out


# Broken datasets -------------------------------------------------------------------------------
USERS = np.repeat(np.arange(6), 10)
ITEMS = (
    USERS * 3 + np.tile(np.arange(10), 6)
) % 12  # 6 users x 10 of 12 items: every split non-empty


def generic(root, *, items=ITEMS, features=None, text=None):
    """A generic folder: interactions.csv + visual.npy (12 items x 3)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [f"{u},{i}" for u, i in zip(USERS, items)]
    (root / "interactions.csv").write_text(
        text if text is not None else "user,item\n" + "\n".join(rows) + "\n"
    )
    np.save(
        root / "visual.npy",
        np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
        if features is None
        else features,
    )
    return root


def feats(value, rows=12, dtype=np.float32):
    x = np.zeros((rows, 3), dtype=dtype)
    x[rows // 2, 1] = value
    return x


def truncate(path, keep=40):
    path.write_bytes(path.read_bytes()[:keep])


def mmgcn_ids_beyond(root):
    write_mmgcn(root)
    np.save(root / "train.npy", np.array([[0, 4], [1, 400]], dtype=np.int64))


def mmgcn_no_val(root):
    write_mmgcn(root)
    arr = np.empty(0, dtype=object)
    np.save(root / "val_full.npy", arr, allow_pickle=True)


MMREC_ROWS = [
    (0, 0, 0),
    (0, 1, 0),
    (0, 2, 1),
    (1, 2, 0),
    (1, 3, 2),
    (2, 3, 0),
    (2, 0, 1),
    (2, 1, 2),
]


def mmrec(root, *, header="userID\titemID\trating\tx_label", rows=MMREC_ROWS, cell=None, items=4):
    root.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{u}\t{i}\t5\t{lab}" for u, i, lab in rows] + ([cell] if cell else [])
    (root / "baby.inter").write_text("\n".join(lines) + "\n")
    np.save(root / "image_feat.npy", np.ones((items, 3), np.float32))


def split_npz(root, **override):
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_user": [0, 1, 2],
        "train_item": [0, 1, 2],
        "val_full_user": [0],
        "val_full_item": [1],
        "test_full_user": [1],
        "test_full_item": [2],
        "shape": [3, 3],
    } | override
    np.savez(root / "interactions.npz", **{k: np.array(v) for k, v in arrays.items()})


def toy(root, *, users=np.repeat(np.arange(5), 10), items=None, shape=(5, 20), features=None):
    """The MetaMMF toy-sample layout: interactions.npz (user, item, shape) + a_feat_sample.npy."""
    root.mkdir(parents=True, exist_ok=True)
    items = (users * 2 + np.tile(np.arange(10), 5)) % 20 if items is None else items
    np.savez(root / "interactions.npz", user=users, item=items, shape=np.array(shape))
    np.save(
        root / "a_feat_sample.npy", np.ones((20, 4), np.float32) if features is None else features
    )
    return root


def toy_dict(root, value):
    toy(root)
    np.save(root / "user_item_dict_sample.npy", value, allow_pickle=True)


INTER = "userID\titemID\trating\tx_label\n" + "".join(
    f"{u}\t{i}\t5\t{lab}\n"
    for u, i, lab in [
        (0, 0, 0),
        (0, 1, 0),
        (0, 2, 1),
        (1, 2, 0),
        (1, 3, 2),
        (2, 3, 0),
        (2, 0, 1),
        (2, 1, 2),
    ]
)


def inter_text(root, text):
    root.mkdir(parents=True, exist_ok=True)
    (root / "baby.inter").write_text(text)
    np.save(root / "image_feat.npy", np.ones((4, 3), np.float32))


DATASETS = {  # case -> (make(root), fragments the message must hold)
    "toy: items beyond the feature rows": (
        lambda r: toy(r, shape=(5, 30)),
        ["a_feat_sample.npy", "30 items"],
    ),
    "toy: NaN features": (
        lambda r: toy(r, features=feats(np.nan, rows=20)),
        ["a_feat_sample.npy", "NaN"],
    ),
    "toy: truncated features": (
        lambda r: (toy(r), truncate(r / "a_feat_sample.npy", 60)),
        ["a_feat_sample.npy"],
    ),
    "toy: negative user id": (
        lambda r: toy(r, users=np.r_[np.repeat(np.arange(5), 10)[:-1], -1]),
        ["interactions.npz", "negative user id -1"],
    ),
    "toy: fractional ids": (
        lambda r: toy(r, users=np.repeat(np.arange(5), 10) + 0.5),
        ["interactions.npz", "must be integers", "0.5"],
    ),
    "toy: a bad shape": (
        lambda r: toy(r, shape=(5,)),
        ["interactions.npz", "'shape' must hold two"],
    ),
    "toy: too few interactions per user to split": (
        lambda r: toy(r, users=np.arange(5), items=np.arange(5)),
        ["interactions.npz", "split is empty", "5 or more"],
    ),
    "toy: a dict that is not a dict": (
        lambda r: toy_dict(r, np.arange(5)),
        ["user_item_dict_sample.npy", "expected a pickled dict"],
    ),
    "toy: a dict with string ids": (
        lambda r: toy_dict(r, {0: {"a", 2}}),
        ["user_item_dict_sample.npy", "must be integers"],
    ),
    "TSV: a quote that never closes": (
        lambda r: inter_text(r, INTER.replace("0\t0\t5", '"0\t0\t5')),
        ["baby.inter", "never closes"],
    ),
    "TSV: a quoted tab inside an id": (
        lambda r: inter_text(r, INTER.replace("0\t0\t5", '"0\t0"\t5\t5')),
        ["baby.inter", "line 2", "is not an integer"],
    ),
    "TSV: spaces instead of tabs": (
        lambda r: inter_text(r, INTER.replace("\t", "  ")),
        ["baby.inter", "separated by tabs"],
    ),
    "TSV: a NUL byte (binary file)": (
        lambda r: inter_text(r, INTER.replace("1\t2", "1\x00\t2")),
        ["baby.inter", "NUL byte"],
    ),
    "CSV: not UTF-8": (
        lambda r: (
            generic(r),
            (r / "interactions.csv").write_bytes("user,item\nJos\xe9,1\n".encode("latin-1")),
        ),
        ["interactions.csv", "not a UTF-8"],
    ),
    "CSV: a field over the csv module's limit": (
        lambda r: generic(r, text="user,item\n" + "1" * 200_000 + ",1\n"),
        ["interactions.csv", "field limit", "every quote"],
    ),
    "MMRec: no x_label column": (
        lambda r: mmrec(r, header="userID\titemID\trating\tlabel"),
        ["baby.inter", "x_label"],
    ),
    "MMRec: non-numeric id": (lambda r: mmrec(r, cell="1\tabc\t5\t0"), ["baby.inter"]),
    "MMRec: item beyond the feature rows": (
        lambda r: mmrec(r, cell="1\t9\t5\t0"),
        ["baby.inter", "9"],
    ),
    "MMRec: no test rows": (
        lambda r: mmrec(r, rows=[x for x in MMREC_ROWS if x[2] != 2]),
        ["test"],
    ),
    "npz: missing held-out arrays": (
        lambda r: (r.mkdir(), np.savez(r / "interactions.npz", train_user=[0], train_item=[0])),
        ["interactions.npz", "missing arrays"],
    ),
    "npz: ids beyond the shape": (
        lambda r: split_npz(r, train_item=[0, 1, 7]),
        ["interactions.npz", "out of range"],
    ),
    "npz: not a zip": (
        lambda r: (r.mkdir(), (r / "interactions.npz").write_bytes(b"PK\x03\x04garbage")),
        ["interactions.npz"],
    ),
    "missing folder": (lambda r: None, ["no dataset found"]),
    "empty folder": (lambda r: r.mkdir(), ["no dataset found"]),
    "missing feature file (MMGCN)": (
        lambda r: (
            write_mmgcn(r),
            (r / "feat_v.pt").unlink(),
            (r / "feat_a.pt").unlink(),
            (r / "feat_t.pt").unlink(),
        ),
        ["feat_v"],
    ),
    "missing val_full.npy (MMGCN)": (
        lambda r: (write_mmgcn(r), (r / "val_full.npy").unlink()),
        ["val_full.npy"],
    ),
    "empty interactions file": (lambda r: generic(r, text=""), ["interactions.csv"]),
    "header only": (
        lambda r: generic(r, text="user,item\n"),
        ["interactions.csv", "no interactions"],
    ),
    "truncated .npy features": (lambda r: (generic(r), truncate(r / "visual.npy")), ["visual.npy"]),
    "truncated train.npy (MMGCN)": (
        lambda r: (write_mmgcn(r), truncate(r / "train.npy")),
        ["train.npy"],
    ),
    "truncated .pt features (MMGCN)": (
        lambda r: (write_mmgcn(r), truncate(r / "feat_v.pt")),
        ["feat_v.pt"],
    ),
    "string features": (
        lambda r: generic(r, features=np.array([["a"] * 3] * 12)),
        ["visual.npy", "float"],
    ),
    "feature rows != items": (
        lambda r: generic(r, features=np.zeros((9, 3), np.float32)),
        ["visual.npy", "feature row"],
    ),
    "1-D features": (
        lambda r: generic(r, features=np.zeros(12, np.float32)),
        ["visual.npy", "2-D"],
    ),
    "NaN features": (lambda r: generic(r, features=feats(np.nan)), ["visual.npy", "NaN"]),
    "inf features": (lambda r: generic(r, features=feats(np.inf)), ["visual.npy", "inf"]),
    "negative ids (MMGCN)": (
        lambda r: (write_mmgcn(r), np.save(r / "train.npy", np.array([[-1, 4], [0, 5]]))),
        ["train.npy", "negative"],
    ),
    "ids beyond the item count (MMGCN)": (mmgcn_ids_beyond, ["train.npy", "does not fit 6 items"]),
    "empty validation split (MMGCN)": (mmgcn_no_val, ["val_full.npy"]),
    "non-numeric cell": (lambda r: generic(r, text="user,item\n0,1\n1,x\n"), ["interactions.csv"]),
    "item ids without feature rows": (
        lambda r: generic(r, items=np.where(ITEMS == 5, 40, ITEMS)),
        ["interactions.csv", "item id 40", "visual.npy"],
    ),
    "3-D features": (
        lambda r: generic(r, features=np.zeros((12, 3, 2), np.float32)),
        ["visual.npy", "2-D"],
    ),
    "object-dtype features": (
        lambda r: generic(r, features=np.array([[1, "a", None]] * 12, dtype=object)),
        ["visual.npy"],
    ),
}


@pytest.mark.parametrize("case", list(DATASETS))
@pytest.mark.parametrize("command", ["datasets info", "train"])
def test_broken_dataset(tmp_path, case, command):
    make, fragments = DATASETS[case]
    root = tmp_path / "data"
    make(root)
    out = tmp_path / "runs"
    extra = ["--epochs", "1", "--out", out] if command == "train" else []
    result = cli(*command.split(), "toy", "--root", root, *extra)
    one_line_exit_2(result, *fragments)
    assert not out.exists()


def test_tsv_quoting_and_line_endings_that_are_fine(tmp_path):
    # quoted ids, CRLF line ends, blank lines and a trailing tab load as the plain file does
    variants = {
        "plain": INTER,
        "quoted": INTER.replace("0\t0\t5", '"0"\t"0"\t5'),
        "crlf": INTER.replace("\n", "\r\n"),
        "blank lines": INTER.replace("\n", "\n\n"),
        "trailing tab": INTER.replace("\n", "\t\n"),
    }
    loaded = {}
    for name, text in variants.items():
        inter_text(tmp_path / name, text)
        loaded[name] = load_records("baby", tmp_path / name, use_cache=False)
    for rec in loaded.values():
        for split in ("train", "val", "test"):
            assert np.array_equal(getattr(rec, split), getattr(loaded["plain"], split))


def test_repairs_are_notes_not_errors(tmp_path):
    # duplicate interactions, and a user whose only interaction is held out: repaired with a note
    root = generic(tmp_path / "data")
    with open(root / "interactions.csv", "a") as f:
        f.write("0,0\n0,0\n")
    result = cli("datasets", "info", "toy", "--root", root)
    assert result.exit_code == 0 and "repeated interactions" in result.output
    mmrec(
        tmp_path / "mmrec", rows=MMREC_ROWS + [(3, 0, 2)]
    )  # user 3: one test interaction, no training
    result = cli("datasets", "info", "toy", "--root", tmp_path / "mmrec")
    assert result.exit_code == 0, result.output
    assert "dropped 1 test interactions of 1 users with no training interaction" in result.output


# Broken options, per command ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = cli(
        "train",
        "kwai",
        "--synthetic",
        "--scale",
        "0.01",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


SYN = ["--synthetic", "--scale", "0.01"]
OPTIONS = [
    (["train", "nosuch"], ["unknown dataset 'nosuch'"]),
    (["train", "kwai", *SYN, "--model", "gat"], ["unknown model 'gat'"]),
    (["train", "kwai", *SYN, "--set", "lr"], ["write key=value"]),
    (["train", "kwai", *SYN, "--set", "nonsense=1"], ["unknown option 'nonsense'"]),
    (["train", "kwai", *SYN, "--set", "train.lr=fast"], ["train.lr='fast' is not a valid float"]),
    (
        ["train", "kwai", *SYN, "--device", "cuda"]
        if not torch.cuda.is_available()
        else ["train", "kwai", *SYN, "--device", "tpu"],
        ["--device"],
    ),
    (["train", "kwai", *SYN, "--cold-items", "2"], ["cold-item fraction"]),
    (["train", "kwai", *SYN, "--set", "on_nan=ignore"], ["train.on_nan must be"]),
    (["train", "kwai", *SYN, "--set", "select_on=test"], ["train.select_on must be"]),
    (
        ["train", "kwai", *SYN, "--seed", "-1"],
        ["--seed must be an integer >= 0 and < 4294967296"],
    ),
    (
        ["train", "kwai", *SYN, "--set", "dropout=2"],
        ["dropout=2.0 must be a finite number >= 0 and < 1"],
    ),
    (
        ["train", "kwai", *SYN, "--model", "lightgcn", "--set", "num_layers=-1"],
        ["num_layers=-1 must be an integer >= 0"],
    ),
    (["train", "kwai", *SYN, "--set", "cp_rank=abc"], ["model.cp_rank='abc' is not a valid int"]),
    (
        ["train", "kwai", *SYN, "--config", "CONFIG:model: {cp_rank: abc}"],
        ["model.cp_rank='abc' is not a valid int"],
    ),
    (["train", "kwai", *SYN, "--config", "CONFIG:train: [1"], ["cannot parse", "fix its syntax"]),
    (["train", "kwai", *SYN, "--config", "CONFIG:train: 3"], ["section 'train' must be a mapping"]),
    (["recommend", "RUN", "--users-file", "CONFIG:"], ["no user ids in it"]),
    (
        ["sweep", "kwai", *SYN, "--model", "lightgcn", "--grid", "lr=0.01,abc"],
        ["--grid: grid point lr=abc for lightgcn", "is not a valid float"],
    ),
    (["compare", "nosuch", "--models", "bprmf"], ["unknown dataset 'nosuch'"]),
    (["compare", "kwai", *SYN, "--models", "gat"], ["unknown model 'gat'"]),
    (["sweep", "kwai", *SYN, "--grid", "nonsense=1,2"], ["nonsense is not an option"]),
    (["sweep", "kwai", *SYN, "--grid", "lr=1", "--set", "bad"], ["write key=value"]),
    (["evaluate", "RUN", "--k", "x"], ["--k", "not a comma-separated list", "--help"]),
    (["evaluate", "RUN", "--split", "train"], ["--split", "'train' is not one of"]),
    (["nosuch-command"], ["No such command 'nosuch-command'"]),
    (["evaluate", "/nonexistent/run"], ["not a run folder"]),
    (["recommend", "RUN", "--user", "999999"], ["user '999999' is not in"]),
    (["recommend", "RUN", "--user", "0", "--k", "0"], ["--k must be at least 1"]),
    (["recommend", "RUN", "--users-file", "/nonexistent/users.txt"], ["users.txt"]),
    (["recommend", "RUN", "--user", "0", "--new-items", "/nonexistent/new"], ["no such folder"]),
    (["export", "RUN", "--out", "RUN"], ["not an empty folder"]),
    (["export", "/nonexistent/run", "--out", "OUT"], ["not a run folder"]),
    (["plot", "/nonexistent/run", "--out", "OUT.png"], ["not a run folder"]),
    (["train", "--resume", "/nonexistent/run"], ["not a run folder"]),
]


@pytest.mark.parametrize(
    "args, fragments", OPTIONS, ids=[" ".join(a[:3]) + f" #{k}" for k, (a, _) in enumerate(OPTIONS)]
)
def test_bad_option(tmp_path, run_dir, args, fragments):
    args = list(args)
    for k, a in enumerate(args):
        if a.startswith("CONFIG:"):  # a small file with this text: a config file or a users file
            (tmp_path / "given.yaml").write_text(a[len("CONFIG:") :] + "\n")
            args[k] = "given.yaml"
    args = [
        str(run_dir)
        if a == "RUN"
        else str(tmp_path / a)
        if a.startswith("OUT") or a == "given.yaml"
        else a
        for a in args
    ]
    out = ["--out", str(tmp_path / "runs")] if args[0] in ("train", "compare", "sweep") else []
    before = sorted(p.name for p in run_dir.iterdir())
    one_line_exit_2(cli(*args, *out), *fragments)
    assert not (tmp_path / "runs").exists() and sorted(p.name for p in run_dir.iterdir()) == before


def edit_config(run, change):
    cfg = json.loads((run / "config.json").read_text())
    change(cfg)
    (run / "config.json").write_text(json.dumps(cfg))


DAMAGED_RUNS = {  # case -> (damage(run), fragments the message must hold)
    "config.json not JSON": (
        lambda r: (r / "config.json").write_text("{nope"),
        ["config.json", "restore config.json"],
    ),
    "config.json a list": (
        lambda r: (r / "config.json").write_text("[1, 2]"),
        ["config.json", "not a mapping"],
    ),
    "config.json with a list for a section": (
        lambda r: edit_config(r, lambda c: c.update(train=[1])),
        ["config.json", "section 'train' must be a mapping"],
    ),
    "best.pt truncated": (
        lambda r: (r / "best.pt").write_bytes((r / "best.pt").read_bytes()[:100]),
        ["best.pt", "damaged or not a checkpoint"],
    ),
    "best.pt missing": (lambda r: (r / "best.pt").unlink(), ["best.pt", "checkpoint not found"]),
    "another model in config.json": (
        lambda r: edit_config(r, lambda c: c.update(model="lightgcn")),  # a name alone
        ["best.pt", "does not fit", "Missing key(s)"],
    ),
    "the data changed since training": (
        lambda r: edit_config(r, lambda c: c["data"].update(scale=0.02)),
        ["best.pt", "does not fit", "size mismatch"],
    ),
}


@pytest.mark.parametrize(
    "command, case",
    [
        (cmd, case)
        for cmd in ("evaluate", "recommend", "export", "train --resume")
        for case in DAMAGED_RUNS  # resume reads last.pt, not best.pt
        if not (cmd == "train --resume" and case.startswith("best.pt"))
    ],
)
def test_a_damaged_run_folder(tmp_path, run_dir, command, case):
    import shutil

    damage, fragments = DAMAGED_RUNS[case]
    if command == "train --resume":
        fragments = [f.replace("best.pt", "last.pt") for f in fragments]
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    damage(run)
    before = sorted(p.name for p in run.iterdir())
    extra = {"recommend": ["--user", "0"], "export": ["--out", tmp_path / "export"]}.get(
        command, []
    )
    one_line_exit_2(cli(*command.split(), run, *extra), *fragments)
    assert sorted(p.name for p in run.iterdir()) == before and not (tmp_path / "export").exists()


def drop(path, *keys):
    ckpt = torch.load(path, weights_only=True)
    torch.save({k: v for k, v in ckpt.items() if k not in keys}, path)


@pytest.mark.parametrize(
    "damage, fragments",
    [
        (lambda r: drop(r / "last.pt", "rng", "state"), ["last.pt", "lacks state, rng"]),
        (lambda r: drop(r / "last.pt", "optimizer"), ["last.pt", "does not fit", "KeyError"]),
    ],
)
def test_resume_from_a_checkpoint_missing_fields(tmp_path, run_dir, damage, fragments):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    damage(run)
    before = sorted(p.name for p in run.iterdir())
    one_line_exit_2(cli("train", "--resume", run, "--epochs", "3"), *fragments)
    assert sorted(p.name for p in run.iterdir()) == before


def test_data_changed_since_training_is_said(tmp_path):
    root = generic(tmp_path / "data")
    result = cli(
        "train", "mine", "--root", root, "--epochs", "1", "--quiet", "--out", tmp_path / "runs"
    )
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    fingerprint = json.loads((run / "metrics.json").read_text())["data_fingerprint"]
    assert fingerprint and all(
        torch.load(run / name, weights_only=True)["data"] == fingerprint
        for name in ("best.pt", "last.pt")
    )
    assert "changed since" not in cli("evaluate", run).output  # the same data: nothing to say
    text = (root / "interactions.csv").read_text()
    (root / "interactions.csv").write_text(
        text.replace("\n0,1\n", "\n0,11\n", 1)
    )  # same shapes, other data
    result = cli("evaluate", run)
    assert result.exit_code == 0 and "changed since this run was trained" in result.output
    one_line_exit_2(
        cli("train", "--resume", run, "--epochs", "2"),
        "changed since this run started",
        "start a new run",
    )


def test_debug_shows_the_traceback():
    result = cli("--debug", "train", "nosuch")
    assert result.exception is not None and not isinstance(result.exception, SystemExit)


# Untrusted files ------------------------------------------------------------------------------
class Payload:
    """Unpickling this creates a marker folder: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.mark.parametrize(
    "slot", ["user_item_dict.npy", "val_full.npy", "test_full.npy", "user_item_dict_sample.npy"]
)  # the last: the toy sample's
def test_a_crafted_pickle_in_every_pickled_slot_is_refused_unrun(tmp_path, slot):
    root = toy(tmp_path / "data") if "sample" in slot else write_mmgcn(tmp_path / "data")
    marker = tmp_path / "payload_ran"
    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = [0, 4], Payload(marker)
    np.save(root / slot, {0: Payload(marker)} if "dict" in slot else evil, allow_pickle=True)
    one_line_exit_2(cli("datasets", "info", "toy", "--root", root), slot, "refused")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["best.pt", "last.pt"])
def test_a_crafted_checkpoint_is_refused_unrun(tmp_path, run_dir, name):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    marker = tmp_path / "payload_ran"
    torch.save({"model": Payload(marker)}, run / name)
    args = ["evaluate", run] if name == "best.pt" else ["train", "--resume", run]
    one_line_exit_2(cli(*args), name, "cannot load the checkpoint: refused", "os.makedirs")
    assert not marker.exists()
