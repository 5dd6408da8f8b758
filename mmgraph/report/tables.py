"""Metric tables as markdown."""

from __future__ import annotations


def format_table(metrics: dict, title: str = "") -> str:
    """A markdown table: one row per metric, one column per K."""
    ks = sorted({int(k.split("@")[1]) for k in metrics if "@" in k})
    names = list(dict.fromkeys(k.split("@")[0] for k in metrics if "@" in k))
    label = {"hr": "HR (paper, micro recall)", "hit_rate": "hit rate"}
    lines = ([title] if title else []) + [
        "| metric | " + " | ".join(f"@{k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for name in names:
        lines.append(
            f"| {label.get(name, name)} | "
            + " | ".join(f"{metrics[f'{name}@{k}']:.4f}" for k in ks)
            + " |"
        )
    return "\n".join(lines)
