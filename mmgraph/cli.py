"""The ``mmgraph`` command line (also ``python cli.py``): parses options, calls the library.

Expected mistakes (a missing file, a bad option) print one ``error:`` line and exit with
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import functools
import json
import time
import types
import typing
import warnings
from pathlib import Path

import click

from mmgraph import __version__
from mmgraph.errors import MMGraphError

OUT_OF_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


_GIVEN_FLAGS = "mmgraph.given_flags"  # ctx.meta key: config key -> the flag that set it


class _Group(click.Group):
    """A click group that turns :class:`MMGraphError` into ``error: ...`` and exit status 2."""

    def _in_flags(self, ctx: click.Context, exc: MMGraphError) -> str:
        """``exc``'s message, naming the option it is about by the command's flag for it when
        the command has one (``data.scale`` -> ``--scale``)."""
        key, message = getattr(exc, "key", None), str(exc)
        flag = ctx.meta.get(_GIVEN_FLAGS, {}).get(key)
        return message if flag is None else message.replace(key, flag, 1)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MMGraphError as exc:
            if (ctx.find_root().params or {}).get("debug"):
                raise
            click.echo(f"error: {self._in_flags(ctx, exc)}", err=True)
            ctx.exit(2)
        except (
            OSError
        ) as exc:  # a write the library does not wrap (log.txt, TensorBoard) on a full disk
            if exc.errno not in OUT_OF_ROOM or (ctx.find_root().params or {}).get("debug"):
                raise
            fix = (
                "free some disk space"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else "check the permissions of the file and its folder"
            )
            click.echo(
                f"error: {exc.filename or 'a file'}: {exc.strerror}; {fix}, then run again",
                err=True,
            )
            ctx.exit(2)
        except click.UsageError as exc:  # a bad option or argument: one line too, with the way out
            if (ctx.find_root().params or {}).get("debug"):
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
            ctx.exit(2)


class _ConfigOption(click.Option):
    """A flag generated from a config option's :class:`~mmgraph.train.config.Spec`; the default
    it shows is worked out when the help is printed (the model's own defaults need the models)."""

    def __init__(self, *args, config_key: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.config_key = config_key

    def process_value(self, ctx: click.Context, value):
        value = super().process_value(ctx, value)
        if value is not None:  # given: errors about the option name it by this flag
            ctx.meta.setdefault(_GIVEN_FLAGS, {})[self.config_key] = self.opts[0]
        return value

    def get_help_record(self, ctx: click.Context):
        from mmgraph.train.config import shown_default

        record = super().get_help_record(ctx)
        shown = shown_default(self.config_key)
        return (
            record
            if record is None or shown is None
            else (record[0], f"{record[1]}  [default: {shown}]")
        )


def config_flags(*keys: str):
    """click options for the config options ``keys`` (``"data.root"``, ``"train.lr"``, ...),
    generated from their specs: flag, type, choices and help.  The command receives them as
    one ``config`` dict of full keys, holding only the flags that were given."""

    def decorate(command):
        from mmgraph.train.config import SECTIONS, specs

        params = {}
        for key in reversed(keys):  # click applies options bottom-up
            section, _, name = key.partition(".")
            spec, hint, _ = specs(SECTIONS[section])[name]
            if typing.get_origin(hint) in (typing.Union, types.UnionType):
                hint = next(a for a in typing.get_args(hint) if a is not type(None))
            param = f"cfg_{section}_{name}"
            params[key] = param
            kind = {"metavar": spec.metavar} if spec.metavar else {}
            if hint is bool:
                kind = {"is_flag": True}
            elif spec.choices:
                kind = {"type": click.Choice(spec.choices)}
            elif hint in (int, float):
                kind |= {"type": hint}
            command = click.option(
                spec.flag,
                param,
                cls=_ConfigOption,
                config_key=key,
                default=None,
                help=spec.help,
                **kind,
            )(command)

        @functools.wraps(command)
        def run(*args, **kwargs):
            config = {key: kwargs.pop(param) for key, param in params.items()}
            return command(
                *args, config={k: v for k, v in config.items() if v is not None}, **kwargs
            )

        return run

    return decorate


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

    rows = [
        (
            "name",
            "format",
            "users",
            "items",
            "interactions",
            "modalities",
            "looked for in",
            "status",
        )
    ]
    for name, spec in CATALOG.items():
        root = default_root(name)
        fmt = detect_format(root) if root.is_dir() else None
        status = f"found ({fmt})" if fmt else "missing"
        if not fmt and name in SYNTHETIC_NAMES:
            status += ", --synthetic available"
        count = lambda n: f"{n:,}" if n else "varies"
        mods = ", ".join(f"{m} {d}" if d else m for m, d in spec.modalities.items())
        rows.append(
            (
                name,
                spec.format,
                count(spec.users),
                count(spec.items),
                count(spec.interactions),
                mods,
                str(root),
                status,
            )
        )
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    click.echo(
        "\nAny folder in a supported format also loads with --root DIR "
        "(MMGCN, MMRec, MetaMMF toy sample, or interactions.csv + <modality>.npy)."
    )


def option_group(*options):
    """A decorator applying ``options`` in the order given (as written above a command)."""

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def run_folder_options(out: str, resume: str):
    """``--out`` (a parent folder under which each call makes a new one) and ``--resume DIR``,
    as every command that writes run folders takes them; ``out`` and ``resume`` are the help."""
    return option_group(
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            default=Path("runs"),
            show_default=True,
            help=out,
        ),
        click.option(
            "--resume", type=click.Path(path_type=Path), default=None, metavar="DIR", help=resume
        ),
    )


@datasets.command("info")
@click.argument("name")
@config_flags(
    "data.root",
    "data.synthetic",
    "data.scale",
    "data.seed",
    "data.split",
    "data.normalize",
    "data.pca",
    "data.cold_items",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the processed cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def datasets_info(name, config, no_cache, as_json) -> None:
    """Users, items, interactions per split, density, modalities and degree summary of NAME,
    loaded as `train` loads it."""
    from mmgraph.data import format_summary, load_records, summarize
    from mmgraph.runs.api import resolve_config
    from mmgraph.train.config import check_section

    d = resolve_config(name, **config).data
    check_section(d, "data")
    start = time.perf_counter()
    rec = load_records(
        name,
        d.root,
        synthetic=d.synthetic,
        scale=d.scale,
        seed=d.seed or 0,  # train.seed's default
        split=d.split,
        normalize=d.normalize,
        pca=d.pca,
        cold_items=d.cold_items,
        use_cache=not no_cache,
    )
    info = summarize(rec)
    info["load_seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        click.echo(json.dumps(info, indent=1))
    else:
        click.echo(format_summary(info))
        click.echo(f"loaded in      {info['load_seconds']:.1f} s")


@main.command()
@click.argument("dataset", required=False)
@click.option(
    "--model",
    default=None,
    help="Model name (see `python cli.py options --help`).  [default: metammf]",
)
@config_flags(
    "data.root",
    "data.synthetic",
    "data.scale",
    "data.seed",
    "data.cold_items",
    "train.epochs",
    "train.batch_size",
    "train.lr",
    "train.device",
    "train.seed",
    "train.deterministic",
    "train.amp",
    "train.compile",
    "train.sampler",
    "train.fanout",
    "train.on_nan",
    "train.clip_grad_norm",
    "train.tensorboard",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A .json / .toml / .yaml file with data, model and train sections.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set any option, e.g. --set cp_rank=8 --set train.patience=5 (repeatable).",
)
@run_folder_options(
    out="Folder for run folders; each run gets a new one.",
    resume="Continue the run in DIR from its last.pt.",
)
@click.option("--quiet", is_flag=True, help="Only the final table.")
def train(dataset, model, config, config_file, sets, out, resume, quiet) -> None:
    """Train a model on DATASET, select on validation, test once, write a run folder."""
    from mmgraph.distributed import is_main_process
    from mmgraph.report.tables import format_table
    from mmgraph.runs.api import resolve_config, train_run

    if resume is None and dataset is None and config_file is None:
        raise click.UsageError("give a DATASET (or --config FILE, or --resume RUN_DIR)")
    epochs = config.get("train.epochs")
    options = {"model": model, **config}
    if resume is not None:
        ignored = [k for k, v in options.items() if v is not None and k != "train.epochs"]
        if dataset or config_file or sets or ignored:
            raise click.UsageError(
                "--resume continues a run with its saved config; only --epochs, "
                "--out and --quiet may be given with it"
            )
        cfg = None
    else:
        cfg = resolve_config(dataset, config_file=config_file, sets=sets, **options)
    run_dir, metrics = train_run(cfg, out, resume=resume, quiet=quiet, epochs=epochs)
    if not is_main_process():  # torchrun: rank 0 reports
        return
    label = "SYNTHETIC stand-in" if metrics["synthetic"] else "real data"
    click.echo(
        format_table(
            metrics["test"],
            f"\n{metrics['dataset']} ({label}), {metrics['model']}, "
            f"test at best validation epoch {metrics['best_epoch']}",
        )
    )
    if metrics.get("test_cold"):
        click.echo(
            format_table(metrics["test_cold"], "\ncold items only (ranked among the cold items)")
        )
    click.echo(f"protocol: {metrics['protocol']}")
    click.echo(f"run folder: {run_dir}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--split",
    type=click.Choice(["test", "valid", "test_cold", "valid_cold"]),
    default="test",
    show_default=True,
    help="*_cold: a cold-item run's cold items, ranked among them alone.",
)
@click.option("--k", "ks", default="10,20", show_default=True, help="Comma-separated cut-offs.")
@click.option("--device", default=None, help="cpu, cuda or auto (default: the run's).")
def evaluate(run_dir, split, ks, device) -> None:
    """Reload RUN_DIR's best checkpoint and print its metric table."""
    from mmgraph.report.tables import format_table
    from mmgraph.runs.api import evaluate_run

    try:
        ks = [int(k) for k in ks.split(",") if k.strip()]
    except ValueError:
        raise click.BadParameter(
            f"'{ks}' is not a comma-separated list of integers", param_hint="--k"
        ) from None
    if not ks or min(ks) < 1:
        raise click.BadParameter("cut-offs must be positive integers", param_hint="--k")
    metrics, exp = evaluate_run(run_dir, split, ks, device)
    label = "SYNTHETIC stand-in" if exp.data_info["synthetic"] else "real data"
    click.echo(
        format_table(
            metrics,
            f"{exp.data_info['dataset']} ({label}), {exp.config.model}, "
            f"{split} split, {metrics['users']:,} users",
        )
    )
    click.echo(f"protocol: {exp.protocol()}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="ID",
    help="A user's id as in the dataset's files (repeatable).",
)
@click.option(
    "--users-file",
    type=click.Path(path_type=Path),
    default=None,
    help="A text file with one user id per line.",
)
@click.option("--k", type=int, default=10, show_default=True, help="Items per user.")
@click.option(
    "--exclude-seen/--include-seen",
    default=True,
    show_default=True,
    help="Leave out the items each user already has (training, validation and test).",
)
@click.option(
    "--new-items",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FEATURES_DIR",
    help="Rank only new items, never trained on, from their features alone: a folder with "
    "one <modality>.npy per modality (one row per item) and optionally item_index.txt.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option("--device", default=None, help="cpu, cuda or auto (default: the run's).")
def recommend(run_dir, users, users_file, k, exclude_seen, new_items, fmt, device) -> None:
    """Top-K items, with scores, for users of RUN_DIR's dataset (its best checkpoint)."""
    import csv
    import sys

    from mmgraph.runs.api import load_run
    from mmgraph.runs.recommend import recommend as top_k
    from mmgraph.runs.recommend import recommend_new

    users = list(users)
    if users_file is not None:
        if not users_file.is_file():
            raise MMGraphError(
                f"{users_file}: no such file; give a text file with one user id per line"
            )
        try:
            listed = [
                line.strip()
                for line in users_file.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
        except UnicodeDecodeError as exc:
            raise MMGraphError(
                f"{users_file}: not UTF-8 text ({exc.reason}); give one user id per line"
            ) from None
        if not listed:
            raise MMGraphError(f"{users_file}: no user ids in it; give one user id per line")
        users += listed
    if not users:
        raise click.UsageError("give --user ID (repeatable) or --users-file FILE")
    if new_items is not None and not new_items.is_dir():  # before loading the run
        raise MMGraphError(
            f"{new_items}: no such folder; --new-items takes a folder of <modality>.npy files"
        )
    exp = load_run(run_dir, device)
    rows = (
        recommend_new(exp, users, new_items, k) if new_items else top_k(exp, users, k, exclude_seen)
    )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
    else:
        writer = csv.DictWriter(sys.stdout, ["user", "rank", "item", "score"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="A new folder for the files."
)
@click.option("--device", default=None, help="cpu, cuda or auto (default: the run's).")
def export(run_dir, out, device) -> None:
    """Write RUN_DIR's user / item embeddings (.npy) with their id maps, and MetaMMF's per-item
    meta vectors and fusion outputs, for analysis in other tools."""
    from mmgraph.runs.api import load_run
    from mmgraph.runs.export import check_new_folder
    from mmgraph.runs.export import export as write

    check_new_folder(out)  # before loading anything
    names = write(load_run(run_dir, device), out)
    click.echo(f"wrote {', '.join(names)} to {out}")


grid_options = option_group(  # `compare` and `sweep`
    click.option(
        "--seeds",
        type=int,
        default=5,
        show_default=True,
        help="Seeds 0 .. N-1 for each model's selected point (tested).",
    ),
    click.option(
        "--screen-seeds",
        type=int,
        default=1,
        show_default=True,
        help="Seeds 0 .. N-1 for every grid point (validation only).",
    ),
    click.option(
        "--grid",
        default=None,
        help="Space-separated key=v1,v2 axes replacing the search spaces (each axis applies to "
        "the models that take it).  [default: configs/search/<model>.yaml]",
    ),
    click.option(
        "--search-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Folder of <model>.yaml search spaces.  [default: configs/search]",
    ),
    config_flags(
        "data.root",
        "data.synthetic",
        "data.scale",
        "data.cold_items",
        "train.epochs",
        "train.patience",
        "train.time_limit",
        "train.device",
    ),
    click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set an option for every run of the models that take it (repeatable).",
    ),
    run_folder_options(
        out="Folder for the results folder; each call gets a new one.",
        resume="Continue the comparison in DIR with its saved settings (finished runs are reused).",
    ),
)


def run_grid(fn, dataset, first, *, config, resume, **kwargs) -> None:
    """Run :func:`~mmgraph.runs.compare.compare` or ``sweep`` and print its table."""
    from mmgraph.report.comparison import format_compare

    if dataset is None and resume is None:
        raise click.UsageError("give DATASET, or --resume DIR to continue a comparison")
    options = config
    folder, results = fn(
        dataset,
        first,
        options=options,
        resume=resume,
        log=lambda msg: click.echo(msg, err=True),
        **kwargs,
    )
    click.echo(format_compare(results))
    files = [
        folder / name
        for name in ("table.md", "table.csv", "results.json", "chart.png")
        if (folder / name).exists()
    ]
    click.echo(f"files: {', '.join(map(str, files))}")


@main.command()
@click.argument("dataset", required=False)
@click.option(
    "--models",
    default="popularity,content-knn,bprmf,lightgcn,vbpr,mmgcn,grcn,lattice,freedom,bm3,lgmrec,"
    "metammf",
    show_default=True,
    help="Comma-separated model names.",
)
@grid_options
def compare(dataset, models, **options) -> None:
    """Search every model of MODELS on DATASET over its own grid, select on validation, retrain
    the selected point over seeds, and write a table of test metrics with per-user significance."""
    from mmgraph.runs.compare import compare as run_compare

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise click.BadParameter("give at least one model name", param_hint="--models")
    run_grid(run_compare, dataset, names, **options)


@main.command()
@click.argument("dataset", required=False)
@click.option("--model", default="metammf", show_default=True, help="The model to sweep.")
@grid_options
def sweep(dataset, model, **options) -> None:
    """Every point of one model's search space (or --grid): validation mean +- std per point,
    test for the point selected on validation only."""
    from mmgraph.runs.sweep import sweep as run_sweep

    run_grid(run_sweep, dataset, model, **options)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("curves.png"),
    show_default=True,
    help="The figure to write (PNG); an existing file is not overwritten.",
)
@click.option(
    "--metric", default=None, help="Validation metric to draw (default: the runs' recall@K)."
)
def plot(run_dirs, out, metric) -> None:
    """Overlay the learning curves (loss, validation metrics) of one or more runs."""
    from mmgraph.report.plots import plot_runs, pyplot

    if out.exists():
        raise MMGraphError(f"{out}: already exists; give --out a new file name")
    pyplot()  # matplotlib missing: say so before reading anything
    click.echo(f"wrote {plot_runs(run_dirs, out, metric)}")


@main.command()
@click.option("--model", default="metammf", show_default=True, help="Model whose options to list.")
@click.option(
    "--markdown", is_flag=True, help="Print the data.* and train.* option table (docs/training.md)."
)
def options(model, markdown) -> None:
    """Every data.*, train.* and model.* option with its default (for --set and config files)."""
    from dataclasses import asdict

    from mmgraph.models import model_class, model_option_notes
    from mmgraph.train.config import SECTIONS, RunConfig, option_table, specs

    if markdown:
        click.echo(option_table())
        return
    cfg = RunConfig(model=model).resolve_defaults()  # the model's own training defaults
    helps = {f"{s}.{k}": v[0].help for s, cls in SECTIONS.items() for k, v in specs(cls).items()}
    helps |= {f"model.{k}": v for k, v in model_option_notes(model).items()}
    for section, values in (
        ("data", asdict(cfg.data)),
        ("train", asdict(cfg.train)),
        ("model", model_class(model).resolved_options()),
    ):
        for key, value in values.items():
            note = helps.get(f"{section}.{key}")
            click.echo(f"{section}.{key} = {value!r}" + (f"  # {note}" if note else ""))
