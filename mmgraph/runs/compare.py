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

import hashlib
import io
import json
import statistics
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from mmgraph.errors import DataWarning, MMGraphError, WriteError
from mmgraph.eval.significance import paired_test, pool_users
from mmgraph.models import model_class
from mmgraph.report.comparison import SIGNIFICANCE, chart, mean_std, point_label, write_tables
from mmgraph.runs.api import load_run, train_run
from mmgraph.runs.context import Experiment
from mmgraph.runs.folder import new_run_dir
from mmgraph.runs.grid import Plan
from mmgraph.runs.search import point_key
from mmgraph.utils.io import atomic_write_bytes, atomic_write_text


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
    ).capabilities.trainable:  # popularity: evaluated on each seed's data, nothing to train
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
