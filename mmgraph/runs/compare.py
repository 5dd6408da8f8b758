"""Model comparison: every model on one dataset and split, searched over its own grid, selected
on validation only, confirmed over seeds, tested once, with per-user significance.

The procedure (:func:`compare`):

1. **Screen.** Every point of each model's search space (``configs/search/<model>.yaml``, see
   :mod:`mmgraph.runs.search`, or ``--grid``) trains with ``screen_seeds`` seeds, without the
   test split.
2. **Select** the point with the best mean validation ``train.metric``.
3. **Confirm.** The selected point trains with seeds ``0 .. seeds-1`` (the screening runs are
   reused); only these runs are tested, at their selected epoch.
4. **Test significance** of the model with the best mean test metric against every other
   model, per user (:func:`~mmgraph.eval.significance.paired_test`).

Every run lives in its own folder under ``<comparison>/runs/<model>/<point>-seed<N>/``, and
``results.json`` is rewritten after every model, so ``compare(..., resume=FOLDER)`` continues an
interrupted comparison: finished runs are reused, an unfinished one resumes from its
``last.pt``, a failed one stays failed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import statistics
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from mmgraph.data import load_records
from mmgraph.errors import DataWarning, MMGraphError, WriteError
from mmgraph.eval.significance import paired_test, pool_users
from mmgraph.models import check_options, model_class
from mmgraph.runs.api import load_run, resolve_config, train_run
from mmgraph.runs.context import Experiment
from mmgraph.runs.folder import new_run_dir
from mmgraph.runs.search import SearchSpace, load_search_space, point_key, point_label
from mmgraph.train.config import ConfigError, RunConfig, option_key, parse_assignment
from mmgraph.utils.io import atomic_write_bytes, atomic_write_text

COLUMNS = [f"{m}@{k}" for m in ("recall", "ndcg", "precision") for k in (10, 20)]
SIGNIFICANCE = ["recall@20", "ndcg@20"]  # per-user paired tests on these
SIGNIFICANT = 0.05  # the mark in table.md: both tests below this


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
    return [
        dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])
    ]


def _applies(key: str, model: str) -> bool:
    """Whether option ``key`` is one of ``model``'s runs' (train.* and data.* always are)."""
    try:
        option_key(RunConfig(model=model), key)
    except ConfigError:
        return False
    return True


def _points_of(name: str, points: list[dict]) -> list[dict]:
    """Model ``name``'s distinct points: the grid without the axes it does not take."""
    distinct = {}
    for point in points:
        mine = {k: v for k, v in point.items() if _applies(k, name)}
        distinct.setdefault(point_key(mine), mine)
    return list(distinct.values())


def mean_std(runs: list[dict], split: str, keys) -> dict[str, tuple[float, float]]:
    """``{key: (mean, std)}`` of ``run[split][key]`` over ``runs`` (one per seed)."""
    return {
        k: (
            statistics.mean(r[split][k] for r in runs),
            statistics.pstdev(r[split][k] for r in runs),
        )
        for k in keys
    }


class Plan:
    """What a comparison runs, checked before anything trains: per model its search space and
    the ``--set`` assignments that apply to it."""

    def __init__(self, settings: dict):
        self.settings = s = settings
        self.models = list(s["models"])
        for name in self.models:
            model_class(name)  # unknown names fail before anything runs
        if s["seeds"] < 1:
            raise MMGraphError(f"--seeds must be >= 1, got {s['seeds']}")
        if not 1 <= s["screen_seeds"] <= s["seeds"]:
            raise MMGraphError(
                f"--screen-seeds must be in [1, --seeds={s['seeds']}], got {s['screen_seeds']}"
            )
        keys = {text: parse_assignment(text)[0] for text in s["sets"]}
        nowhere = [
            text for text, key in keys.items() if not any(_applies(key, m) for m in self.models)
        ]
        if nowhere:
            raise ConfigError(
                f"--set {nowhere[0]}: none of {', '.join(self.models)} takes that option; "
                "see `python cli.py options --model NAME`"
            )
        self.sets = {m: [t for t, key in keys.items() if _applies(key, m)] for m in self.models}
        grid = parse_grid(s["grid"]) if s["grid"] else None
        if grid is not None:
            unknown = [k for k in grid[0] if not any(_applies(k, m) for m in self.models)]
            if unknown:
                raise ConfigError(
                    f"--grid: {', '.join(unknown)} is not an option of any of "
                    f"{', '.join(self.models)}; see `python cli.py options --model NAME`"
                )
        self.spaces: dict[str, SearchSpace] = {}
        saved = s.get("spaces") or {}  # a resumed comparison keeps the spaces it started with
        for name in self.models:
            if name in saved:
                file = saved[name].get("file")
                self.spaces[name] = SearchSpace(
                    name,
                    saved[name]["grid"],
                    saved[name]["reference"],
                    path=Path(file) if file else None,
                )
            elif not model_class(name).trainable:
                self.spaces[name] = SearchSpace(name, reference="nothing to train")
            elif grid is not None:
                points = _points_of(name, grid)
                axes = {k: list(dict.fromkeys(p[k] for p in points)) for k in points[0]}
                self.spaces[name] = SearchSpace(name, axes, "--grid")
            else:
                self.spaces[name] = load_search_space(name, s["search_dir"])
        s["spaces"] = {
            m: {"grid": space.grid, "reference": space.reference, "file": str(space.path or "")}
            for m, space in self.spaces.items()
        }
        self.base = self.config(self.models[0], {}, 0)  # bad options fail before anything runs

    def config(self, name: str, point: dict, seed: int) -> RunConfig:
        s = self.settings
        return resolve_config(
            s["dataset"],
            sets=self.sets[name] + [f"{k}={v}" for k, v in point.items()] + [f"train.seed={seed}"],
            model=name,
            **s["options"],
        )

    def check(self) -> None:
        """Load the data once (missing or broken data fail here, then come from the cache) and
        check every model's every point."""
        d = self.base.data
        load_records(
            d.name,
            d.root,
            synthetic=d.synthetic,
            scale=d.scale,
            split=d.split,
            normalize=d.normalize,
            pca=d.pca,
            cold_items=d.cold_items,
        )
        for name in self.models:
            for point in self.spaces[name].points():
                try:
                    cfg = self.config(name, point, 0)
                    cfg.train.check()
                    check_options(cfg.model, cfg.model_args)
                except MMGraphError as exc:
                    where = self.spaces[name].path or "--grid"
                    raise ConfigError(
                        f"{where}: grid point {point_label(point)} for {name}: {exc}"
                    ) from exc


def compare(
    dataset: str | None,
    models: Iterable[str] = (),
    *,
    seeds: int = 5,
    screen_seeds: int = 1,
    grid: str | None = None,
    search_dir: str | Path | None = None,
    out: str | Path = "runs",
    options: dict | None = None,
    sets: Iterable[str] = (),
    log: Callable[[str], None] = print,
    kind: str = "compare",
    resume: str | Path | None = None,
) -> tuple[Path, dict]:
    """Screen every model's search space with ``screen_seeds`` seeds, select each model's point
    on mean validation ``train.metric``, retrain it with ``seeds`` seeds, test those runs, and
    write ``table.md``, ``table.csv``, ``results.json`` and ``chart.png`` (with matplotlib) to a
    new folder under ``out`` (see the module docstring).  ``grid`` (``'lr=1e-3,5e-3 ...'``)
    replaces the search spaces; each axis and each ``sets`` assignment applies to the models
    that take it.  ``resume``: a comparison folder to continue, with the settings it was
    started with (the other arguments are ignored).

    Returns (folder, results).  :class:`MMGraphError` after the tables are written when a
    model has no successful point.  ``kind="sweep"`` (:func:`sweep`) tabulates every point.
    """
    if resume is not None:
        folder = Path(resume)
        results = _read_results(folder)
        settings = results["settings"]
        log(f"resuming {folder}: {', '.join(settings['models'])}, {settings['seeds']} seed(s)")
    else:
        settings = {
            "dataset": dataset,
            "models": list(models),
            "seeds": seeds,
            "screen_seeds": screen_seeds,
            "grid": grid,
            "search_dir": None if search_dir is None else str(search_dir),
            "options": dict(options or {}),
            "sets": list(sets),
            "kind": kind,
        }
    plan = Plan(settings)
    plan.check()
    if resume is None:
        folder = new_run_dir(Path(out), plan.base.data.name, kind)
        results = {
            "kind": kind,
            "dataset": dataset,
            "settings": settings,
            "seeds": seeds,
            "screen_seeds": screen_seeds,
            "grid": grid,
            "metric": plan.base.train.metric,
            "selection": f"mean validation {plan.base.train.metric}",
            "wall_seconds": 0.0,
            "models": {},
        }
        write_tables(folder, results)  # from the start: an interrupted comparison can be resumed
    started, spent = time.perf_counter(), results["wall_seconds"]
    seen: set[str] = set()
    with warnings.catch_warnings(
        record=True
    ) as caught:  # data notes repeat for every run: show each once
        warnings.simplefilter("always")
        for name in plan.models:
            results["models"][name] = _compare_one(plan, name, folder, log)
            results["wall_seconds"] = spent + time.perf_counter() - started
            write_tables(
                folder, results
            )  # after every model: an interrupted comparison keeps what it did
            for (
                w
            ) in caught:  # the data's notes; torch's own (sparse tensors in beta) are noise here
                if issubclass(w.category, DataWarning) and str(w.message) not in seen:
                    seen.add(str(w.message))
                    log(f"warning: {w.message}")
            caught.clear()
    try:
        results["significance"] = significance(results)
    except ValueError as exc:
        results["significance"] = {"error": str(exc)}
    write_tables(folder, results)
    try:
        chart(folder, results)
    except MMGraphError as exc:  # matplotlib missing: the tables are the result
        log(f"chart.png not written: {exc}")
    failed = [name for name, r in results["models"].items() if not r["runs"]]
    if failed:
        raise MMGraphError(
            f"{', '.join(failed)}: no successful grid point (see {folder / 'table.md'}); "
            "fix the failing points' options and run again, or leave the model out"
        )
    return folder, results


def sweep(
    dataset: str | None,
    model: str = "metammf",
    *,
    seeds: int = 5,
    grid: str | None = None,
    **kwargs,
) -> tuple[Path, dict]:
    """Every point of one ``model``'s search space (or ``grid``): validation mean +- std per
    point, test metrics for the point selected on validation only.  Same files and arguments
    as :func:`compare`."""
    if kwargs.get("resume") is None:
        if not model_class(model).trainable:
            raise MMGraphError(
                f"model '{model}' has nothing to train, so nothing to sweep; choose a trained --model"
            )
        if grid is not None and not parse_grid(grid)[0]:
            raise ConfigError(
                "--grid is empty; give at least one axis, e.g. --grid 'lr=0.005,0.02'"
            )
    return compare(dataset, [model], seeds=seeds, grid=grid, kind="sweep", **kwargs)


def _read_results(folder: Path) -> dict:
    path = folder / "results.json"
    try:
        results = json.loads(path.read_text())
        results["settings"]["models"]
    except FileNotFoundError:
        raise MMGraphError(
            f"{folder}: not a comparison folder (no results.json); pass the folder `compare` "
            "or `sweep` made"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MMGraphError(
            f"{path}: cannot read the comparison's state ({type(exc).__name__}); the folder is "
            "damaged or from an older version: start a new comparison"
        ) from None
    return results


def _compare_one(plan: Plan, name: str, folder: Path, log) -> dict:
    """One model: screen its points, select on validation, confirm over the seeds, test."""
    s, space = plan.settings, plan.spaces[name]
    base = {"search": space.describe()}  # the file and grid: settings["spaces"]
    if not model_class(
        name
    ).trainable:  # popularity: evaluated on each seed's data, nothing to train
        runs = [_evaluate_untrained(plan, name, seed, folder) for seed in range(s["seeds"])]
        log(f"{name}: nothing to train, evaluated on {s['seeds']} seed(s)")
        return base | {
            "selected": {},
            "points": [],
            "runs": runs,
            "epoch_seconds": None,
            "eval_seconds": None,
            "synthetic": runs[0]["synthetic"],
            "protocol": runs[0]["protocol"],
        }
    points, metric = [], plan.base.train.metric
    for point in space.points():
        try:
            runs = [_train(plan, name, point, seed, folder) for seed in range(s["screen_seeds"])]
        except WriteError:  # a full disk is not a property of the grid point
            raise
        except MMGraphError as exc:  # e.g. a diverging learning rate: recorded, not selected
            log(f"{name} {point_label(point)}: failed ({exc})")
            points.append({"point": point, "valid": None, "error": str(exc)})
            continue
        valid = statistics.mean(r["valid"][metric] for r in runs)
        points.append(
            {
                "point": point,
                "valid": valid,
                "runs": runs,
                "valid_metrics": mean_std(runs, "valid", [k for k in runs[0]["valid"] if "@" in k]),
            }
        )
        log(
            f"{name} {point_label(point)}: mean valid {metric} {valid:.4f} over {len(runs)} seed(s)"
        )
    done = [p for p in points if p["valid"] is not None]
    if not done:
        return base | {"selected": None, "points": points, "runs": []}
    best = max(done, key=lambda p: p["valid"])
    try:
        confirm = best["runs"] + [
            _train(plan, name, best["point"], seed, folder)
            for seed in range(s["screen_seeds"], s["seeds"])
        ]
    except WriteError:
        raise
    except MMGraphError as exc:
        log(f"{name} {point_label(best['point'])}: a confirmation seed failed ({exc})")
        return base | {
            "selected": None,
            "points": points,
            "runs": [],
            "error": f"confirmation failed: {exc}",
        }
    for run in confirm:  # the one look at the test split
        run["test"] = tested(run["run_dir"])["test"]
        run["per_user_file"] = str(Path(run["run_dir"]) / "test_per_user.npz")
    log(
        f"{name}: selected {point_label(best['point'])}; test {metric} "
        f"{statistics.mean(r['test'][metric] for r in confirm):.4f} over {len(confirm)} seed(s)"
    )
    return base | {
        "selected": best["point"],
        "points": points,
        "runs": confirm,
        "epoch_seconds": statistics.median(r["epoch_seconds"] for r in confirm),
        "eval_seconds": statistics.median(r["eval_seconds"] for r in confirm),
        "synthetic": confirm[0]["synthetic"],
        "protocol": confirm[0]["protocol"],
    }


def _train(plan: Plan, name: str, point: dict, seed: int, folder: Path) -> dict:
    """One run of ``name`` at ``point`` and ``seed`` in its own folder: a finished one is read
    back, an unfinished one resumed from ``last.pt``, a failed one fails again without training."""
    digest = hashlib.sha1(point_key(point).encode()).hexdigest()[:10]
    parent = folder / "runs" / name / f"{digest}-seed{seed}"
    failed = parent / "failed.txt"
    if failed.is_file():
        raise MMGraphError(failed.read_text().strip())
    run_dir = metrics = None
    for old in sorted(p for p in parent.glob("*") if (p / "config.json").is_file()):
        try:
            done = json.loads((old / "metrics.json").read_text())
        except (OSError, ValueError):
            done = {}
        if done.get("stopped"):
            run_dir, metrics = old, done
            break
        if (old / "last.pt").is_file():
            try:
                run_dir, metrics = train_run(None, resume=old, quiet=True, test=False)
                break
            except WriteError:
                raise
            except MMGraphError:  # damaged beyond resuming: left as it is, trained anew below
                continue
    if run_dir is None:
        parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            json.dumps({"model": name, "point": point, "seed": seed}, default=str),
            parent / "point.json",
        )
        try:
            run_dir, metrics = train_run(
                plan.config(name, point, seed), parent, quiet=True, test=False
            )
        except WriteError:
            raise
        except MMGraphError as exc:
            atomic_write_text(str(exc), failed)
            raise
    history = metrics["history"]
    evals = [h["eval_seconds"] for h in history if "eval_seconds" in h]
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "valid": metrics["valid"],
        "selected_epoch": metrics["selected_epoch"],
        "stopped": metrics.get("stopped"),
        "epochs": len(history),
        "seconds": round(sum(h["train_seconds"] for h in history) + sum(evals), 2),
        "epoch_seconds": statistics.median(h["train_seconds"] for h in history),
        "eval_seconds": statistics.median(evals) if evals else None,
        "synthetic": metrics["synthetic"],
        "protocol": metrics["protocol"],
    }


def _per_user_arrays(split: dict) -> dict[str, np.ndarray]:
    rows = split.pop("per_user")
    return {k: rows[k].numpy() for k in ["users", *SIGNIFICANCE]}


def tested(run_dir: str | Path) -> dict:
    """Test metrics of a run trained with ``test=False`` (its selected checkpoint), also written
    into its ``metrics.json`` (``"test"`` and, with cold items, ``"test_cold"``), with the
    per-user values in ``test_per_user.npz``; read back from there when present."""
    run_dir = Path(run_dir)
    cache = run_dir / "test_per_user.npz"
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    if cache.is_file() and metrics.get("test"):
        return {k: metrics[k] for k in ("test", "test_cold") if k in metrics}
    out = load_run(run_dir).evaluate_splits(["test", "test_cold"], per_user=True)
    arrays = _per_user_arrays(out["test"])
    out.get("test_cold", {}).pop("per_user", None)
    _save_npz(cache, arrays)
    atomic_write_text(json.dumps(metrics | out, indent=1), path)
    return out


def _save_npz(path: Path, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(buffer.getvalue(), path)


def _evaluate_untrained(plan: Plan, name: str, seed: int, folder: Path) -> dict:
    """A model with nothing to train on seed ``seed``'s data: validation and test, per user."""
    target = folder / "runs" / name / f"seed{seed}.npz"
    summary = target.with_suffix(".json")
    if summary.is_file() and target.is_file():
        return json.loads(summary.read_text())
    exp = Experiment.build(plan.config(name, {}, seed))
    out = exp.evaluate_splits(["valid", "test"], per_user=True)
    out["valid"].pop("per_user")
    target.parent.mkdir(parents=True, exist_ok=True)
    _save_npz(target, _per_user_arrays(out["test"]))
    run = {
        "seed": seed,
        "valid": out["valid"],
        "test": out["test"],
        "per_user_file": str(target),
        "synthetic": exp.data_info["synthetic"],
        "protocol": exp.protocol(),
    }
    atomic_write_text(json.dumps(run), summary)
    return run


def significance(results: dict) -> dict:
    """Per-user paired tests of the model with the best mean test ``metric`` against every
    other model, on :data:`SIGNIFICANCE`: users' values averaged over seeds on fixed data,
    (seed, user) pairs when the data follows the seed (SYNTHETIC)."""
    done = {n: r for n, r in results["models"].items() if r["runs"]}
    if len(done) < 2:
        return {}
    metric = results.get("metric", "recall@20")
    best = max(done, key=lambda n: statistics.mean(r["test"][metric] for r in done[n]["runs"]))
    follows = bool(next(iter(done.values())).get("synthetic"))

    per_user = {
        n: [dict(np.load(run["per_user_file"])) for run in r["runs"]] for n, r in done.items()
    }
    out = {
        "reference": best,
        "metrics": SIGNIFICANCE,
        "units": "(seed, user) pairs" if follows else "users, each averaged over the seeds",
        "models": {},
    }
    for name in done:
        if name == best:
            continue
        out["models"][name] = {}
        for key in SIGNIFICANCE:
            (units_a, a), (units_b, b) = (
                pool_users(per_user[n], key, follows) for n in (best, name)
            )
            if not np.array_equal(units_a, units_b):
                raise ValueError(
                    f"{best} and {name} were tested on different users; cannot pair them"
                )
            out["models"][name][key] = paired_test(a, b)
    return out


# Tables ------------------------------------------------------------------------------------


def _cell(pair) -> str:
    return f"{pair[0]:.4f} +- {pair[1]:.4f}"


def _short(metric: str) -> str:
    return metric.replace("recall", "R").replace("ndcg", "N").replace("precision", "P")


def _rows(results: dict):
    for name, r in results["models"].items():
        if r["runs"]:
            yield name, r, mean_std(r["runs"], "test", COLUMNS)


def _significance_cells(results: dict, name: str) -> list[str]:
    sig = results.get("significance") or {}
    if name == sig.get("reference"):
        return ["best"] * len(SIGNIFICANCE)
    tests = sig.get("models", {}).get(name)
    if not tests:
        return ["-"] * len(SIGNIFICANCE)
    cells = []
    for key in SIGNIFICANCE:
        t = tests[key]
        mark = "*" if max(t["t_p"], t["wilcoxon_p"]) < SIGNIFICANT else ""
        cells.append(
            f"{-t['mean_diff']:+.4f}{mark} [{-t['ci_high']:+.4f}, {-t['ci_low']:+.4f}], "
            f"p {t['t_p']:.2g} / {t['wilcoxon_p']:.2g}"
        )
    return cells


def _compute(results: dict) -> tuple[int, float]:
    """Runs trained and their seconds (training and validation), screening included."""
    runs = {}
    for r in results["models"].values():
        for run in [x for p in r.get("points", []) for x in p.get("runs", [])] + list(r["runs"]):
            if "run_dir" in run:
                runs[run["run_dir"]] = run["seconds"]
    return len(runs), sum(runs.values())


def _header(results: dict, first: dict, title: str) -> list[str]:
    n, seconds = _compute(results)
    screen = results.get("screen_seeds", results["seeds"])
    return [
        title,
        "",
        f"Protocol: {first['protocol']}"
        + (
            " (the SYNTHETIC data and split are generated anew for each seed)"
            if first["synthetic"]
            else ""
        )
        + ".",
        "",
        f"Search: each grid point trained with {screen} seed(s) without the test split; the point with the "
        f"best {results['selection']} retrained with seeds 0-{results['seeds'] - 1}; only those runs are "
        "tested, at their selected epoch. The test split never takes part in selection. "
        f"Compute: {n} trained runs, {seconds / 3600:.2f} h of training and validation; "
        f"{results.get('wall_seconds', 0) / 3600:.2f} h of wall time.",
        "",
    ]


def format_compare(results: dict) -> str:
    """The markdown table with a header that states data, protocol, search, seeds, selection
    and compute, and a column per significance test against the best model."""
    if results.get("kind") == "sweep":
        return format_sweep(results)
    done = [r for r in results["models"].values() if r["runs"]]
    if not done:
        lines = [f"# {results['dataset']}: no model finished a run", ""]
        return "\n".join(lines + _failures(results)) + "\n"
    first = done[0]
    kind = "SYNTHETIC stand-in" if first["synthetic"] else "real data"
    sig = results.get("significance") or {}
    lines = _header(
        results,
        first,
        f"# {results['dataset']} ({kind}): test metrics at the selected epoch, "
        f"mean +- std over {results['seeds']} seed(s)",
    )
    if sig.get("reference"):
        lines += [
            f"Significance: per-user paired tests of {sig['reference']} (the best mean test "
            f"{results.get('metric', 'recall@20')}) against each model, over {sig['units']}: the "
            f"difference (model minus {sig['reference']}) with its 95% bootstrap interval, and the "
            f"p-values of the paired t-test / Wilcoxon signed-rank test; * marks both below "
            f"{SIGNIFICANT}.",
            "",
        ]
    lines += [
        "| model | selected | "
        + " | ".join(_short(c) for c in COLUMNS)
        + " | "
        + " | ".join(f"{_short(k)} vs best" for k in SIGNIFICANCE)
        + " | epoch (stop) | s / epoch | eval s |",
        "|---|---|" + "---|" * (len(COLUMNS) + len(SIGNIFICANCE) + 3),
    ]
    for name, r, cells in _rows(results):
        epochs = [run["selected_epoch"] for run in r["runs"] if "selected_epoch" in run]
        stops = sorted({run["stopped"] for run in r["runs"] if run.get("stopped")})
        epoch = f"{statistics.median(epochs):g} ({', '.join(stops)})" if epochs else "-"
        timing = [
            f"{r[k]:.2f}" if r.get(k) is not None else "-"
            for k in ("epoch_seconds", "eval_seconds")
        ]
        lines.append(
            f"| {name} | {point_label(r['selected']) if r['selected'] else '-'} | "
            + " | ".join(_cell(c) for c in cells.values())
            + " | "
            + " | ".join(_significance_cells(results, name))
            + f" | {epoch} | "
            + " | ".join(timing)
            + " |"
        )
    lines += ["", "| model | search space |", "|---|---|"]
    lines += [f"| {name} | {r.get('search', '-')} |" for name, r in results["models"].items()]
    return "\n".join(lines + [""] + _failures(results)) + "\n"


def _failures(results: dict) -> list[str]:
    lines = []
    for name, r in results["models"].items():
        failed = [p for p in r.get("points", []) if p.get("error")]
        if failed:
            lines.append(
                f"{name}: {len(failed)} grid point(s) failed, e.g. {point_label(failed[0]['point'])}: "
                f"{failed[0]['error']}"
            )
        if r.get("error"):
            lines.append(f"{name}: {r['error']}")
        if not r["runs"]:
            lines.append(f"{name}: no successful grid point")
    return lines


SWEEP_VALID = [f"{m}@{k}" for m in ("recall", "ndcg") for k in (10, 20)]
SWEEP_TEST = ["recall@20", "ndcg@20"]


def _sweep_rows(results: dict):
    """``(point label, selected, validation {key: (mean, std)}, test {key: (mean, std)} or None,
    error or None)`` per grid point of a sweep's one model."""
    for r in results["models"].values():  # one model, or none yet
        for p in r["points"]:
            selected = p["point"] == r["selected"] and p["valid"] is not None and bool(r["runs"])
            test = mean_std(r["runs"], "test", COLUMNS) if selected else None
            yield point_label(p["point"]), selected, p.get("valid_metrics"), test, p.get("error")


def format_sweep(results: dict) -> str:
    """Every point's validation mean +- std, the selected point's test metrics."""
    if not results["models"]:
        return f"# {results['dataset']}: sweep started, no point finished yet\n"
    ((name, r),) = results["models"].items()
    first = r if "synthetic" in r else {"protocol": "-", "synthetic": False}
    kind = (
        ("SYNTHETIC stand-in" if first["synthetic"] else "real data")
        if "synthetic" in r
        else "no run finished"
    )
    lines = _header(
        results,
        first,
        f"# {results['dataset']} ({kind}): {name} sweep, {len(r['points'])} point(s); "
        f"validation over the screening seed(s), test over {results['seeds']} seed(s)",
    )
    lines += [
        "| point | "
        + " | ".join(f"valid {k}" for k in SWEEP_VALID)
        + " | "
        + " | ".join(f"test {k}" for k in SWEEP_TEST)
        + " |",
        "|---|" + "---|" * (len(SWEEP_VALID) + len(SWEEP_TEST)),
    ]
    for label, selected, valid, test, error in _sweep_rows(results):
        if error:
            lines.append(
                f"| {label} | failed: {error} |" + " |" * (len(SWEEP_VALID) + len(SWEEP_TEST) - 1)
            )
            continue
        cells = [_cell(valid[k]) for k in SWEEP_VALID] + [
            _cell(test[k]) if test else "-" for k in SWEEP_TEST
        ]
        lines.append(
            f"| {'**' + label + '** (selected)' if selected else label} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_tables(folder: Path, results: dict) -> None:
    atomic_write_text(json.dumps(results, indent=1, default=str), folder / "results.json")
    atomic_write_text(format_compare(results), folder / "table.md")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if results.get("kind") == "sweep":
        writer.writerow(
            [
                "point",
                "selected",
                *(f"valid_{c}_{s}" for c in SWEEP_VALID for s in ("mean", "std")),
                *(f"test_{c}_{s}" for c in SWEEP_TEST for s in ("mean", "std")),
                "error",
            ]
        )
        for label, selected, valid, test, error in _sweep_rows(results):
            writer.writerow(
                [
                    label,
                    selected,
                    *(
                        f"{x:.6f}" if valid else ""
                        for c in SWEEP_VALID
                        for x in (valid[c] if valid else (0, 0))
                    ),
                    *(
                        f"{x:.6f}" if test else ""
                        for c in SWEEP_TEST
                        for x in (test[c] if test else (0, 0))
                    ),
                    error or "",
                ]
            )
        atomic_write_text(buffer.getvalue(), folder / "table.csv")
        return
    sig = results.get("significance") or {}
    tests = [
        f"{k}_vs_best_{part}"
        for k in SIGNIFICANCE
        for part in ("diff", "ci_low", "ci_high", "t_p", "wilcoxon_p")
    ]
    writer.writerow(
        [
            "model",
            "selected",
            *(f"{c}_{s}" for c in COLUMNS for s in ("mean", "std")),
            *tests,
            "epoch_seconds",
            "eval_seconds",
            "seeds",
            "synthetic",
        ]
    )
    for name, r, cells in _rows(results):
        t = sig.get("models", {}).get(name)
        values = (
            [
                f"{v:.6g}"
                for k in SIGNIFICANCE
                for v in (
                    -t[k]["mean_diff"],
                    -t[k]["ci_high"],
                    -t[k]["ci_low"],
                    t[k]["t_p"],
                    t[k]["wilcoxon_p"],
                )
            ]
            if t
            else [""] * len(tests)
        )
        writer.writerow(
            [
                name,
                json.dumps(r["selected"], default=str),
                *(f"{x:.6f}" for c in COLUMNS for x in cells[c]),
                *values,
                r.get("epoch_seconds"),
                r.get("eval_seconds"),
                len(r["runs"]),
                r.get("synthetic"),
            ]
        )
    atomic_write_text(buffer.getvalue(), folder / "table.csv")


def chart(folder: Path, results: dict) -> Path:
    """``chart.png``: a comparison's test metric per model, or a sweep's validation metric per
    point (the selected one starred), mean +- std over seeds."""
    from mmgraph.report.plots import bars

    metric = results.get("metric", "recall@20")
    if results.get("kind") == "sweep":
        rows = [
            (label + (" *" if selected else ""), *valid[metric])
            for label, selected, valid, _, error in _sweep_rows(results)
            if not error
        ]
        what = f"validation {metric} (* selected)"
    else:
        rows = (
            [(name, *cells[metric]) for name, _, cells in _rows(results)]
            if metric in COLUMNS
            else []
        )
        what = f"test {metric}"
    if not rows:
        raise MMGraphError("no finished run to chart")
    kind = "SYNTHETIC" if next(iter(results["models"].values())).get("synthetic") else "real data"
    return bars(
        rows,
        folder / "chart.png",
        f"{results['dataset']} ({kind}), {results['seeds']} seed(s)",
        f"{what}, mean +- std",
    )
