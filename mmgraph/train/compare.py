"""Model comparison: every model on one dataset and split, hyper-parameters chosen on validation
only, test metrics at the best validation epoch as mean +- std over seeds."""

from __future__ import annotations

import csv
import io
import itertools
import json
import statistics
import warnings
from pathlib import Path
from typing import Callable, Iterable

from mmgraph.data import load_records
from mmgraph.errors import MMGraphError, WriteError
from mmgraph.models import check_options, model_class
from mmgraph.train.checkpoint import atomic_write_text, new_run_dir
from mmgraph.train.config import ConfigError, RunConfig, option_key, parse_assignment
from mmgraph.train.run import load_run, resolve_config, train_run
from mmgraph.train.trainer import Experiment

DEFAULT_GRID = "train.lr=0.005,0.02"
COLUMNS = [f"{m}@{k}" for m in ("recall", "ndcg", "precision") for k in (10, 20)]


def parse_grid(text: str) -> list[dict[str, object]]:
    """``'lr=1e-3,5e-4 cp_rank=8,16'`` -> every combination, as ``{key: value}`` dicts (values
    read as Python literals, so ``fusion_hidden=[],[128]`` gives two lists)."""
    axes = []
    for part in text.split():
        key, sep, raw = part.partition("=")
        if not sep or not key or not raw.strip(","):
            raise ConfigError(f"--grid {part!r}: write key=value1,value2 (e.g. lr=0.005,0.02)")
        value = parse_assignment(part)[1]
        if isinstance(value, tuple):
            values = list(value)
        elif isinstance(value, str) and "," in value:
            values = [parse_assignment(f"{key}={v}")[1] for v in value.split(",") if v]
        else:
            values = [value]
        axes.append((key, values))
    return [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]


def _applies(key: str, model: str) -> bool:
    """Whether grid axis ``key`` is an option of ``model``'s runs (train.* and data.* always are)."""
    try:
        option_key(RunConfig(model=model), key)
    except ConfigError:
        return False
    return True


def compare(dataset: str, models: Iterable[str], *, seeds: int = 3, grid: str = DEFAULT_GRID,
            out: str | Path = "runs", options: dict | None = None, sets: Iterable[str] = (),
            log: Callable[[str], None] = print, kind: str = "compare") -> tuple[Path, dict]:
    """Train every model of ``models`` at every grid point with ``seeds`` seeds, pick each model's
    point on mean validation ``train.metric`` (runs train with ``test=False``; only the selected
    point's runs are then tested), and write ``table.md``, ``table.csv``, ``results.json`` and
    ``chart.png`` (with matplotlib) to a new folder under ``out``.  Returns (folder, results).

    ``kind="sweep"`` (one model, :func:`sweep`) tabulates every grid point instead of every model.
    """
    models, sets, options = list(models), list(sets), dict(options or {})
    for name in models:
        model_class(name)  # unknown names fail before anything runs
    if seeds < 1:
        raise MMGraphError(f"--seeds must be >= 1, got {seeds}")
    points = parse_grid(grid)
    base = resolve_config(dataset, sets=sets, **options)  # bad options fail before anything runs
    d = base.data  # ... and so do missing or broken data (loaded once here, then from the cache)
    load_records(d.name, d.root, synthetic=d.synthetic, scale=d.scale, split=d.split, normalize=d.normalize,
                 pca=d.pca, cold_items=d.cold_items)
    unknown = [k for k in points[0] if not any(_applies(k, name) for name in models)]
    if unknown:
        raise ConfigError(f"--grid: {', '.join(unknown)} is not an option of any of {', '.join(models)}; "
                          "see `python cli.py options --model NAME`")
    for name in models:  # ... and so do bad values at any grid point
        for point in _points_of(name, points):
            try:
                cfg = _point_config(dataset, name, point, 0, sets, options)
                cfg.train.check()
                check_options(cfg.model, cfg.model_args)
            except MMGraphError as exc:
                raise ConfigError(f"--grid point {point} for {name}: {exc}") from exc
    folder = new_run_dir(Path(out), base.data.name, kind)
    results = {"kind": kind, "dataset": dataset, "seeds": seeds, "grid": grid, "metric": base.train.metric,
               "selection": f"mean validation {base.train.metric}", "options": options, "sets": sets, "models": {}}
    seen: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:  # data notes repeat for every run: show each once
        warnings.simplefilter("always")
        for name in models:
            results["models"][name] = _compare_one(name, dataset, points, seeds, options, sets, base.train.metric,
                                                   folder / "runs", log)
            write_tables(folder, results)  # after every model: an interrupted comparison keeps what it did
            for w in caught:
                if str(w.message) not in seen:
                    seen.add(str(w.message))
                    log(f"warning: {w.message}")
            caught.clear()
    try:
        chart(folder, results)
    except MMGraphError as exc:  # matplotlib missing: the tables are the result
        log(f"chart.png not written: {exc}")
    return folder, results


def sweep(dataset: str, model: str, *, seeds: int = 3, grid: str, **kwargs) -> tuple[Path, dict]:
    """Every combination of ``grid`` for one ``model``, ``seeds`` runs each: validation mean +-
    std for every point, test metrics for the point selected on validation only (MMRec-style
    selection on test never happens here).  Same files and arguments as :func:`compare`."""
    if not model_class(model).trainable:
        raise MMGraphError(f"model '{model}' has nothing to train, so nothing to sweep; choose a trained --model")
    if not parse_grid(grid)[0]:
        raise ConfigError("--grid is empty; give at least one axis, e.g. --grid 'lr=0.005,0.02'")
    return compare(dataset, [model], seeds=seeds, grid=grid, kind="sweep", **kwargs)


def mean_std(runs: list[dict], split: str, keys) -> dict[str, tuple[float, float]]:
    """``{key: (mean, std)}`` of ``run[split][key]`` over ``runs`` (one per seed)."""
    return {k: (statistics.mean(r[split][k] for r in runs), statistics.pstdev(r[split][k] for r in runs))
            for k in keys}


def _points_of(name: str, points: list[dict]) -> list[dict]:
    """Model ``name``'s distinct points: the grid without the axes it does not take."""
    distinct = {}
    for point in points:
        mine = {k: v for k, v in point.items() if _applies(k, name)}
        distinct.setdefault(json.dumps(mine, sort_keys=True, default=str), mine)
    return list(distinct.values())


def _point_config(dataset, name, point, seed, sets, options) -> RunConfig:
    return resolve_config(dataset, sets=list(sets) + [f"{k}={v}" for k, v in point.items()] + [f"train.seed={seed}"],
                          model=name, **options)


def _compare_one(name, dataset, points, seeds, options, sets, metric, runs_dir, log) -> dict:
    """One model: every grid point it takes, ``seeds`` runs each; the point best on validation."""
    if not model_class(name).trainable:  # popularity: evaluated on each seed's data, nothing to train
        runs = []
        for seed in range(seeds):
            exp = Experiment.build(_point_config(dataset, name, {}, seed, sets, options))
            runs.append(exp.evaluate_splits(["valid", "test"]))
        log(f"{name}: nothing to train, evaluated on {seeds} seed(s)")
        return {"selected": {}, "tried": [], "runs": runs, "epoch_seconds": None, "eval_seconds": None,
                "synthetic": exp.data_info["synthetic"], "protocol": exp.protocol()}
    tried = []
    for point in _points_of(name, points):
        try:
            runs = []
            for seed in range(seeds):
                cfg = _point_config(dataset, name, point, seed, sets, options)
                run_dir, metrics = train_run(cfg, runs_dir, quiet=True, test=False)  # test: selected point only
                runs.append(metrics | {"run_dir": str(run_dir)})
        except WriteError:  # a full disk is not a property of the grid point
            raise
        except MMGraphError as exc:  # e.g. a diverging learning rate: recorded, not selected
            log(f"{name} {point or 'defaults'}: failed ({exc})")
            tried.append({"point": point, "valid": None, "error": str(exc)})
            continue
        valid = statistics.mean(r["valid"][metric] for r in runs)
        spread = mean_std(runs, "valid", [k for k in runs[0]["valid"] if "@" in k])
        tried.append({"point": point, "valid": valid, "valid_metrics": spread, "runs": runs})
        log(f"{name} {point or 'defaults'}: mean valid {metric} {valid:.4f} over {seeds} seed(s)")
    done = [t for t in tried if t["valid"] is not None]
    summary = [{k: v for k, v in t.items() if k != "runs"} for t in tried]
    if not done:
        return {"selected": None, "tried": summary, "runs": []}
    best = max(done, key=lambda t: t["valid"])
    for run in best["runs"]:  # the one look at the test split
        run |= test_metrics(run["run_dir"])
    history = [h for r in best["runs"] for h in r["history"]]
    return {"selected": best["point"], "runs": best["runs"], "tried": summary,
            "epoch_seconds": statistics.median(h["train_seconds"] for h in history),
            "eval_seconds": statistics.median(h["eval_seconds"] for h in history if "eval_seconds" in h),
            "synthetic": best["runs"][0]["synthetic"], "protocol": best["runs"][0]["protocol"]}


def test_metrics(run_dir: str | Path) -> dict:
    """Test metrics of a run trained with ``test=False`` (its best checkpoint), also written into
    its ``metrics.json``: ``{"test": ...}`` and, with cold items, ``"test_cold"``."""
    out = load_run(run_dir).evaluate_splits(["test", "test_cold"])
    path = Path(run_dir) / "metrics.json"
    atomic_write_text(json.dumps(json.loads(path.read_text()) | out, indent=1), path)
    return out


def _rows(results: dict):
    for name, r in results["models"].items():
        if not r["runs"]:
            continue
        yield name, r, mean_std(r["runs"], "test", COLUMNS)


def _cell(pair) -> str:
    return f"{pair[0]:.4f} +- {pair[1]:.4f}"


def _point(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "defaults"


def _sweep_rows(results: dict):
    """``(point label, selected, validation {key: (mean, std)}, test {key: (mean, std)} or None,
    error or None)`` per grid point of a sweep's one model."""
    (r,) = results["models"].values()
    for t in r["tried"]:
        selected = t["point"] == r["selected"] and t["valid"] is not None
        test = mean_std(r["runs"], "test", COLUMNS) if selected else None
        yield _point(t["point"]), selected, t.get("valid_metrics"), test, t.get("error")


SWEEP_VALID = [f"{m}@{k}" for m in ("recall", "ndcg") for k in (10, 20)]
SWEEP_TEST = ["recall@20", "ndcg@20"]


def format_sweep(results: dict) -> str:
    """Every point's validation mean +- std, the selected point's test metrics."""
    (name, r), = results["models"].items()
    kind = ("SYNTHETIC stand-in" if r["synthetic"] else "real data") if "synthetic" in r else "no run finished"
    lines = [f"# {results['dataset']} ({kind}): {name} sweep, "
             f"{len(r['tried'])} point(s) x {results['seeds']} seed(s)", "",
             (f"Protocol: {r['protocol']}" if r.get("protocol") else "Protocol: -")
             + (" (the SYNTHETIC data and split are generated anew for each seed)" if r.get("synthetic") else "")
             + f". Grid `{results['grid']}`; the point is chosen on {results['selection']}; test metrics are "
             "computed for the selected point only, after selection.", "",
             "| point | " + " | ".join(f"valid {k}" for k in SWEEP_VALID) + " | " + " | ".join(f"test {k}" for k in SWEEP_TEST) + " |",
             "|---|" + "---|" * (len(SWEEP_VALID) + len(SWEEP_TEST))]
    for label, selected, valid, test, error in _sweep_rows(results):
        if error:
            lines.append(f"| {label} | failed: {error} |" + " |" * (len(SWEEP_VALID) + len(SWEEP_TEST) - 1))
            continue
        cells = [_cell(valid[k]) for k in SWEEP_VALID] + [_cell(test[k]) if test else "-" for k in SWEEP_TEST]
        lines.append(f"| {'**' + label + '** (selected)' if selected else label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_compare(results: dict) -> str:
    """The markdown table with a header that states data, protocol, seeds and selection."""
    if results.get("kind") == "sweep":
        return format_sweep(results)
    done = [r for r in results["models"].values() if r["runs"]]
    if not done:
        return f"# {results['dataset']}: no model finished a run\n"
    first = done[0]
    kind = "SYNTHETIC stand-in" if first["synthetic"] else "real data"
    lines = [f"# {results['dataset']} ({kind}): test metrics at the best validation epoch, mean +- std over "
             f"{results['seeds']} seed(s)", "",
             f"Protocol: {first['protocol']}"
             + (" (the SYNTHETIC data and split are generated anew for each seed)" if first["synthetic"] else "")
             + f". Grid `{results['grid']}` (axes a model does not take are skipped); "
             f"each model's point chosen on {results['selection']}; the test split never takes part in selection.", "",
             "| model | selected | " + " | ".join(c.replace("recall", "R").replace("ndcg", "N").replace("precision", "P")
                                              for c in COLUMNS) + " | s / epoch | eval s |",
             "|---|---|" + "---|" * (len(COLUMNS) + 2)]
    for name, r, cells in _rows(results):
        selected = ", ".join(f"{k}={v}" for k, v in r["selected"].items()) or "-"
        timing = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("epoch_seconds", "eval_seconds")]
        lines.append(f"| {name} | {selected} | " + " | ".join(f"{m:.4f} +- {s:.4f}" for m, s in cells.values())
                     + " | " + " | ".join(timing) + " |")
    for name, r in results["models"].items():
        failed = [t for t in r["tried"] if t.get("error")]
        if failed:
            lines.append(f"\n{name}: {len(failed)} grid point(s) failed, e.g. {failed[0]['point']}: {failed[0]['error']}")
    return "\n".join(lines) + "\n"


def write_tables(folder: Path, results: dict) -> None:
    atomic_write_text(json.dumps(results, indent=1, default=str), folder / "results.json")
    atomic_write_text(format_compare(results), folder / "table.md")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if results.get("kind") == "sweep":
        writer.writerow(["point", "selected", *(f"valid_{c}_{s}" for c in SWEEP_VALID for s in ("mean", "std")),
                         *(f"test_{c}_{s}" for c in SWEEP_TEST for s in ("mean", "std")), "error"])
        for label, selected, valid, test, error in _sweep_rows(results):
            writer.writerow([label, selected, *(f"{x:.6f}" if valid else "" for c in SWEEP_VALID
                                               for x in (valid[c] if valid else (0, 0))),
                             *(f"{x:.6f}" if test else "" for c in SWEEP_TEST for x in (test[c] if test else (0, 0))),
                             error or ""])
        atomic_write_text(buffer.getvalue(), folder / "table.csv")
        return
    writer.writerow(["model", "selected", *(f"{c}_{s}" for c in COLUMNS for s in ("mean", "std")),
                     "epoch_seconds", "eval_seconds", "seeds", "synthetic"])
    for name, r, cells in _rows(results):
        writer.writerow([name, json.dumps(r["selected"], default=str), *(f"{x:.6f}" for c in COLUMNS for x in cells[c]),
                         r["epoch_seconds"], r["eval_seconds"], len(r["runs"]), r["synthetic"]])
    atomic_write_text(buffer.getvalue(), folder / "table.csv")


def chart(folder: Path, results: dict) -> Path:
    """``chart.png``: a comparison's test metric per model, or a sweep's validation metric per
    point (the selected one starred), mean +- std over seeds."""
    from mmgraph.train.plots import bars

    metric = results.get("metric", "recall@20")
    if results.get("kind") == "sweep":
        rows = [(label + (" *" if selected else ""), *valid[metric])
                for label, selected, valid, _, error in _sweep_rows(results) if not error]
        what = f"validation {metric} (* selected)"
    else:
        rows = [(name, *cells[metric]) for name, _, cells in _rows(results)] if metric in COLUMNS else []
        what = f"test {metric}"
    if not rows:
        raise MMGraphError("no finished run to chart")
    kind = "SYNTHETIC" if next(iter(results["models"].values())).get("synthetic") else "real data"
    return bars(rows, folder / "chart.png", f"{results['dataset']} ({kind}), {results['seeds']} seed(s)",
                f"{what}, mean +- std")
