"""Comparison and sweep tables (markdown, CSV) and the bar chart, from a comparison's results."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

from mmgraph.errors import MMGraphError
from mmgraph.utils.io import atomic_write_text

SIGNIFICANCE = ["recall@20", "ndcg@20"]  # per-user paired tests on these
COLUMNS = [f"{m}@{k}" for m in ("recall", "ndcg", "precision") for k in (10, 20)]


SIGNIFICANT = 0.05  # the mark in table.md: both tests below this


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
        lines += _cut_short(name, r["runs"])
    return lines


def _cut_short(name: str, runs: list[dict]) -> list[str]:
    """A note for confirmation runs the time limit stopped: they may be undertrained, and when
    their epochs ran far slower than the model's fastest run the machine was busy (the limit is
    wall-clock, so whatever ran beside them changed their result)."""
    cut = [run for run in runs if run.get("stopped") == "time limit"]
    if not cut:
        return []
    fastest = min(run["epoch_seconds"] for run in runs if run.get("epoch_seconds") is not None)
    slow = max(run["epoch_seconds"] for run in cut)
    seeds = ", ".join(str(run["seed"]) for run in cut)
    line = (
        f"{name}: {len(cut)} of {len(runs)} confirmation run(s) stopped at the time limit "
        f"(seed {seeds}), maybe undertrained"
    )
    if slow > 1.5 * fastest:
        line += (
            f"; their epochs took up to {slow:.1f} s against {fastest:.1f} s in the model's fastest "
            "run, so the machine was busy: rerun them alone (move their folders aside, --resume)"
        )
    return [line]


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


def mean_std(runs: list[dict], split: str, keys) -> dict[str, tuple[float, float]]:
    """``{key: (mean, std)}`` of ``run[split][key]`` over ``runs`` (one per seed)."""
    return {
        k: (
            statistics.mean(r[split][k] for r in runs),
            statistics.pstdev(r[split][k] for r in runs),
        )
        for k in keys
    }


def point_label(point: dict) -> str:
    """``"model.num_layers=2, model.reg_weight=0.001"`` (``"defaults"`` for none)."""
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "defaults"
