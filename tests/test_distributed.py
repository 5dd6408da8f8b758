"""Data-parallel training under torchrun (gloo on CPU) against one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from mmgraph.distributed import Dist, setup

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [
    "cli.py",
    "train",
    "tiktok",
    "--synthetic",
    "--scale",
    "0.03",
    "--epochs",
    "3",
    "--batch-size",
    "1000",
    "--device",
    "cpu",
    "--quiet",
]


def _train(out: Path, processes: int, *extra: str) -> dict:
    launcher = [sys.executable] + (
        ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        if processes > 1
        else []
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")  # the same kernels' threading in both runs
    proc = subprocess.run(
        launcher + TRAIN + ["--out", str(out), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list(out.iterdir())
    assert len(runs) == 1, runs  # rank 0 alone made the run folder
    assert proc.stdout.count("run folder:") == 1  # and alone reported
    return json.loads((runs[0] / "metrics.json").read_text())


@pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend"
)
def test_two_processes_train_like_one(tmp_path):
    one, two = _train(tmp_path / "one", 1), _train(tmp_path / "two", 2)
    assert two["env"]["processes"] == 2 and one["env"]["processes"] == 1
    assert [h["epoch"] for h in one["history"]] == [h["epoch"] for h in two["history"]] == [1, 2, 3]
    for a, b in zip(one["history"], two["history"]):
        # each rank takes half of every global batch; DDP averages the halves' gradients
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
        # evaluation: each rank ranks half of the users, the totals are summed; the gradients'
        # reduction order differs, so a near-tie at the cut-off may flip for a user (one flip
        # moves recall@20 by about 1e-3 here)
        for key, value in a["valid"].items():
            assert b["valid"][key] == pytest.approx(value, abs=2e-3), key
    assert two["best_epoch"] == one["best_epoch"]
    for key, value in one["test"].items():
        assert two["test"][key] == pytest.approx(value, abs=1e-3), key


@pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend"
)
def test_two_processes_train_on_sampled_subgraphs(tmp_path):
    # each rank samples the subgraph of its share of every batch; tables keep dense gradients
    # under DDP (it cannot all-reduce sparse ones)
    two = _train(tmp_path / "two", 2, "--sampler", "neighbor", "--model", "lightgcn")
    assert two["env"]["processes"] == 2 and two["test"]["recall@20"] > 0.1


def test_shard_splits_every_batch():
    batch = torch.arange(7)
    parts = [Dist(r, 3).shard(batch) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch)
    assert [p.numel() for p in parts] == [3, 2, 2]
    assert torch.equal(Dist().shard(batch), batch)


def test_single_process_needs_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks = setup(torch.device("cpu"))
    assert ranks == Dist() and ranks.main and not ranks.enabled
    assert not dist.is_initialized()
