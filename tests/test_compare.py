"""`compare`: grids and search spaces, screen then confirm, selection on validation only,
resume, per-user significance, the tables, bad input."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset

import mmgraph.runs.compare as compare_module
from mmgraph.cli import main
from mmgraph.errors import MMGraphError
from mmgraph.report.comparison import COLUMNS
from mmgraph.runs.compare import compare
from mmgraph.runs.grid import Plan, parse_grid

TINY = {
    "data.synthetic": True,
    "data.scale": 0.01,
    "train.epochs": 1,
    "train.batch_size": 512,
    "train.device": "cpu",
}


def test_parse_grid_gives_every_combination_of_literals():
    assert parse_grid("lr=0.005,0.02 cp_rank=8") == [
        {"lr": 0.005, "cp_rank": 8},
        {"lr": 0.02, "cp_rank": 8},
    ]
    assert parse_grid("fusion_hidden=[],[128] fusion=static,meta-cp") == [
        {"fusion_hidden": [], "fusion": "static"},
        {"fusion_hidden": [], "fusion": "meta-cp"},
        {"fusion_hidden": [128], "fusion": "static"},
        {"fusion_hidden": [128], "fusion": "meta-cp"},
    ]
    assert parse_grid("") == [{}]
    for bad in ("lr", "lr=", "=1"):
        with pytest.raises(MMGraphError, match="key=value1,value2"):
            parse_grid(bad)


class FakeRuns:
    """``train_run`` and ``tested`` stand-ins: lr 0.1 is best on validation, lr 0.2 on test;
    per-user test values make the lr-0.1 runs of ``bprmf`` beat ``metammf`` on every user, by
    0.30 or 0.31."""

    def __init__(self, tmp_path):
        self.root, self.trained, self.tested = tmp_path / "fake", [], []

    def train_run(self, cfg, out, quiet, test, resume=None):
        assert test is False  # runs never look at the test split while the grid is searched
        name = f"{cfg.model}-{cfg.train.lr}-{cfg.train.seed}"
        self.trained.append(name)
        run_dir = self.root / name
        run_dir.mkdir(parents=True)
        metric = {k: 0.0 for k in COLUMNS}
        history = [{"epoch": 1, "train_seconds": 2.0 + cfg.train.seed, "eval_seconds": 0.5}]
        return run_dir, {
            "valid": metric | {"recall@20": 0.3 if cfg.train.lr == 0.1 else 0.1},
            "test": None,
            "history": history,
            "synthetic": False,
            "protocol": "p",
            "selected_epoch": 1,
            "stopped": "patience",
        }

    def test(self, run_dir):
        model, lr, seed = Path(run_dir).name.split("-")
        self.tested.append(Path(run_dir).name)
        users = np.arange(50)
        value = (
            (0.5 if model == "bprmf" else 0.2 - users % 2 / 100) + users / 1000
            if lr == "0.1"
            else np.full(50, 0.9)
        )
        np.savez(
            Path(run_dir) / "test_per_user.npz",
            users=users,
            **{"recall@20": value, "ndcg@20": value / 2},
        )
        metric = {k: 0.0 for k in COLUMNS}
        return {
            "test": metric
            | {
                "recall@20": float(value.mean()) + int(seed) / 100,
                "ndcg@20": float(value.mean()) / 2,
            }
        }


@pytest.fixture
def fake(tmp_path, monkeypatch):
    runs = FakeRuns(tmp_path)
    monkeypatch.setattr(compare_module, "train_run", runs.train_run)
    monkeypatch.setattr(compare_module, "tested", runs.test)
    return runs


def test_screen_one_seed_select_on_validation_then_confirm_and_test_the_selected_point(
    tmp_path, fake
):
    folder, results = compare(
        "tiktok",
        ["bprmf", "metammf"],
        seeds=3,
        screen_seeds=1,
        grid="lr=0.2,0.1 cp_rank=4",
        out=tmp_path,
        options=TINY,
        log=lambda msg: None,
    )
    r = results["models"]["bprmf"]
    assert r["selected"] == {"lr": 0.1}  # cp_rank is not an option of bprmf: skipped
    assert results["models"]["metammf"]["selected"] == {"lr": 0.1, "cp_rank": 4}
    assert [p["point"] for p in r["points"]] == [{"lr": 0.2}, {"lr": 0.1}]
    # screening: seed 0 of each point; confirmation: seeds 1 and 2 of the selected point only
    assert fake.trained[:4] == ["bprmf-0.2-0", "bprmf-0.1-0", "bprmf-0.1-1", "bprmf-0.1-2"]
    assert sorted(fake.tested) == sorted(
        f"{m}-0.1-{s}" for m in ("bprmf", "metammf") for s in range(3)
    )
    assert r["epoch_seconds"] == 3.0 and r["eval_seconds"] == 0.5  # medians over the confirmed runs
    row = next(
        row for row in csv.DictReader((folder / "table.csv").open()) if row["model"] == "metammf"
    )
    assert (
        float(row["recall@20_mean"]) == pytest.approx(0.2195 + 0.01)
        and float(row["recall@20_std"]) > 0
    )
    # significance: bprmf (best on test) against metammf, every user 0.3 apart
    sig = results["significance"]
    assert sig["reference"] == "bprmf" and sig["units"] == "users, each averaged over the seeds"
    t = sig["models"]["metammf"]["recall@20"]
    assert (
        t["mean_diff"] == pytest.approx(0.305) and 0.3 < t["ci_low"] < 0.305 < t["ci_high"] < 0.31
    )
    assert t["wilcoxon_p"] < 1e-6 and t["a_wins"] == 1.0
    assert (
        float(row["recall@20_vs_best_diff"]) == pytest.approx(-0.305)
        and float(row["recall@20_vs_best_t_p"]) < 1e-6
    )
    table = (folder / "table.md").read_text()
    assert "| bprmf | lr=0.1 | " in table and "-0.3050* [-0.30" in table
    assert "with 1 seed(s) without the test split" in table and "8 trained runs" in table


def test_a_failing_grid_point_is_recorded_and_not_selected(tmp_path, monkeypatch):
    original = compare_module.train_run

    def diverge_at_high_lr(cfg, out, quiet, test):
        if cfg.train.lr > 0.01:
            raise MMGraphError("training loss became nan in epoch 1")
        return original(cfg, out, quiet=quiet, test=test)

    monkeypatch.setattr(compare_module, "train_run", diverge_at_high_lr)
    folder, results = compare(
        "tiktok",
        ["bprmf"],
        seeds=1,
        grid="lr=0.005,0.02",
        out=tmp_path,
        options=TINY,
        log=lambda msg: None,
    )
    r = results["models"]["bprmf"]
    assert r["selected"] == {"lr": 0.005} and r["points"][1] == {
        "point": {"lr": 0.02},
        "valid": None,
        "error": "training loss became nan in epoch 1",
    }
    assert "1 grid point(s) failed" in (folder / "table.md").read_text()
    assert len(list((folder / "runs" / "bprmf").glob("*/failed.txt"))) == 1


def test_a_model_without_a_successful_point_exits_non_zero_after_writing_the_tables(
    tmp_path, monkeypatch
):
    def diverge(*args, **kwargs):
        raise MMGraphError("training loss became nan in epoch 1")

    monkeypatch.setattr(compare_module, "train_run", diverge)
    result = CliRunner().invoke(
        main,
        [
            "compare",
            "tiktok",
            "--synthetic",
            "--scale",
            "0.01",
            "--models",
            "popularity,bprmf",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--grid",
            "lr=0.1",
            "--set",
            "train.batch_size=512",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "bprmf: no successful grid point" in result.output
    assert "Traceback" not in result.output
    (folder,) = tmp_path.iterdir()
    table = (folder / "table.md").read_text()
    assert "| popularity |" in table and "bprmf: no successful grid point" in table


def test_resume_reuses_finished_runs_and_continues_an_interrupted_one(tmp_path, monkeypatch):
    calls = []
    original = compare_module.train_run

    def interrupt_second(cfg, out, quiet, test, resume=None):
        calls.append(resume)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the comparison is killed during its second run
        return original(cfg, out, quiet=quiet, test=test, resume=resume)

    monkeypatch.setattr(compare_module, "train_run", interrupt_second)
    options = TINY | {"train.epochs": 2}
    with pytest.raises(KeyboardInterrupt):
        compare(
            "tiktok",
            ["bprmf"],
            seeds=2,
            grid="lr=0.005,0.02",
            out=tmp_path,
            options=options,
            log=lambda msg: None,
        )
    (folder,) = tmp_path.iterdir()
    assert len(list((folder / "runs" / "bprmf").glob("*/*/metrics.json"))) == 1
    monkeypatch.setattr(compare_module, "train_run", original)
    calls.clear()
    monkeypatch.setattr(
        compare_module,
        "train_run",
        lambda *a, **k: calls.append(k.get("resume")) or original(*a, **k),
    )
    _, results = compare(None, resume=folder, log=lambda msg: None)
    assert (
        len(calls) == 2
    )  # the second screening point and the confirmation seed; the first run is reused
    r = results["models"]["bprmf"]
    assert len(r["runs"]) == 2 and all(run["test"]["recall@20"] >= 0 for run in r["runs"])
    calls.clear()
    _, again = compare(None, resume=folder, log=lambda msg: None)
    assert calls == [] and again["models"]["bprmf"]["runs"][0]["test"] == r["runs"][0]["test"]
    with pytest.raises(MMGraphError, match="not a comparison folder"):
        compare(None, resume=tmp_path, log=lambda msg: None)


def test_an_unfinished_run_is_resumed_from_its_last_checkpoint(tmp_path):
    folder, results = compare(
        "tiktok",
        ["bprmf"],
        seeds=1,
        grid="lr=0.005",
        out=tmp_path,
        options=TINY | {"train.epochs": 2},
        log=lambda msg: None,
    )
    run_dir = Path(results["models"]["bprmf"]["runs"][0]["run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["stopped"] = None  # as if killed after epoch 2's checkpoint, before it stopped
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (folder / "results.json").write_text(
        json.dumps(json.loads((folder / "results.json").read_text()) | {"models": {}})
    )
    _, resumed = compare(None, resume=folder, log=lambda msg: None)
    assert resumed["models"]["bprmf"]["runs"][0]["run_dir"] == str(run_dir)
    assert "resumed from" in (run_dir / "log.txt").read_text()


def test_set_applies_to_the_models_that_take_it(tmp_path, fake):
    _, results = compare(
        "tiktok",
        ["lattice", "bprmf"],
        seeds=1,
        grid="lr=0.1",
        out=tmp_path,
        options=TINY,
        sets=["model.lambda_coeff=0.5"],
        log=lambda msg: None,
    )
    assert set(results["models"]) == {"lattice", "bprmf"}
    plan = Plan(results["settings"])
    assert plan.config("lattice", {}, 0).model_args["lambda_coeff"] == 0.5
    assert "lambda_coeff" not in plan.config("bprmf", {}, 0).model_args


def test_cli_compare_writes_the_three_tables(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "compare",
            "tiktok",
            "--synthetic",
            "--scale",
            "0.01",
            "--models",
            "popularity,bprmf,vbpr",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--grid",
            "lr=0.005,0.02",
            "--set",
            "train.batch_size=512",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tiktok (SYNTHETIC stand-in)" in result.output and "| vbpr | lr=" in result.output
    assert "over (seed, user) pairs" in result.output  # the data follow the seed
    (folder,) = tmp_path.iterdir()
    results = json.loads((folder / "results.json").read_text())
    assert list(results["models"]) == ["popularity", "bprmf", "vbpr"]
    assert (
        len(results["models"]["vbpr"]["points"]) == 2
        and results["models"]["popularity"]["points"] == []
    )
    assert (
        len(results["models"]["popularity"]["runs"]) == 2
    )  # one per seed: synthetic data follow the seed
    rows = list(csv.DictReader((folder / "table.csv").open()))
    assert [r["model"] for r in rows] == ["popularity", "bprmf", "vbpr"] and rows[0][
        "synthetic"
    ] == "True"
    assert sum(r["recall@20_vs_best_diff"] == "" for r in rows) == 1  # the best model itself


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "bprmf,gat"], "unknown model 'gat'"),
        (["--grid", "lr"], "key=value1,value2"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--seeds", "2", "--screen-seeds", "3"], "--screen-seeds must be in [1, --seeds=2]"),
        (["--set", "nonsense=1"], "none of"),
        (
            ["--models", "bprmf", "--set", "model.lambda_coeff=0.5"],
            "none of bprmf takes that option",
        ),
        (
            ["--models", "bprmf", "--grid", "cp_rank=4,8"],
            "cp_rank is not an option of any of bprmf",
        ),
        (
            ["--models", "bprmf", "--search-dir", "/nonexistent"],
            "--search-dir /nonexistent: no such folder",
        ),
        (["--set", "train.negatives=some"], "train.negatives must be one of 'trained', 'all'"),
    ],
)
def test_compare_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    result = CliRunner().invoke(
        main, ["compare", "tiktok", "--synthetic", "--scale", "0.01", "--out", str(tmp_path), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_data_notes_are_shown_once_not_once_per_run(tmp_path):
    root = shared_dataset("tiktok")
    result = CliRunner().invoke(
        main,
        [
            "compare",
            "tiktok",
            "--root",
            str(root),
            "--models",
            "popularity",
            "--seeds",
            "3",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("dropped 5 validation interactions") == 1
    assert "| popularity | - | 0.0465 +- 0.0000 | 0.0596 +- 0.0000 |" in result.output


def test_runs_the_time_limit_cut_short_are_named():
    from mmgraph.report.comparison import _failures

    def run(seed, stopped, seconds):
        return {"seed": seed, "stopped": stopped, "epoch_seconds": seconds}

    busy = {"runs": [run(0, "patience", 3.0), run(1, "time limit", 15.0), run(2, "patience", 3.2)]}
    (line,) = _failures({"models": {"freedom": busy}})
    assert "1 of 3 confirmation run(s) stopped at the time limit (seed 1)" in line
    assert "15.0 s against 3.0 s" in line and "rerun them alone" in line
    quiet = {"runs": [run(0, "time limit", 3.0), run(1, "time limit", 3.1)]}
    (line,) = _failures({"models": {"lattice": quiet}})
    assert "maybe undertrained" in line and "busy" not in line
    assert _failures({"models": {"bprmf": {"runs": [run(0, "patience", 1.0)]}}}) == []
