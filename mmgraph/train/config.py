"""Run configuration: data, model and training options, from defaults, a file and ``--set``.

Every option has one home (``data.*``, ``model.*`` or ``train.*``); ``--set key=value`` accepts
the qualified name or, when unambiguous, the bare one.  The resolved configuration is saved with
each run as ``config.json`` and can be passed back with ``--config``.
"""

from __future__ import annotations

import ast
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mmgraph.errors import MMGraphError, short_message
from mmgraph.eval.metrics import METRICS


class ConfigError(MMGraphError):
    """A bad configuration file, key or value."""


@dataclass
class DataConfig:
    name: str = "kwai"
    root: str | None = None
    synthetic: bool = False
    scale: float = 1.0
    split: str | None = None
    normalize: str = "standard"
    pca: Any = None
    cold_items: float = 0.0  # fraction of items held out of training (cold-start evaluation)


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


@dataclass
class TrainConfig:
    epochs: int = 1000  # with patience 20, as MMRec trains every model
    # None: the model's own default (Recommender.train_defaults), else TRAIN_DEFAULTS
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    network_lr_scale: float | None = None
    network_weight_decay: float | None = None
    # the hypernetwork (MetaMMF's extractor and meta tensors): its own group
    meta_lr_scale: float | None = None
    meta_weight_decay: float | None = None
    clip_grad_norm: float | None = None
    on_nan: str = "stop"  # a non-finite loss: "stop" (name the epoch and last good checkpoint) or "skip-batch"
    num_negatives: int | None = None
    # the pool negatives are drawn from: "trained" (items with a training interaction, as MMRec
    # samples) or "all" (every item but cold ones)
    negatives: str | None = None
    eval_every: int = 1
    patience: int = 20  # validations without improvement before stopping
    time_limit: float | None = (
        None  # seconds of training per run, then stop after the epoch (None: no limit)
    )
    metric: str = "recall@20"
    select_on: str = (
        "valid"  # or "valid_cold": the cold items' validation interactions (cold start)
    )
    select: str = "best"  # "best": the best validation epoch (early stopping); "last": the last epoch, as released
    ks: list = field(default_factory=lambda: [10, 20])
    eval_batch_size: int | None = None
    mask_valid_at_test: bool = True
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    amp: bool = False  # bf16 autocast for the model's forward; BPR, metrics and scores in fp32
    compile: bool = False  # torch.compile the model's embed (evaluation) and batch loss (training)
    sampler: str = (
        "full"  # "full": every step embeds the whole graph; "neighbor": sampled subgraphs
    )
    fanout: list = field(
        default_factory=list
    )  # neighbours per hop for "neighbor" (-1: all; default 10)
    tensorboard: bool = False  # also log losses and metrics for TensorBoard (<run>/tensorboard)

    def check(self) -> None:
        """Raise :class:`ConfigError` for a value no run can use (before any data is read)."""
        for key in (
            "lr",
            "weight_decay",
            "network_lr_scale",
            "network_weight_decay",
            "meta_lr_scale",
            "meta_weight_decay",
            "clip_grad_norm",
            "time_limit",
        ):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"train.{key} must be a finite number >= 0, got {value}")
        for key in (
            "epochs",
            "batch_size",
            "num_negatives",
            "eval_every",
            "patience",
            "eval_batch_size",
        ):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"train.seed must be in [0, 2^32), got {self.seed}")
        if not self.ks or min(self.ks) < 1:
            raise ConfigError(f"train.ks must be positive cut-offs, got {self.ks}")
        if self.sampler not in ("full", "neighbor"):
            raise ConfigError(f"train.sampler must be 'full' or 'neighbor', got '{self.sampler}'")
        if any(f != -1 and f < 1 for f in self.fanout):
            raise ConfigError(
                f"train.fanout takes neighbours per hop, each >= 1 or -1 (all), got {self.fanout}"
            )
        if self.negatives not in ("trained", "all"):
            raise ConfigError(
                f"train.negatives must be 'trained' (items with a training interaction) or 'all', "
                f"got '{self.negatives}'"
            )
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(
                f"train.time_limit must be > 0 seconds (or None for no limit), got {self.time_limit}"
            )
        if self.on_nan not in ("stop", "skip-batch"):
            raise ConfigError(f"train.on_nan must be 'stop' or 'skip-batch', got '{self.on_nan}'")
        if self.select not in ("best", "last"):
            raise ConfigError(
                f"train.select must be 'best' (the best validation epoch) or 'last', got '{self.select}'"
            )
        if self.select_on not in ("valid", "valid_cold"):
            raise ConfigError(
                f"train.select_on must be 'valid' or 'valid_cold', got '{self.select_on}'"
            )
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


def _field_type(obj, name: str) -> str:
    return str(next(f.type for f in fields(obj) if f.name == name))


def _coerce(value: Any, hint: str, key: str, source: str) -> Any:
    """``value`` as the option's declared type ``hint`` (its annotation: ``int``, ``float | None``,
    ``Sequence[int] | None``, ...); :class:`ConfigError` when it is not one."""
    if value is None:
        if "None" in hint or hint == "Any":
            return None
        raise ConfigError(f"{source}: {key} cannot be None; give a {hint} value")
    base = hint.replace(" | None", "")
    try:
        if base == "bool":
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError
            return bool(value)
        if base in ("int", "float"):
            if isinstance(value, bool) or (
                base == "int" and isinstance(value, float) and not value.is_integer()
            ):
                raise ValueError
            return int(value) if base == "int" else float(value)
        if base in ("list", "Sequence[int]", "Sequence[float]"):
            item = float if base == "Sequence[float]" else int
            parts = str(value).split(",") if isinstance(value, (str, int, float)) else list(value)
            return [item(v) for v in parts]
        if base == "str" and isinstance(value, os.PathLike):
            return os.fspath(value)
        if (base == "str" and not isinstance(value, str)) or (
            base.startswith("Mapping") and not isinstance(value, dict)
        ):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {key}={value!r} is not a valid {base}") from None
    return value


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
    setattr(obj, name, _coerce(value, _field_type(obj, name), key, source))


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
