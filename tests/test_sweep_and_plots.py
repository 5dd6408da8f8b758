"""`sweep` (every grid point on validation, test for the selected one only), the figures
(`curves.png`, `chart.png`, `plot`) and TensorBoard logging."""

import builtins
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mmgraph.runs.compare as compare_module
from mmgraph.cli import main
from mmgraph.errors import MMGraphError
from mmgraph.report.comparison import COLUMNS
from mmgraph.runs.api import resolve_config, train_run
from mmgraph.runs.sweep import sweep

TINY = {
    "data.synthetic": True,
    "data.scale": 0.01,
    "train.epochs": 2,
    "train.batch_size": 512,
    "train.device": "cpu",
}
PNG = b"\x89PNG\r\n\x1a\n"


def test_sweep_tables_every_point_and_tests_only_the_selected_one(tmp_path, monkeypatch):
    """Fake runs: cp_rank 8 wins on validation; the test split (never looked at for the others)
    would prefer cp_rank 4."""
    tested = []

    def fake_train_run(cfg, out, quiet, test):
        assert test is False
        rank, seed = cfg.model_args["cp_rank"], cfg.train.seed
        valid = {
            "recall@10": 0.1,
            "recall@20": (0.3 if rank == 8 else 0.2) + seed / 100,
            "ndcg@10": 0.05,
            "ndcg@20": 0.06,
        }
        history = [
            {"epoch": 1, "train_seconds": 1.0, "eval_seconds": 0.1, "loss": 0.5, "valid": valid}
        ]
        run_dir = tmp_path / "fake" / f"r-{rank}-{seed}"
        run_dir.mkdir(parents=True)
        return run_dir, {
            "valid": valid,
            "test": None,
            "history": history,
            "synthetic": True,
            "protocol": "p",
            "selected_epoch": 1,
            "stopped": "epochs",
        }

    def fake_tested(run_dir):
        tested.append(Path(run_dir).name)
        np.savez(
            Path(run_dir) / "test_per_user.npz",
            users=np.arange(3),
            **{"recall@20": np.ones(3), "ndcg@20": np.ones(3)},
        )
        test = {k: 0.5 for k in COLUMNS}
        return {"test": test | {"recall@20": 0.4 + int(str(run_dir)[-1]) / 10}}

    monkeypatch.setattr(compare_module, "train_run", fake_train_run)
    monkeypatch.setattr(compare_module, "tested", fake_tested)
    folder, results = sweep(
        "kwai",
        "metammf",
        seeds=2,
        screen_seeds=2,
        grid="cp_rank=4,8,16",
        out=tmp_path,
        options=TINY,
        log=lambda msg: None,
    )
    assert results["models"]["metammf"]["selected"] == {"cp_rank": 8}
    assert sorted(tested) == ["r-8-0", "r-8-1"]
    table = (folder / "table.md").read_text()
    assert (
        "metammf sweep, 3 point(s); validation over the screening seed(s), test over 2 seed(s)"
        in table
    )
    assert (
        "| cp_rank=4 | 0.1000 +- 0.0000 | 0.2050 +- 0.0050 | 0.0500 +- 0.0000 | 0.0600 +- 0.0000 | - | - |"
        in table
    )
    assert "| **cp_rank=8** (selected) | 0.1000 +- 0.0000 | 0.3050 +- 0.0050 |" in table
    assert (
        "| 0.4500 +- 0.0500 | 0.5000 +- 0.0000 |" in table
    )  # test R@20 and N@20 of cp_rank 8 only
    rows = list(csv.DictReader((folder / "table.csv").open()))
    assert [r["selected"] for r in rows] == ["False", "True", "False"]
    assert rows[0]["test_recall@20_mean"] == "" and float(
        rows[1]["test_recall@20_mean"]
    ) == pytest.approx(0.45)
    assert (folder / "chart.png").read_bytes().startswith(PNG)
    assert json.loads((folder / "results.json").read_text())["kind"] == "sweep"


def test_cli_sweep_end_to_end(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            "kwai",
            "--synthetic",
            "--scale",
            "0.01",
            "--model",
            "bprmf",
            "--grid",
            "lr=0.005,0.02",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("kwai-sweep-") and "(selected)" in result.output
    selected = json.loads((folder / "results.json").read_text())["models"]["bprmf"]["runs"][0]
    assert (
        selected["test"]["recall@20"] >= 0
    )  # tested after selection, also in the run's metrics.json
    assert (
        json.loads((Path(selected["run_dir"]) / "metrics.json").read_text())["test"]
        == selected["test"]
    )
    runs = [p for p in (folder / "runs" / "bprmf").glob("*/*") if (p / "metrics.json").is_file()]
    others = [p for p in runs if str(p) != selected["run_dir"]]
    assert len(runs) == 2 and json.loads((others[0] / "metrics.json").read_text())["test"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "popularity", "--grid", "lr=1,2"], "nothing to sweep"),
        (["--model", "gat", "--grid", "lr=1,2"], "unknown model 'gat'"),
        (["--grid", "k=1,2"], "k is not an option of any of metammf"),
        (["--grid", "lr"], "key=value1,value2"),
        (["--grid", ""], "--grid is empty"),
        (["--grid", "lr=1", "--seeds", "0"], "--seeds must be >= 1"),
    ],
)
def test_sweep_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    result = CliRunner().invoke(
        main, ["sweep", "kwai", "--synthetic", "--scale", "0.01", "--out", str(tmp_path), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return [
        train_run(resolve_config("kwai", sets=[f"train.seed={s}"], **TINY), out, quiet=True)[0]
        for s in (0, 1)
    ]


def test_every_run_writes_its_curves(two_runs):
    assert (two_runs[0] / "curves.png").read_bytes().startswith(PNG)


def test_curves_plot_the_dynamic_share_per_meta_layer(two_runs, tmp_path, monkeypatch):
    import mmgraph.report.plots as plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    metrics = json.loads((two_runs[0] / "metrics.json").read_text())  # a MetaMMF run
    plots.curves([("run", metrics)], tmp_path / "c.png")
    axes = figures[-1].axes
    assert axes[-1].get_title().startswith("dynamic share")
    lines = [line for line in axes[-1].get_lines() if line.get_label() != "selected epoch"]
    assert [line.get_label() for line in lines] == ["layer 1", "layer 2"]
    first = [h["diagnostics"]["dynamic_share"][0] for h in metrics["history"]]
    assert list(lines[0].get_ydata()) == first
    for h in metrics["history"]:  # a model without diagnostics: no such panel
        h.pop("diagnostics")
    plots.curves([("run", metrics)], tmp_path / "d.png")
    assert not any(ax.get_title().startswith("dynamic") for ax in figures[-1].axes)


def test_plot_overlays_runs_and_refuses_bad_input(two_runs, tmp_path):
    out = tmp_path / "both.png"
    result = CliRunner().invoke(main, ["plot", *map(str, two_runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    for args, message in [
        ([str(two_runs[0]), "--out", str(out)], "already exists"),
        ([str(tmp_path), "--out", str(tmp_path / "x.png")], "not a run folder"),
        (
            [str(two_runs[0]), "--metric", "mrr@5", "--out", str(tmp_path / "y.png")],
            "no such validation metric",
        ),
    ]:
        result = CliRunner().invoke(main, ["plot", *args])
        assert (
            result.exit_code == 2 and message in result.output and "Traceback" not in result.output
        )


def test_without_matplotlib_training_goes_on_and_plot_says_what_to_install(
    tmp_path, monkeypatch, two_runs
):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    run_dir, _ = train_run(resolve_config("kwai", **TINY), tmp_path, quiet=True)
    assert not (run_dir / "curves.png").exists()
    assert (
        "curves.png not written: matplotlib is not installed; pip install matplotlib"
        in (run_dir / "log.txt").read_text()
    )
    result = CliRunner().invoke(main, ["plot", str(two_runs[0]), "--out", str(tmp_path / "z.png")])
    assert result.exit_code == 2 and "pip install matplotlib" in result.output


def test_tensorboard_logs_every_epoch_and_the_test(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = CliRunner().invoke(
        main,
        [
            "train",
            "kwai",
            "--synthetic",
            "--scale",
            "0.01",
            "--epochs",
            "2",
            "--tensorboard",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    (run,) = tmp_path.iterdir()
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    tags = events.Tags()["scalars"]
    assert {"loss", "valid/recall@20", "valid/ndcg@20", "test/recall@20"} <= set(tags)
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e.value for e in events.Scalars("loss")] == pytest.approx(
        [h["loss"] for h in metrics["history"]]
    )
    assert events.Scalars("test/recall@20")[0].value == pytest.approx(metrics["test"]["recall@20"])


def test_tensorboard_missing_is_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda name, *a, **k: (
            (_ for _ in ()).throw(ImportError(name))
            if name == "tensorboard"
            else real_import(name, *a, **k)
        ),
    )
    result = CliRunner().invoke(
        main,
        [
            "train",
            "kwai",
            "--synthetic",
            "--scale",
            "0.01",
            "--tensorboard",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "pip install tensorboard" in result.output
    assert not any(tmp_path.iterdir())
    with pytest.raises(MMGraphError, match="tensorboard"):
        train_run(
            resolve_config("kwai", **TINY, **{"train.tensorboard": True}), tmp_path, quiet=True
        )
