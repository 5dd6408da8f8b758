"""The ``mmgraph`` command line (also ``python cli.py``): parses options, calls the library.

Expected mistakes (a missing file, a bad option) print one ``error:`` line and exit with
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import click

from mmgraph import __version__
from mmgraph.errors import MMGraphError


class _Group(click.Group):
    """A click group that turns :class:`MMGraphError` into ``error: ...`` and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MMGraphError as exc:
            if (ctx.find_root().params or {}).get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(__version__, prog_name="mmgraph")
def main(debug: bool) -> None:
    """mmgraph: multimodal graph recommendation (MetaMMF and baselines) on PyTorch Geometric."""
    warnings.showwarning = _one_line_warning


@main.group(cls=_Group)
def datasets() -> None:
    """List the known datasets and inspect one."""


@datasets.command("list")
def datasets_list() -> None:
    """Known dataset names, their format, where each is looked for and whether it is there."""
    from mmgraph.data import CATALOG, SYNTHETIC_NAMES, default_root, detect_format

    rows = [("name", "format", "users", "items", "interactions", "modalities", "looked for in", "status")]
    for name, spec in CATALOG.items():
        root = default_root(name)
        fmt = detect_format(root) if root.is_dir() else None
        status = f"found ({fmt})" if fmt else "missing"
        if not fmt and name in SYNTHETIC_NAMES:
            status += ", --synthetic available"
        count = (lambda n: f"{n:,}" if n else "varies")
        mods = ", ".join(f"{m} {d}" if d else m for m, d in spec.modalities.items())
        rows.append((name, spec.format, count(spec.users), count(spec.items),
                     count(spec.interactions), mods, str(root), status))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    click.echo("\nAny folder in a supported format also loads with --root DIR "
               "(MMGCN, MMRec, MetaMMF toy sample, or interactions.csv + <modality>.npy).")


def dataset_options(f):
    """Options shared by every command that loads a dataset."""
    options = [
        click.option("--root", type=click.Path(path_type=Path), default=None,
                     help="Folder holding the dataset files (default: datasets/NAME)."),
        click.option("--synthetic", is_flag=True,
                     help="Use a generated stand-in with NAME's statistics (kwai, tiktok, movielens)."),
        click.option("--scale", type=float, default=1.0, show_default=True,
                     help="Size factor of the synthetic stand-in."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of synthetic data and of splits the files do not fix."),
        click.option("--split", type=click.Choice(["random", "temporal"]), default=None,
                     help="Split of sources without a fixed one: random 80/10/10 per user (default) "
                          "or temporal (needs timestamps)."),
        click.option("--normalize", type=click.Choice(["none", "l2", "standard"]), default="none",
                     show_default=True, help="Feature normalization."),
        click.option("--pca", default=None,
                     help="PCA target dims: one number for all modalities or visual=64,acoustic=64."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the processed cache."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def load_from_options(name, root, synthetic, scale, seed, split, normalize, pca, no_cache):
    from mmgraph.data import load_records

    return load_records(name, root, synthetic=synthetic, scale=scale, seed=seed, split=split,
                        normalize=normalize, pca=pca, use_cache=not no_cache)


@datasets.command("info")
@click.argument("name")
@dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def datasets_info(name, as_json, **options) -> None:
    """Users, items, interactions per split, density, modalities and degree summary of NAME."""
    from mmgraph.data import format_summary, summarize

    start = time.perf_counter()
    rec = load_from_options(name, **options)
    info = summarize(rec)
    info["load_seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        click.echo(json.dumps(info, indent=1))
    else:
        click.echo(format_summary(info))
        click.echo(f"loaded in      {info['load_seconds']:.1f} s")
