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

from mmgraph.errors import MMGraphError
from mmgraph.models import model_class
from mmgraph.train.checkpoint import atomic_write_text, new_run_dir
from mmgraph.train.config import ConfigError, RunConfig, option_key, parse_assignment
from mmgraph.train.run import resolve_config, train_run
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
            log: Callable[[str], None] = print) -> tuple[Path, dict]:
    """Train every model of ``models`` at every grid point with ``seeds`` seeds, pick each model's
    point on mean validation ``train.metric``, and write ``table.md``, ``table.csv`` and
    ``results.json`` to a new folder under ``out``.  Returns (folder, results)."""
    models, sets, options = list(models), list(sets), dict(options or {})
    for name in models:
        model_class(name)  # unknown names fail before anything runs
    if seeds < 1:
        raise MMGraphError(f"--seeds must be >= 1, got {seeds}")
    points = parse_grid(grid)
    base = resolve_config(dataset, sets=sets, **options)  # bad options fail before anything runs
    unknown = [k for k in points[0] if not any(_applies(k, name) for name in models)]
    if unknown:
        raise ConfigError(f"--grid: {', '.join(unknown)} is not an option of any of {', '.join(models)}; "
                          "see `python cli.py options --model NAME`")
    folder = new_run_dir(Path(out), base.data.name, "compare")
    results = {"dataset": dataset, "seeds": seeds, "grid": grid, "selection": f"mean validation {base.train.metric}",
               "options": options, "sets": sets, "models": {}}
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
    return folder, results


def _compare_one(name, dataset, points, seeds, options, sets, metric, runs_dir, log) -> dict:
    """One model: every grid point it takes, ``seeds`` runs each; the point best on validation."""
    if not model_class(name).trainable:  # popularity: evaluated on each seed's data, nothing to train
        runs = []
        for seed in range(seeds):
            exp = Experiment.build(resolve_config(dataset, sets=list(sets) + [f"train.seed={seed}"], model=name,
                                                  **options))
            runs.append({"valid": exp.evaluate("valid"), "test": exp.evaluate("test")})
        log(f"{name}: nothing to train, evaluated on {seeds} seed(s)")
        return {"selected": {}, "tried": [], "runs": runs, "epoch_seconds": None, "eval_seconds": None,
                "synthetic": exp.data_info["synthetic"], "protocol": exp.protocol()}
    distinct = {}  # this model's points: the grid without the axes it does not take
    for point in points:
        mine = {k: v for k, v in point.items() if _applies(k, name)}
        distinct.setdefault(json.dumps(mine, sort_keys=True, default=str), mine)
    tried = []
    for point in distinct.values():
        point_sets = list(sets) + [f"{k}={v}" for k, v in point.items()]
        try:
            runs = []
            for seed in range(seeds):
                cfg = resolve_config(dataset, sets=point_sets + [f"train.seed={seed}"], model=name, **options)
                run_dir, metrics = train_run(cfg, runs_dir, quiet=True)
                runs.append(metrics | {"run_dir": str(run_dir)})
        except MMGraphError as exc:  # e.g. a diverging learning rate: recorded, not selected
            log(f"{name} {point or 'defaults'}: failed ({exc})")
            tried.append({"point": point, "valid": None, "error": str(exc)})
            continue
        valid = statistics.mean(r["valid"][metric] for r in runs)
        tried.append({"point": point, "valid": valid, "runs": runs})
        log(f"{name} {point or 'defaults'}: mean valid {metric} {valid:.4f} over {seeds} seed(s)")
    done = [t for t in tried if t["valid"] is not None]
    summary = [{k: v for k, v in t.items() if k != "runs"} for t in tried]
    if not done:
        return {"selected": None, "tried": summary, "runs": []}
    best = max(done, key=lambda t: t["valid"])
    history = [h for r in best["runs"] for h in r["history"]]
    return {"selected": best["point"], "runs": best["runs"], "tried": summary,
            "epoch_seconds": statistics.median(h["train_seconds"] for h in history),
            "eval_seconds": statistics.median(h["eval_seconds"] for h in history if "eval_seconds" in h),
            "synthetic": best["runs"][0]["synthetic"], "protocol": best["runs"][0]["protocol"]}


def _rows(results: dict):
    for name, r in results["models"].items():
        if not r["runs"]:
            continue
        values = {k: [run["test"][k] for run in r["runs"]] for k in COLUMNS}
        yield name, r, {k: (statistics.mean(v), statistics.pstdev(v)) for k, v in values.items()}


def format_compare(results: dict) -> str:
    """The markdown table with a header that states data, protocol, seeds and selection."""
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
    writer.writerow(["model", "selected", *(f"{c}_{s}" for c in COLUMNS for s in ("mean", "std")),
                     "epoch_seconds", "eval_seconds", "seeds", "synthetic"])
    for name, r, cells in _rows(results):
        writer.writerow([name, json.dumps(r["selected"], default=str), *(f"{x:.6f}" for c in COLUMNS for x in cells[c]),
                         r["epoch_seconds"], r["eval_seconds"], len(r["runs"]), r["synthetic"]])
    atomic_write_text(buffer.getvalue(), folder / "table.csv")
