"""Faults: a run killed with SIGKILL mid-epoch or mid-checkpoint resumes from its last complete
checkpoint and ends as an uninterrupted run does; a non-finite loss stops or skips the batch."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmgraph.cli import main
from mmgraph.data import load_records
from mmgraph.errors import MMGraphError
from mmgraph.models import LightGCN
from mmgraph.runs.api import resolve_config, train_run

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [
    "train",
    "kwai",
    "--synthetic",
    "--scale",
    "0.01",
    "--model",
    "lightgcn",
    "--epochs",
    "3",
    "--deterministic",
    "--device",
    "cpu",
    "--quiet",
    "--set",
    "train.batch_size=256",
]


def cli(args, out, fault=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("MMGRAPH_FAULT", None)
    if fault:
        env["MMGRAPH_FAULT"] = fault
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    done = cli(TRAIN, out)
    assert done.returncode == 0, done.stderr
    (run,) = out.iterdir()
    return json.loads((run / "metrics.json").read_text())


def same_run(metrics, reference):
    assert [h["loss"] for h in metrics["history"]] == [h["loss"] for h in reference["history"]]
    assert metrics["best_epoch"] == reference["best_epoch"] and metrics["test"] == reference["test"]


HEAVY = pytest.mark.heavy  # pytest --heavy: every batch of epoch 2 (10 at this scale), and more


@pytest.mark.parametrize(
    "fault, epochs_done",
    [
        ("batch:2:3", 1),  # in the middle of epoch 2 (steps count from 0)
        ("save:last.pt#2", 1),  # while writing epoch 2's last.pt
        ("save:best.pt#1", 0),  # while writing the first best.pt: nothing to resume yet
        *[pytest.param(f"batch:2:{step}", 1, marks=HEAVY) for step in (0, 1, 2, 4, 5, 6, 7, 8, 9)],
        pytest.param("batch:1:4", 0, marks=HEAVY),  # before any checkpoint
        pytest.param("batch:3:9", 2, marks=HEAVY),  # the last batch of the last epoch
        pytest.param("save:last.pt#3", 2, marks=HEAVY),  # the last checkpoint write
    ],
)
def test_sigkill_then_resume_finishes_like_an_uninterrupted_run(
    tmp_path, uninterrupted, fault, epochs_done
):
    killed = cli(TRAIN, tmp_path, fault)
    assert killed.returncode == -signal.SIGKILL
    (run,) = tmp_path.iterdir()
    names = {p.name for p in run.iterdir()}
    if epochs_done == 0:  # no complete checkpoint: resume refuses, a new run is the way
        assert "last.pt" not in names and "best.pt" not in names
        again = cli(["train", "--resume", str(run)], tmp_path)
        assert again.returncode == 2 and "no last.pt to resume from" in again.stderr
        return
    # the checkpoints present are complete (loadable, of the last finished epoch); a write cut
    # short is only ever a temporary file
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == epochs_done
    assert all(
        n in ("config.json", "log.txt", "metrics.json", "best.pt", "last.pt") or n.startswith(".")
        for n in names
    )
    resumed = cli(["train", "--resume", str(run)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(run.glob(".*.tmp-*"))  # the leftovers of the killed write are gone
    same_run(json.loads((run / "metrics.json").read_text()), uninterrupted)


def nan_on(calls):
    """LightGCN.batch_loss returning NaN on the given (1-based) calls."""
    original = LightGCN.batch_loss
    count = {"n": 0}

    def batch_loss(self, *args):
        count["n"] += 1
        loss = original(self, *args)
        return loss * float("nan") if count["n"] in calls else loss

    return batch_loss


def batches_per_epoch():
    return -(-load_records("kwai", synthetic=True, scale=0.01).train.shape[1] // 256)


def test_a_nan_loss_stops_naming_the_epoch_and_the_last_good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(LightGCN, "batch_loss", nan_on({batches_per_epoch() + 2}))  # in epoch 2
    result = CliRunner().invoke(main, TRAIN + ["--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (run,) = tmp_path.iterdir()
    assert "training loss became nan in epoch 2" in result.output
    assert (
        f"last good checkpoint: {run / 'last.pt'}" in result.output
        and "--on-nan skip-batch" in result.output
    )


def test_skip_batch_leaves_the_parameters_finite(tmp_path, monkeypatch):
    monkeypatch.setattr(LightGCN, "batch_loss", nan_on({2, batches_per_epoch() + 3}))
    cfg = resolve_config(
        "kwai",
        model="lightgcn",
        **{
            "data.synthetic": True,
            "data.scale": 0.01,
            "train.epochs": 2,
            "train.batch_size": 256,
            "train.on_nan": "skip-batch",
        },
    )
    run, metrics = train_run(cfg, tmp_path, quiet=True)
    assert all(
        torch.isfinite(v).all()
        for v in torch.load(run / "best.pt", weights_only=True)["model"].values()
    )
    log = (run / "log.txt").read_text()
    assert "epoch 1: skipped 1 of" in log and "epoch 2: skipped 1 of" in log
    assert all(h["loss"] == h["loss"] for h in metrics["history"])  # not NaN


def test_every_batch_nan_is_an_error_even_when_skipping(tmp_path, monkeypatch):
    monkeypatch.setattr(LightGCN, "batch_loss", nan_on(set(range(1, 1000))))
    cfg = resolve_config(
        "kwai",
        model="lightgcn",
        **{
            "data.synthetic": True,
            "data.scale": 0.01,
            "train.epochs": 2,
            "train.batch_size": 256,
            "train.on_nan": "skip-batch",
        },
    )
    with pytest.raises(MMGraphError, match="every batch of epoch 1 had a non-finite loss"):
        train_run(cfg, tmp_path, quiet=True)


def test_a_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 20, 10 << 20, 1 << 10))
    result = CliRunner().invoke(main, TRAIN + ["--out", str(tmp_path)])
    assert (
        result.exit_code == 2
        and "the disk has 0 MiB free, but this run's checkpoints need about" in result.output
    )
    assert not any(tmp_path.iterdir())  # the empty run folder is removed again


def test_a_disk_filling_up_mid_run_keeps_the_complete_checkpoints(tmp_path, monkeypatch):
    import errno

    import mmgraph.utils.io as checkpoint

    saves = {"n": 0}
    original = torch.save

    def save(obj, f, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] == 4:  # epoch 2's best.pt or last.pt
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    result = CliRunner().invoke(main, TRAIN + ["--out", str(tmp_path)])
    (run,) = tmp_path.iterdir()
    assert (
        result.exit_code == 2
        and "No space left on device" in result.output
        and "then --resume" in result.output
    )
    assert not list(run.glob(".*.tmp-*"))  # no partial file left behind
    assert torch.load(run / "last.pt", weights_only=True)["state"]["epoch"] == 1


def no_room_for(monkeypatch, name):
    """Atomic writes of files called ``name`` fail as on a full disk (at the final rename)."""
    import errno

    import mmgraph.utils.io as checkpoint

    replace = os.replace

    def full(src, dst):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", full)


QUICK = ["kwai", "--synthetic", "--scale", "0.01", "--device", "cpu"]


@pytest.mark.parametrize(
    "args, name",
    [
        (["export", "RUN", "--out", "OUT"], "export.json"),
        (["compare", *QUICK, "--models", "popularity", "--seeds", "1", "--out", "OUT"], "table.md"),
        (
            [
                "sweep",
                *QUICK,
                "--model",
                "lightgcn",
                "--grid",
                "lr=1e-3",
                "--set",
                "train.epochs=1",
                "--out",
                "OUT",
            ],
            "table.csv",
        ),
    ],
)
def test_a_full_disk_when_writing_results_is_one_line_and_leaves_nothing_partial(
    tmp_path, monkeypatch, args, name
):
    run = tmp_path / "run"
    if "RUN" in args:
        assert CliRunner().invoke(main, TRAIN + ["--epochs", "1", "--out", str(run)]).exit_code == 0
        (run,) = run.iterdir()
    args = [str(run) if a == "RUN" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    no_room_for(monkeypatch, name)
    result = CliRunner().invoke(main, args)
    out = result.output.strip()  # progress lines, then the error
    assert result.exit_code == 2 and out.count("error:") == 1 and "Traceback" not in out, out
    last = out.splitlines()[-1]
    assert (
        f"{name}: cannot write it (No space left on device)" in last
        and "free some disk space" in last
    )
    assert not [p for p in tmp_path.rglob(".*") if ".tmp-" in p.name]
    if args[0] == "export":  # all or nothing
        assert not (tmp_path / "out").exists()


def test_a_full_disk_in_a_plain_write_is_one_line_too(tmp_path, monkeypatch):
    import errno

    from mmgraph.train.callbacks import LogFile

    def on_message(self, trainer, msg):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(LogFile, "on_message", on_message)
    result = CliRunner().invoke(main, TRAIN + ["--out", str(tmp_path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "log.txt: No space left on device; free some disk space" in result.output
