"""`compare`: grid parsing, selection on validation only, the tables, bad input."""

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared_dataset

import mmgraph.train.compare as compare_module
from mmgraph.cli import main
from mmgraph.errors import MMGraphError
from mmgraph.train.compare import compare, parse_grid

TINY = {"data.synthetic": True, "data.scale": 0.01, "train.epochs": 1, "train.batch_size": 512, "train.device": "cpu"}


def test_parse_grid_gives_every_combination_of_literals():
    assert parse_grid("lr=0.005,0.02 cp_rank=8") == [{"lr": 0.005, "cp_rank": 8}, {"lr": 0.02, "cp_rank": 8}]
    assert parse_grid("fusion_hidden=[],[128] fusion=static,meta-cp") == [
        {"fusion_hidden": [], "fusion": "static"}, {"fusion_hidden": [], "fusion": "meta-cp"},
        {"fusion_hidden": [128], "fusion": "static"}, {"fusion_hidden": [128], "fusion": "meta-cp"}]
    assert parse_grid("") == [{}]
    for bad in ("lr", "lr=", "=1"):
        with pytest.raises(MMGraphError, match="key=value1,value2"):
            parse_grid(bad)


def test_selection_uses_validation_only(tmp_path, monkeypatch):
    """The fake runs make lr 0.1 best on validation and lr 0.2 best on test: 0.1 must win."""
    metric = {k: 0.0 for k in compare_module.COLUMNS}
    tested = []

    def fake_train_run(cfg, out, quiet, test):
        assert test is False  # runs never look at the test split while the grid is searched
        good_valid = cfg.train.lr == 0.1
        history = [{"epoch": 1, "train_seconds": 2.0 + cfg.train.seed, "eval_seconds": 0.5}]
        return tmp_path / f"{cfg.model}-{cfg.train.lr}-{cfg.train.seed}", {
            "valid": metric | {"recall@20": 0.3 if good_valid else 0.1}, "test": None,
            "history": history, "synthetic": True, "protocol": "p"}

    def fake_test_metrics(run_dir):
        name = Path(run_dir).name
        tested.append(name)
        _, lr, seed = name.split("-")
        return {"test": metric | {"recall@20": 0.1 + int(seed) / 100 if lr == "0.1" else 0.9}}
    monkeypatch.setattr(compare_module, "train_run", fake_train_run)
    monkeypatch.setattr(compare_module, "test_metrics", fake_test_metrics)
    folder, results = compare("tiktok", ["bprmf", "metammf"], seeds=3, grid="lr=0.2,0.1 cp_rank=4", out=tmp_path,
                              options=TINY, log=lambda msg: None)
    r = results["models"]["bprmf"]
    assert r["selected"] == {"lr": 0.1}  # cp_rank is not an option of bprmf: skipped
    assert results["models"]["metammf"]["selected"] == {"lr": 0.1, "cp_rank": 4}
    assert [t["point"] for t in r["tried"]] == [{"lr": 0.2}, {"lr": 0.1}]
    assert r["epoch_seconds"] == 3.0 and r["eval_seconds"] == 0.5  # medians over the selected runs
    row = next(row for row in csv.DictReader((folder / "table.csv").open()) if row["model"] == "bprmf")
    assert float(row["recall@20_mean"]) == pytest.approx(0.11) and float(row["recall@20_std"]) > 0
    assert "| bprmf | lr=0.1 | " in (folder / "table.md").read_text()
    assert sorted(tested) == sorted(f"{m}-0.1-{s}" for m in ("bprmf", "metammf") for s in range(3))


def test_a_failing_grid_point_is_recorded_and_not_selected(tmp_path, monkeypatch):
    original = compare_module.train_run

    def diverge_at_high_lr(cfg, out, quiet, test):
        if cfg.train.lr > 0.01:
            raise MMGraphError("training loss became nan in epoch 1")
        return original(cfg, out, quiet=quiet, test=test)
    monkeypatch.setattr(compare_module, "train_run", diverge_at_high_lr)
    folder, results = compare("tiktok", ["bprmf"], seeds=1, grid="lr=0.005,0.02", out=tmp_path, options=TINY,
                              log=lambda msg: None)
    r = results["models"]["bprmf"]
    assert r["selected"] == {"lr": 0.005} and r["tried"][1] == {"point": {"lr": 0.02}, "valid": None,
                                                                "error": "training loss became nan in epoch 1"}
    assert "1 grid point(s) failed" in (folder / "table.md").read_text()


def test_cli_compare_writes_the_three_tables(tmp_path):
    result = CliRunner().invoke(main, [
        "compare", "tiktok", "--synthetic", "--scale", "0.01", "--models", "popularity,bprmf,vbpr", "--seeds", "1",
        "--epochs", "1", "--grid", "lr=0.005,0.02", "--set", "train.batch_size=512", "--device", "cpu",
        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "tiktok (SYNTHETIC stand-in)" in result.output and "| vbpr | lr=" in result.output
    (folder,) = tmp_path.iterdir()
    results = json.loads((folder / "results.json").read_text())
    assert list(results["models"]) == ["popularity", "bprmf", "vbpr"]
    assert len(results["models"]["vbpr"]["tried"]) == 2 and results["models"]["popularity"]["tried"] == []
    assert len(results["models"]["popularity"]["runs"]) == 1  # one per seed: synthetic data follow the seed
    rows = list(csv.DictReader((folder / "table.csv").open()))
    assert [r["model"] for r in rows] == ["popularity", "bprmf", "vbpr"] and rows[0]["synthetic"] == "True"


@pytest.mark.parametrize("args, message", [
    (["--models", "bprmf,gat"], "unknown model 'gat'"),
    (["--grid", "lr"], "key=value1,value2"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--set", "nonsense=1"], "unknown option 'nonsense'"),
    (["--models", "bprmf", "--grid", "cp_rank=4,8"], "cp_rank is not an option of any of bprmf"),
])
def test_compare_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    result = CliRunner().invoke(main, ["compare", "tiktok", "--synthetic", "--scale", "0.01",
                                       "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_data_notes_are_shown_once_not_once_per_run(tmp_path):
    root = shared_dataset("tiktok")
    result = CliRunner().invoke(main, ["compare", "tiktok", "--root", str(root), "--models", "popularity",
                                       "--seeds", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("dropped 5 validation interactions") == 1
    assert "| popularity | - | 0.0465 +- 0.0000 | 0.0596 +- 0.0000 |" in result.output
