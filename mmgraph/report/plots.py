"""Figures of runs and tables: learning curves per run, overlays of runs, bar charts of a
comparison or sweep.  matplotlib is optional (``pip install matplotlib``): without it training
goes on and says so once; ``plot`` asks for it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mmgraph.errors import MMGraphError
from mmgraph.utils.io import atomic_write_bytes

MISSING = "matplotlib is not installed; pip install matplotlib (or pip install 'mmgraph[plot]')"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; :class:`MMGraphError` when absent."""
    try:
        import matplotlib
    except ImportError:
        raise MMGraphError(MISSING) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    atomic_write_bytes(buffer.getvalue(), path)
    return path


def _series(history: list[dict], split: str, key: str) -> tuple[list[int], list[float]]:
    points = [(h["epoch"], h[split][key]) for h in history if split in h and key in h[split]]
    return [e for e, _ in points], [v for _, v in points]


def curves(runs: Sequence[tuple[str, dict]], path: str | Path, metric: str = "recall@20") -> Path:
    """Training loss and validation ``metric`` (and NDCG at its K; the cold items' validation
    metric when the runs have one; MetaMMF's dynamic share per meta layer when recorded) per
    epoch, one line per run: ``runs`` are ``(label,
    metrics.json contents)``."""
    plt = pyplot()
    k = metric.split("@")[1]
    keys = [metric, f"ndcg@{k}"] if metric != f"ndcg@{k}" else [metric]
    cold = any("valid_cold" in h for _, m in runs for h in m["history"])
    dynamic = any(
        "dynamic_share" in h.get("diagnostics", {}) for _, m in runs for h in m["history"]
    )
    panels = (
        ["loss"] + keys + ([f"cold {metric}"] if cold else []) + (["dynamic"] if dynamic else [])
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for label, m in runs:
        history = m["history"]
        axes[0][0].plot([h["epoch"] for h in history], [h["loss"] for h in history], label=label)
        for ax, key in zip(axes[0][1:], keys):
            ax.plot(*_series(history, "valid", key), marker=".", label=label)
        if cold:
            axes[0][len(keys) + 1].plot(
                *_series(history, "valid_cold", metric), marker=".", label=label
            )
        if dynamic:  # one line per meta layer: near zero, the fusion has become static
            shares = [
                (h["epoch"], h["diagnostics"]["dynamic_share"])
                for h in history
                if "dynamic_share" in h.get("diagnostics", {})
            ]
            for layer in range(len(shares[0][1]) if shares else 0):
                axes[0][-1].plot(
                    [e for e, _ in shares],
                    [v[layer] for _, v in shares],
                    marker=".",
                    label=f"{label} layer {layer + 1}" if len(runs) > 1 else f"layer {layer + 1}",
                )
        if m.get("best_epoch") and len(runs) == 1:
            for ax in axes[0][1:]:
                ax.axvline(
                    m.get("selected_epoch") or m["best_epoch"],
                    color="grey",
                    linestyle=":",
                    label="selected epoch",
                )
    titles = (
        ["training loss (BPR)"]
        + [f"validation {key}" for key in keys]
        + ([f"validation {metric}, cold items"] if cold else [])
        + (["dynamic share ||h ΔW_i|| / ||h W||"] if dynamic else [])
    )
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    if dynamic:
        axes[0][-2].legend(fontsize=8)
    first = runs[0][1]
    data = f"{first['dataset']} ({'SYNTHETIC' if first.get('synthetic') else 'real data'})"
    fig.suptitle(data if len(runs) > 1 else f"{data}, {first['model']}", fontsize=11)
    return _save(fig, Path(path))


def read_run(run_dir: str | Path) -> dict:
    """A run folder's ``metrics.json``; :class:`MMGraphError` when it is not a run folder."""
    path = Path(run_dir) / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise MMGraphError(
            f"{run_dir}: not a run folder (no metrics.json); pass folders that `train` made"
        ) from None
    except (OSError, ValueError) as exc:
        raise MMGraphError(f"{path}: unreadable ({exc}); is the run still writing it?") from None
    if not metrics.get("history"):
        raise MMGraphError(
            f"{path}: no epoch finished yet, nothing to plot; wait for the first epoch"
        )
    return metrics


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, metric: str | None = None) -> Path:
    """Overlay the curves of several runs (labelled by folder name) in ``out``."""
    runs = [(Path(d).name, read_run(d)) for d in run_dirs]
    if metric is None:  # the first run's selection metric
        try:
            metric = json.loads((Path(run_dirs[0]) / "config.json").read_text())["train"]["metric"]
        except (OSError, ValueError, KeyError, TypeError):  # no or a damaged config.json
            metric = "recall@20"
    known = {key for _, m in runs for h in m["history"] for key in h.get("valid", {})}
    if metric not in known:
        raise MMGraphError(
            f"--metric {metric}: the runs have no such validation metric; "
            f"choose one of {', '.join(sorted(k for k in known if '@' in k))}"
        )
    return curves(runs, out, metric)


def bars(
    rows: Sequence[tuple[str, float, float]], path: str | Path, title: str, xlabel: str
) -> Path:
    """A horizontal bar chart of ``(label, mean, std)`` rows with std error bars."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    labels, means, stds = zip(*rows)
    positions = range(len(rows))[::-1]
    ax.barh(list(positions), means, xerr=stds, color="#4C72B0", capsize=3)
    ax.set_yticks(list(positions), labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, Path(path))
