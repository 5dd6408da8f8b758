"""Run configuration: data, model and training options, from defaults, a file and ``--set``.

Every option has one home (``data.*``, ``model.*`` or ``train.*``); ``--set key=value`` accepts
the qualified name or, when unambiguous, the bare one.  The resolved configuration is saved with
each run as ``config.json`` and can be passed back with ``--config``.
"""

from __future__ import annotations

import ast
import collections.abc
import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from mmgraph.data.features import FEATURE_NORMALIZATIONS
from mmgraph.errors import MMGraphError, short_message
from mmgraph.eval.metrics import METRICS
from mmgraph.utils.spec import Spec


class ConfigError(MMGraphError):
    """A bad configuration file, key or value; ``key`` names the option (``"data.scale"``)
    when the error is about one, so that a caller can name it its own way (the CLI: by its
    flag)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def option(default: Any = None, help: str = "", *, factory=None, **spec) -> Any:
    """A config field with its :class:`Spec` (``factory`` for a mutable default)."""
    meta = {"spec": Spec(help, **spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    name: str = option("kwai", "Dataset name (a catalog entry, or any name with --root).")
    root: str | None = option(
        None,
        "Folder of the dataset's files (default: datasets/NAME).",
        flag="--root",
        metavar="DIR",
    )
    synthetic: bool = option(
        False, "Use the generated SYNTHETIC stand-in for the dataset.", flag="--synthetic"
    )
    scale: float = option(
        1.0, "Size factor of the synthetic stand-in.", flag="--scale", low=0, low_open=True
    )
    seed: int | None = option(
        None,
        "Seed of the synthetic stand-in, of splits the files do not fix and of PCA "
        "(default: train.seed).",
        flag="--data-seed",
        low=0,
        high=2**32,
        high_open=True,
    )
    split: str | None = option(
        None,
        "For sources without a fixed split: random (per user 80/10/10) or temporal.",
        flag="--split",
        choices=("random", "temporal"),
    )
    # standardized: every model's content projections start from zero-mean, unit-variance
    # features, whatever scale an extractor wrote
    normalize: str = option(
        "standard",
        "Feature normalization: none, l2 or standard.",
        flag="--normalize",
        choices=FEATURE_NORMALIZATIONS,
    )
    pca: Any = option(
        None,
        "PCA target dims: one int for every modality, or {modality: dims} (visual=64,acoustic=32).",
        flag="--pca",
        metavar="DIMS",
    )
    cold_items: float = option(
        0.0,
        "Fraction of the items held out of training (cold-start evaluation).",
        flag="--cold-items",
        metavar="FRACTION",
        low=0,
        high=1,
        high_open=True,
    )


# The reference toolbox's training settings (MMRec, src/configs/overall.yaml): one Adam learning
# rate for every parameter, no weight decay, batches of 2048 interactions with one negative each,
# drawn from the items with a training interaction.
# A model declares its own (``Recommender.train_defaults``, from its reference code); an option
# left ``None`` in :class:`TrainConfig` takes the model's value, then this one.
TRAIN_DEFAULTS: dict[str, float | int] = {
    "lr": 1e-3,
    "weight_decay": 0.0,
    "network_lr_scale": 1.0,
    "network_weight_decay": 0.0,
    "meta_lr_scale": 1.0,
    "meta_weight_decay": 0.0,
    "batch_size": 2048,
    "num_negatives": 1,
    "negatives": "trained",
}
MODEL_DEFAULT = "the model's"  # how options resolved from the model are shown


@dataclass
class TrainConfig:
    epochs: int = option(
        1000,
        "Maximum epochs (with patience 20, as MMRec trains every model).",
        flag="--epochs",
        low=1,
    )
    batch_size: int | None = option(
        None, "Positive interactions per step.", flag="--batch-size", low=1
    )
    lr: float | None = option(None, "Adam learning rate.", flag="--lr", low=0)
    weight_decay: float | None = option(None, "Weight decay of the embedding tables.", low=0)
    network_lr_scale: float | None = option(
        None, "Learning-rate factor of the networks (projections, fusion, graph layers).", low=0
    )
    network_weight_decay: float | None = option(None, "Weight decay of the networks.", low=0)
    meta_lr_scale: float | None = option(
        None, "Learning-rate factor of a hypernetwork (MetaMMF's extractor, meta tensors).", low=0
    )
    meta_weight_decay: float | None = option(None, "Weight decay of a hypernetwork.", low=0)
    clip_grad_norm: float | None = option(
        None, "Clip the gradient norm of every step to this value.", flag="--clip-grad-norm", low=0
    )
    on_nan: str = option(
        "stop",
        "A non-finite loss stops training (naming the epoch and the last good checkpoint) or "
        "skips that batch.",
        flag="--on-nan",
        choices=("stop", "skip-batch"),
    )
    num_negatives: int | None = option(None, "Negatives drawn per positive.", low=1)
    negatives: str | None = option(
        None,
        "The negatives' pool: trained (items with a training interaction, as MMRec samples) or "
        "all (every item but cold ones).",
        choices=("trained", "all"),
    )
    eval_every: int = option(1, "Validate every N epochs.", low=1)
    patience: int = option(
        20, "Validations without improvement before stopping.", flag="--patience", low=1
    )
    time_limit: float | None = option(
        None,
        "Seconds of training and validation per run, then stop after the epoch.",
        flag="--time-limit",
        metavar="SECONDS",
        low=0,
        low_open=True,
    )
    metric: str = option("recall@20", "Validation metric that selects the epoch (a K in ks).")
    select_on: str = option(
        "valid",
        "Split that selects the epoch: valid, or valid_cold (the cold items' interactions).",
        choices=("valid", "valid_cold"),
    )
    select: str = option(
        "best",
        "best: the best validation epoch (early stopping); last: the last epoch, as released.",
        choices=("best", "last"),
    )
    ks: list[int] = option(help="Cut-offs of the metrics.", factory=lambda: [10, 20], low=1)
    eval_batch_size: int | None = option(
        None, "Users ranked per evaluation batch (default: by memory).", low=1
    )
    mask_valid_at_test: bool = option(True, "Mask the validation items at test.")
    seed: int = option(
        0, "Seed of everything random.", flag="--seed", low=0, high=2**32, high_open=True
    )
    device: str = option("auto", "cpu, cuda, cuda:N or auto.", flag="--device")
    deterministic: bool = option(
        False, "Deterministic algorithms (bitwise-repeatable CPU runs).", flag="--deterministic"
    )
    amp: bool = option(
        False, "bf16 autocast for the model (BPR, scores and metrics stay fp32).", flag="--amp"
    )
    compile: bool = option(
        False,
        "torch.compile the model's forward pass (its user and item representations).",
        flag="--compile",
    )
    sampler: str = option(
        "full",
        "full: every step embeds the whole graph; neighbor: mini-batches on sampled subgraphs "
        "(lightgcn, bprmf, metammf).",
        flag="--sampler",
        choices=("full", "neighbor"),
    )
    fanout: list[int] = option(
        help="Neighbours sampled per hop with the neighbor sampler (-1: all; default 10 each).",
        factory=list,
        flag="--fanout",
        metavar="K,K,...",
        low=1,
        also=(-1,),
    )
    tensorboard: bool = option(
        False,
        "Also log losses and metrics for TensorBoard (RUN_DIR/tensorboard).",
        flag="--tensorboard",
    )

    def check(self) -> None:
        """Raise :class:`ConfigError` for a value no run can use (before any data is read)."""
        check_section(self, "train")
        if not self.ks:
            raise ConfigError(f"train.ks must be positive cut-offs, got {self.ks}")
        if self.tensorboard:
            try:
                import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
            except ImportError:
                raise ConfigError(
                    "--tensorboard needs the tensorboard package; pip install tensorboard "
                    "(or pip install 'mmgraph[tensorboard]')"
                ) from None
        name, _, k = self.metric.partition("@")
        if name not in METRICS or not k.isdigit() or int(k) not in self.ks:
            raise ConfigError(
                f"train.metric '{self.metric}' must be one of {' / '.join(METRICS)} "
                f"at a K in train.ks {self.ks}"
            )


SECTIONS = {"data": DataConfig, "train": TrainConfig}  # the declared sections, by name


@functools.cache
def specs(section: type) -> dict[str, tuple[Spec, Any, Any]]:
    """``{name: (spec, type, default)}`` of a config section's options, with their real types."""
    hints = get_type_hints(section)
    out = {}
    for f in fields(section):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        out[f.name] = (f.metadata["spec"], hints[f.name], default)
    return out


def option_flag(key: str) -> str:
    """How a caller names the option ``key`` (``"data.seed"``): its flag, or ``key`` itself
    when it has none (``model.*`` options, and ``data.*`` / ``train.*`` ones without a flag)."""
    section, _, name = key.partition(".")
    entry = specs(SECTIONS[section]).get(name) if section in SECTIONS else None
    return (entry[0].flag if entry else None) or key


def shown_default(key: str) -> str | None:
    """The default of ``key`` (``"train.lr"``) as help texts show it; options the model resolves
    show MetaMMF's value and MMRec's (the baselines'); ``None`` when there is nothing to show."""
    section, _, name = key.partition(".")
    _, _, default = specs(SECTIONS[section])[name]
    if section == "train" and default is None and name in TRAIN_DEFAULTS:
        from mmgraph.models import model_class

        metammf = model_class("metammf").train_settings({})[name]
        return f"the model's: {metammf} for metammf, {TRAIN_DEFAULTS[name]} (MMRec's) for the baselines"
    if default is None or default == [] or isinstance(default, bool):
        return None
    return str(default)


def option_table() -> str:
    """The ``data.*`` and ``train.*`` options as a markdown table (``python cli.py options
    --markdown``; docs/training.md holds it): key, flag, default, allowed values, meaning."""
    lines = ["| option | flag | default | allowed | meaning |", "|---|---|---|---|---|"]
    for section, cls in SECTIONS.items():
        for name, (spec, _, default) in specs(cls).items():
            key = f"{section}.{name}"
            shown = str(default).lower() if isinstance(default, bool) else shown_default(key)
            cells = [
                f"`{key}`",
                f"`{spec.flag}`" if spec.flag else "",
                shown or "",
                spec.allowed(),
            ]
            lines.append("| " + " | ".join(cells + [spec.help.replace("|", "\\|")]) + " |")
    return "\n".join(lines)


def check_section(obj, section: str) -> None:
    """:class:`ConfigError` naming ``section.option`` for the first value its spec forbids."""
    for name, (spec, _, _) in specs(type(obj)).items():
        value = getattr(obj, name)
        problem = spec.violation(value)
        if problem:
            raise ConfigError(
                f"{section}.{name} must be {problem}, got {value!r}", key=f"{section}.{name}"
            )


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: str = "metammf"
    model_args: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def resolve_defaults(self) -> RunConfig:
        """Fill the training options left ``None`` with the model's declared defaults
        (:meth:`~mmgraph.models.Recommender.train_settings`), then :data:`TRAIN_DEFAULTS`; in
        place, and returns ``self``."""
        from mmgraph.models import model_class

        declared = TRAIN_DEFAULTS | model_class(self.model).train_settings(self.model_args)
        for key, value in declared.items():
            if getattr(self.train, key) is None:
                setattr(self.train, key, value)
        return self

    def to_dict(self) -> dict:
        return {
            "data": asdict(self.data),
            "model": {"name": self.model, **self.model_args},
            "train": asdict(self.train),
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> RunConfig:
        unknown = sorted(set(d) - {"data", "model", "train"})
        if unknown:
            raise ConfigError(
                f"{source}: unknown section(s) {', '.join(unknown)}; use data, model, train"
            )
        model = d.get("model") or {}
        sections = {
            "model": {"name": model} if isinstance(model, str) else model,  # `model: NAME`
            "data": d.get("data") or {},
            "train": d.get("train") or {},
        }
        for section, values in sections.items():
            if not isinstance(values, dict):
                raise ConfigError(
                    f"{source}: section '{section}' must be a mapping, got "
                    f"{type(values).__name__}; write {section}: {{key: value, ...}}"
                )
        sections["model"] = dict(sections["model"])
        cfg = cls(model=str(sections["model"].pop("name", "metammf")))
        for section, values in sections.items():  # the model first: its options depend on it
            for key, value in values.items():
                set_option(cfg, f"{section}.{key}", value, source)
        return cfg


def _section_keys(obj) -> set[str]:
    return {f.name for f in fields(obj)}


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """``value`` as the option's declared type ``hint`` (a real type: ``int``, ``float | None``,
    ``list[int]``, ``Sequence[int] | None``, ...); :class:`ConfigError` when it is not one."""
    args = get_args(hint)
    optional = hint is Any or (get_origin(hint) in (Union, UnionType) and type(None) in args)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}: {key} cannot be None; give a {_type_name(hint)} value")
    base = hint
    if get_origin(hint) in (Union, UnionType):
        rest = [a for a in args if a is not type(None)]
        base = rest[0] if len(rest) == 1 else Any
    origin = get_origin(base) or base
    try:
        if base is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError
            return bool(value)
        if base in (int, float):
            if isinstance(value, bool) or (
                base is int and isinstance(value, float) and not value.is_integer()
            ):
                raise ValueError
            return base(value)
        if origin in (list, Sequence, collections.abc.Sequence) and origin is not str:
            (item,) = get_args(base) or (int,)
            parts = str(value).split(",") if isinstance(value, (str, int, float)) else list(value)
            return [item(v) for v in parts]
        if base is str and isinstance(value, os.PathLike):
            return os.fspath(value)
        if (base is str and not isinstance(value, str)) or (
            origin in (dict, Mapping, collections.abc.Mapping) and not isinstance(value, dict)
        ):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {key}={value!r} is not a valid {_type_name(base)}") from None
    return value


def _type_name(hint: Any) -> str:
    return (
        getattr(hint, "__name__", None)
        if get_origin(hint) is None
        else str(hint).replace("typing.", "")
    )


def option_key(cfg: RunConfig, key: str, source: str = "--set") -> str:
    """The full ``data.X`` / ``train.X`` / ``model.X`` key that ``key`` (maybe bare) names for
    ``cfg``'s model; :class:`ConfigError` when it names no option or more than one."""
    from mmgraph.models import model_options

    model_keys = set(model_options(cfg.model)) if cfg.model else set()
    if "." not in key:
        homes = [
            s
            for s, keys in (
                ("data", _section_keys(cfg.data)),
                ("train", _section_keys(cfg.train)),
                ("model", model_keys),
            )
            if key in keys
        ]
        if not homes:
            raise ConfigError(
                f"{source}: unknown option '{key}'; see `python cli.py options` for "
                f"the data.*, train.* and model.* keys"
            )
        if len(homes) > 1:
            raise ConfigError(
                f"{source}: '{key}' is ambiguous; write {' or '.join(f'{h}.{key}' for h in homes)}"
            )
        key = f"{homes[0]}.{key}"
    section, _, name = key.partition(".")
    if section == "model":
        if name not in model_keys:
            raise ConfigError(
                f"{source}: model '{cfg.model}' has no option '{name}'; it takes "
                f"{', '.join(sorted(model_keys))}"
            )
        return key
    if section not in ("data", "train"):
        raise ConfigError(f"{source}: unknown section in '{key}'; use data.*, train.* or model.*")
    if name not in _section_keys(getattr(cfg, section)):
        raise ConfigError(
            f"{source}: unknown option '{key}'; {section} options are "
            f"{', '.join(sorted(_section_keys(getattr(cfg, section))))}"
        )
    return key


def set_option(cfg: RunConfig, key: str, value: Any, source: str = "--set") -> None:
    """Set ``data.X`` / ``train.X`` / ``model.X`` (or a bare ``X`` found in exactly one place)."""
    if key == "model" or key == "model.name":
        cfg.model = str(value)
        return
    key = option_key(cfg, key, source)
    section, _, name = key.partition(".")
    if section == "model":  # the model constructor's annotation
        from mmgraph.models import model_option_types

        cfg.model_args[name] = _coerce(value, model_option_types(cfg.model)[name], key, source)
        return
    obj = getattr(cfg, section)
    setattr(obj, name, _coerce(value, specs(type(obj))[name][1], key, source))


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with ``value`` read as a Python literal when it is one (``8``, ``1e-3``, ``[64]``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: write key=value, e.g. --set lr=1e-3")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key.strip(), value


def read_config_file(path: str | Path) -> dict:
    """A ``.json``, ``.toml`` or ``.yaml`` / ``.yml`` file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: unknown config format; use .json, .toml or .yaml")
    except ConfigError:
        raise
    except Exception as exc:  # parser errors of the three formats
        raise ConfigError(
            f"{path}: cannot parse ({type(exc).__name__}: {short_message(exc)}); fix its syntax"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping with data / model / train sections"
        )
    return data
