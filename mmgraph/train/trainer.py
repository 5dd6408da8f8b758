"""The training loop: BPR with per-epoch negatives, early stopping on validation, one test."""

from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch_geometric
from torch import Tensor
from tqdm.auto import tqdm

import mmgraph
from mmgraph.data import EDGE, load_dataset
from mmgraph.errors import MMGraphError, WriteError
from mmgraph.models import RecGraph, Recommender, build_model
from mmgraph.train.checkpoint import (
    atomic_save,
    atomic_write_text,
    load_checkpoint,
    load_into,
    rng_state,
    seed_everything,
    set_rng_state,
)
from mmgraph.train.config import RunConfig
from mmgraph.train.distributed import (
    Dist,
    all_sum,
    data_parallel,
    load_on_main,
    local_device,
    setup,
)
from mmgraph.train.faults import fault_point
from mmgraph.train.itemsets import UserItemSets
from mmgraph.train.metrics import full_ranking
from mmgraph.train.neighbors import NeighborBatches
from mmgraph.train.sampling import sample_negatives


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MMGraphError(
            f"--device {name}: no CUDA GPU is visible to torch here; use --device cpu (or auto)"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise MMGraphError(
            f"--device {name}: unknown device; use cpu, cuda, cuda:N or auto"
        ) from None


def environment(device: torch.device) -> dict:
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=Path(mmgraph.__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.TimeoutExpired):
        commit = None
    return {
        "mmgraph": mmgraph.__version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "git_commit": commit,
    }


@dataclass
class Experiment:
    """Everything a run needs, built from a :class:`RunConfig`."""

    config: RunConfig
    device: torch.device
    data_info: dict
    graph: RecGraph
    model: Recommender
    splits: dict[str, UserItemSets]
    ranks: Dist = Dist()
    neighbors: NeighborBatches | None = None  # train.sampler "neighbor": sampled subgraphs
    raw_ids: tuple = (
        None,
        None,
    )  # the source's user and item ids per index (None: the index itself)
    unsampled: Tensor | None = None  # [I] bool: items never drawn as negatives (train.negatives)
    _compiled: dict[str, Callable] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, config: RunConfig) -> Experiment:
        config.resolve_defaults().train.check()
        device = local_device(resolve_device(config.train.device))
        ranks = setup(device)  # joins torchrun's process group; one process otherwise
        seed_everything(config.train.seed)
        # Set either way: an earlier run in this process must not leave it on (or off).
        torch.use_deterministic_algorithms(config.train.deterministic, warn_only=True)
        d = config.data
        data = load_dataset(
            d.name,
            d.root,
            synthetic=d.synthetic,
            scale=d.scale,
            seed=config.train.seed,
            split=d.split,
            normalize=d.normalize,
            pca=d.pca,
            cold_items=d.cold_items,
        )
        graph = RecGraph.from_data(data, device)
        torch.manual_seed(config.train.seed)  # model initialization independent of data loading
        model = build_model(config.model, graph, **config.model_args).to(device)
        store = data[EDGE]
        splits = {"train": UserItemSets(graph.edge_index, graph.num_users, graph.num_items)}
        splits |= {
            name: UserItemSets(getattr(store, attr).to(device), graph.num_users, graph.num_items)
            for name, attr in (("valid", "val_edge_index"), ("test", "test_edge_index"))
        }
        if graph.cold is not None:  # the cold items' held-out interactions, ranked among them
            for name in ("valid", "test"):
                pairs = splits[name].pairs()
                pairs = pairs[:, graph.cold[pairs[1]]]
                if pairs.size(1):
                    splits[f"{name}_cold"] = UserItemSets(pairs, graph.num_users, graph.num_items)
        if config.train.on_nan == "skip-batch" and ranks.enabled:
            raise MMGraphError(
                "--on-nan skip-batch runs in one process (a skipped step would desynchronize "
                "DDP's gradient reduction); use --on-nan stop under torchrun"
            )
        if config.train.select_on not in splits:
            raise MMGraphError(
                f"train.select_on={config.train.select_on}: the dataset has no cold items; "
                "add --cold-items FRACTION or select on valid"
            )
        info = {
            "dataset": data.name,
            "synthetic": data.synthetic,
            "split": data.split_protocol,
            "fingerprint": getattr(data, "fingerprint", None),
        }
        neighbors = None
        if config.train.sampler == "neighbor":
            neighbors = NeighborBatches(graph, fanout(config, model))
            # steps touch a subgraph's rows of the user / item tables: sparse gradients, which
            # DDP cannot all-reduce (torchrun keeps them dense)
            model.sparse_grads = not ranks.enabled
        raw_ids = (getattr(data, "user_ids", None), getattr(data, "item_ids", None))
        return cls(
            config,
            device,
            info,
            graph,
            model,
            splits,
            ranks,
            neighbors,
            raw_ids,
            negative_exclusions(graph, config.train.negatives),
        )

    def data_changed_since(self, ckpt: dict) -> bool:
        """Whether the data loaded now differs from the data ``ckpt`` was trained on (by the
        source files' digest; unknown, so ``False``, for synthetic data and older checkpoints)."""
        then, now = ckpt.get("data"), self.data_info["fingerprint"]
        return bool(then and now and then != now)

    def evaluate(self, split: str, ks=None) -> dict:
        """Full-ranking metrics on ``valid`` or ``test`` (see :mod:`mmgraph.train.metrics`);
        ``valid_cold`` / ``test_cold`` (a dataset with cold items) rank only the cold items."""
        return self.evaluate_splits([split], ks)[split]

    @torch.no_grad()
    def evaluate_splits(
        self, splits: list[str], ks=None, per_user: bool = False
    ) -> dict[str, dict]:
        """:meth:`evaluate` for several splits, embedding the graph once; splits this dataset
        does not have (``*_cold`` without cold items) are left out.  ``per_user=True`` adds each
        split's per-user metrics (``"per_user"``, see :func:`~mmgraph.train.metrics.full_ranking`)."""
        self.model.eval()
        with self.autocast():
            user, item = self.compiled("embed")(self.graph)
        user, item = user.float(), item.float()  # scores and metrics in fp32
        out = {}
        for split in splits:
            if split not in self.splits and split.endswith("_cold"):
                continue
            exclude = [self.splits["train"]]
            if split.startswith("test") and self.config.train.mask_valid_at_test:
                exclude.append(self.splits["valid"])
            out[split] = full_ranking(
                lambda users: self.model.full_scores(user, item, users),
                self.graph.num_items,
                self.splits[split],
                exclude,
                ks or self.config.train.ks,
                self.config.train.eval_batch_size,
                self.ranks,
                self.graph.cold if split.endswith("_cold") else None,
                per_user,
            )
        return out

    @torch.no_grad()
    def diagnostics(self) -> dict:
        """The model's :meth:`~mmgraph.models.Recommender.diagnostics` on the whole graph, in
        evaluation mode (e.g. MetaMMF's dynamic share per meta layer)."""
        self.model.eval()
        return self.model.diagnostics(self.graph)

    def compiled(self, method: str) -> Callable:
        """The model's ``method``, through :func:`torch.compile` when ``train.compile`` is on
        (compiled once per experiment; parameters loaded later are picked up)."""
        fn = getattr(self.model, method)
        if not self.config.train.compile:
            return fn
        if method not in self._compiled:
            self._compiled[method] = torch.compile(fn)
        return self._compiled[method]

    def autocast(self) -> torch.autocast:
        """bf16 autocast on the run's device when ``train.amp`` is on (a no-op otherwise)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.train.amp)

    def protocol(self) -> str:
        masked = "train+valid" if self.config.train.mask_valid_at_test else "train"
        selection = (
            "the last epoch reported (train.select=last); "
            if self.config.train.select == "last"
            else ""
        )
        cold = (
            ""
            if self.graph.cold is None
            else (
                f"; cold items: {int(self.graph.cold.sum()):,} held out of training (never negatives), their "
                "held-out interactions also ranked among the cold items alone (test_cold)"
            )
        )
        t = self.config.train
        pool = self.graph.num_items - (0 if self.unsampled is None else int(self.unsampled.sum()))
        negatives = (
            f"BPR with {t.num_negatives} negative(s) per positive from the {pool:,} items "
            + (
                "with a training interaction"
                if t.negatives == "trained"
                else "known at training time"
            )
            + f", batches of {t.batch_size:,}, at most {t.epochs} epochs, patience {t.patience}"
            + (f", {t.time_limit:g} s limit" if t.time_limit else "")
        )
        return (
            f"full ranking over all {self.graph.num_items:,} items; {masked} items masked at test, "
            f"train items at validation; ties in a fixed random item order; {self.data_info['split']}; "
            f"{negatives}; "
            f"{selection}selection on "
            f"{'validation' if self.config.train.select_on == 'valid' else 'validation cold items'} "
            f"{self.config.train.metric}{cold}"
        )


def negative_exclusions(graph: RecGraph, pool: str) -> Tensor | None:
    """``[I]`` bool mask of the items BPR never draws as negatives: cold items (they do not exist
    at training time), and with ``pool="trained"`` also every item without a training
    interaction, as MMRec samples.  Drawing those as negatives teaches a model to bury exactly the
    items only content can place.  ``None`` when nothing is excluded."""
    excluded = graph.cold
    if pool == "trained":
        untrained = torch.bincount(graph.edge_index[1], minlength=graph.num_items) == 0
        excluded = untrained if excluded is None else excluded | untrained
    return excluded if excluded is not None and bool(excluded.any()) else None


def selected_checkpoint(config: RunConfig) -> str:
    """The checkpoint a run reports and serves: ``best.pt`` (the best validation epoch) or, with
    ``train.select=last`` (the released MetaMMF code's practice), ``last.pt``."""
    return "last.pt" if config.train.select == "last" else "best.pt"


def describe(diagnostics: dict | None) -> str:
    """The epoch line's note on how dynamic the fusion is (empty without diagnostics)."""
    if not diagnostics or "dynamic_share" not in diagnostics:
        return ""
    shares = "/".join(f"{v:.3f}" for v in diagnostics["dynamic_share"])
    return f"  dynamic share {shares}  s std {diagnostics['meta_std']:.3f}"


def fanout(config: RunConfig, model: Recommender) -> list[int]:
    """``train.fanout`` checked against the hops the model reads (default: 10 per hop)."""
    hops = model.sampling_hops
    if hops is None:
        raise MMGraphError(
            f"model '{config.model}' needs the whole graph at every step; --sampler "
            "neighbor trains lightgcn, bprmf and metammf"
        )
    given = config.train.fanout
    if given and len(given) != hops:
        raise MMGraphError(
            f"--fanout {','.join(map(str, given))} samples {len(given)} hop(s), but "
            f"{config.model} reads {hops} (its graph layers); give {hops} values or "
            "change the model's layers"
        )
    return list(given) or [10] * hops


def group_settings(cfg) -> dict[str, tuple[float, float]]:
    """Learning rate and weight decay of each parameter group (:meth:`Recommender.parameter_groups`)."""
    return {
        "embeddings": (cfg.lr, cfg.weight_decay),
        "network": (cfg.lr * cfg.network_lr_scale, cfg.network_weight_decay),
        "meta": (cfg.lr * cfg.meta_lr_scale, cfg.meta_weight_decay),
    }


def make_optimizer(model: Recommender, cfg) -> torch.optim.Optimizer:
    """Adam with one parameter group per kind (:meth:`Recommender.parameter_groups`): embedding
    tables at ``train.lr`` with ``train.weight_decay``; networks (projections, static fusion,
    graph layers) at ``train.lr * train.network_lr_scale`` with ``train.network_weight_decay``;
    a hypernetwork (MetaMMF's extractor and meta tensors) at ``train.lr * train.meta_lr_scale``
    with ``train.meta_weight_decay`` (default 0: the dynamic term is a product of decayed
    factors, and coupled decay shrinks it to nothing, which makes the fusion static).  No
    group's setting reaches another.

    With ``train.sampler = "neighbor"`` (in one process) a step reads only the rows of the user /
    item tables its subgraph holds and their gradients are sparse (:attr:`Recommender.sparse_grads`): those
    tables get :class:`~torch.optim.SparseAdam` (lazy Adam: only the rows a step touched move;
    no weight decay, the models' L2 penalty regularizes them), the rest Adam as above.  A dense
    Adam step would update every row of every table at every step."""
    groups = model.parameter_groups()
    sparse = model.sparse_tables() if model.sparse_grads else []
    sparse_ids = {id(t) for t in sparse}
    settings = group_settings(cfg)
    unknown = sorted(set(groups) - set(settings))
    if unknown:
        raise MMGraphError(
            f"{type(model).__name__} declares parameter group(s) {', '.join(unknown)} that the "
            f"trainer has no settings for; use {', '.join(settings)}"
        )
    dense = [
        {"params": kept, "lr": settings[name][0], "weight_decay": settings[name][1], "name": name}
        for name, params in groups.items()
        if (kept := [p for p in params if id(p) not in sparse_ids])
    ]
    if not sparse:
        return torch.optim.Adam(dense)
    return Optimizers(
        [torch.optim.SparseAdam(sparse, lr=cfg.lr)] + ([torch.optim.Adam(dense)] if dense else [])
    )


class Optimizers(list):
    """Several optimizers stepped as one (SparseAdam for sparse tables, Adam for the rest)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self:
            opt.step()

    def state_dict(self) -> list[dict]:
        return [opt.state_dict() for opt in self]

    def load_state_dict(self, states: list[dict]) -> None:
        for opt, state in zip(self, states, strict=True):
            opt.load_state_dict(state)


class Trainer:
    """Runs an :class:`Experiment` in ``run_dir``; :meth:`fit` returns the final metrics."""

    def __init__(
        self,
        exp: Experiment,
        run_dir: Path,
        *,
        quiet: bool = False,
        log: Callable[[str], None] | None = None,
    ):
        self.exp, self.run_dir, self.quiet = exp, run_dir, quiet or not exp.ranks.main
        cfg = exp.config.train
        self.optimizer = make_optimizer(exp.model, cfg)
        # (users, pos, negs) -> loss; through DDP, which averages gradients over ranks, under torchrun
        self.step = data_parallel(exp.model, exp.compiled("batch_loss"), exp.ranks)
        self.generator = torch.Generator(device=exp.device).manual_seed(cfg.seed)
        self.state = {
            "epoch": 0,
            "best_epoch": None,
            "best_valid": None,
            "bad_evals": 0,
            "history": [],
        }
        self.env = environment(exp.device) | {"processes": exp.ranks.world}
        self._log_file = (
            open(run_dir / "log.txt", "a", encoding="utf-8") if exp.ranks.main else None
        )
        self._echo = log or (lambda msg: tqdm.write(msg))
        self.board = None
        if cfg.tensorboard and exp.ranks.main:
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, msg: str) -> None:
        if self._log_file is None:  # not rank 0
            return
        self._log_file.write(msg + "\n")
        self._log_file.flush()
        if not self.quiet:
            self._echo(msg)

    # Checkpoints ---------------------------------------------------------------------------
    def _checkpoint(self) -> dict:
        return {
            "model": self.exp.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "state": {k: v for k, v in self.state.items() if k != "history"},
            "history": json.dumps(self.state["history"]),
            "rng": rng_state(self.generator),
            "data": self.exp.data_info["fingerprint"],
        }

    def resume(self) -> None:
        # a process killed while writing left its temporary file (never the checkpoint itself)
        for stale in sorted(self.run_dir.glob(".*.tmp-*")) if self.exp.ranks.main else []:
            stale.unlink()
            self.log(f"removed {stale.name}, an unfinished write of a killed run")
        ckpt = self._load("last.pt")
        if self.exp.data_changed_since(ckpt):
            where = self.exp.config.data.root or self.exp.data_info["dataset"]
            raise MMGraphError(
                f"{self.run_dir}: the data at {where} changed since this run started (its files' "
                "digest differs); resuming would train on other data; restore the data, or start "
                "a new run"
            )
        load_into(self.exp.model, ckpt, self.run_dir / "last.pt", self.optimizer)
        self.state = dict(ckpt["state"]) | {"history": json.loads(ckpt["history"])}
        set_rng_state(ckpt["rng"], self.generator)
        self.log(f"resumed from {self.run_dir / 'last.pt'} after epoch {self.state['epoch']}")

    def _load(self, name: str) -> dict:
        """A checkpoint of the run folder, read by rank 0 and broadcast to the others."""
        exp = self.exp
        return load_on_main(
            lambda: load_checkpoint(self.run_dir / name, exp.device), exp.ranks, exp.device
        )

    def _save(self, obj: dict, name: str) -> None:
        if not self.exp.ranks.main:
            return
        try:
            atomic_save(obj, self.run_dir / name)
        except WriteError as exc:  # e.g. the disk filled up during training
            kept = (
                ", ".join(n for n in ("last.pt", "best.pt") if (self.run_dir / n).exists())
                or "none"
            )
            cause = exc.__cause__
            raise WriteError(
                f"{self.run_dir / name}: cannot write the checkpoint ({cause.strerror or cause}); "
                f"complete checkpoints kept: {kept}; free some space, then "
                f"{'--resume' if 'last.pt' in kept else 'start a new run'}"
            ) from cause

    # Loop ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> float:
        exp, cfg = self.exp, self.exp.config.train
        model, graph = exp.model, exp.graph
        model.train()
        model.start_epoch(graph, self.generator)
        train = exp.graph.edge_index
        neg = sample_negatives(
            exp.splits["train"], train[0], cfg.num_negatives, self.generator, exclude=exp.unsampled
        )
        perm = torch.randperm(train.size(1), generator=self.generator, device=exp.device)
        total = torch.zeros((), device=exp.device)
        batches = perm.split(cfg.batch_size)
        ranks = exp.ranks
        if ranks.enabled and batches[-1].numel() < ranks.world:  # every rank needs a share
            if len(batches) == 1:
                raise MMGraphError(
                    f"{train.size(1)} training interactions cannot be shared by "
                    f"{ranks.world} processes; use fewer"
                )
            batches = batches[:-2] + (torch.cat(batches[-2:]),)
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=self.quiet, unit="batch")
        loader = exp.neighbors.epoch(train[0], train[1], neg) if exp.neighbors else None
        skip_nan, skipped, counted = cfg.on_nan == "skip-batch", 0, 0
        for step, batch in enumerate(bar):
            share = ranks.shard(batch)  # this rank's slice of the global batch
            if loader is None:  # the whole graph, global ids
                g, users, pos, negs = graph, train[0, share], train[1, share], neg[share]
            else:  # the subgraph sampled around the share's pairs, local ids
                g, users, pos, negs = exp.neighbors.subgraph(
                    loader, share, train.size(1), neg.size(1)
                )
            with exp.autocast():  # the loss itself is computed in fp32 (bpr_loss casts)
                loss = self.step(g, users, pos, negs)
            fault_point(f"batch:{epoch}:{step}")
            if skip_nan and not torch.isfinite(loss.detach()):  # a host sync per step
                skipped += 1
                continue
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over ranks: weigh each by its share of the batch
            (
                loss * (share.numel() * ranks.world / batch.numel()) if ranks.enabled else loss
            ).backward()
            if cfg.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            self.optimizer.step()
            total += loss.detach() * share.numel()
            counted += batch.numel()
            if not self.quiet and step % 10 == 0:  # .item() syncs with the device: not every step
                bar.set_postfix(loss=f"{loss.item():.4f}")
        last = self.run_dir / "last.pt"
        last = last if last.exists() else "none yet"
        if skipped:
            self.log(
                f"epoch {epoch}: skipped {skipped} of {len(batches)} batches with a non-finite loss (--on-nan skip-batch)"
            )
            if skipped == len(batches):
                raise MMGraphError(
                    f"every batch of epoch {epoch} had a non-finite loss; last good checkpoint: "
                    f"{last}; lower train.lr or check the features"
                )
        mean = (all_sum(total, ranks) / max(counted, 1)).item()
        if not math.isfinite(mean):
            raise MMGraphError(
                f"training loss became {mean} in epoch {epoch}; last good checkpoint: {last}; "
                "lower train.lr, set train.clip_grad_norm, check the features, or "
                "skip such batches with --on-nan skip-batch"
            )
        return mean

    def scalars(self, step: int, **groups: dict | float) -> None:
        """Log numbers for TensorBoard (``train.tensorboard``): ``group/metric`` per step."""
        if self.board is None:
            return
        for group, values in groups.items():
            if values is None:
                continue
            if isinstance(values, dict):
                for key, value in values.items():
                    if key != "users":
                        self.board.add_scalar(f"{group}/{key}", value, step)
            else:
                self.board.add_scalar(group, values, step)
        self.board.flush()

    def plot(self) -> None:
        """``curves.png``: loss and validation metrics per epoch (skipped, with a note, without
        matplotlib)."""
        if not self.exp.ranks.main or not self.state["history"]:
            return
        from mmgraph.train.plots import curves

        try:
            curves(
                [(self.run_dir.name, self.summary())],
                self.run_dir / "curves.png",
                self.exp.config.train.metric,
            )
        except MMGraphError as exc:  # matplotlib missing: the run itself is fine
            self.log(f"curves.png not written: {exc}")

    def fit(self, test: bool = True) -> dict:
        """Train until ``train.epochs`` or early stopping, reload the best checkpoint and, unless
        ``test=False`` (a sweep tests only the point it selects), evaluate the test split."""
        exp, cfg = self.exp, self.exp.config.train
        metric = cfg.metric
        start_epoch = self.state["epoch"] + 1
        if start_epoch == 1:
            self.log(
                f"{exp.data_info['dataset']} ({'SYNTHETIC' if exp.data_info['synthetic'] else 'real data'}): "
                f"{exp.graph.num_users:,} users, {exp.graph.num_items:,} items, "
                f"{exp.graph.edge_index.size(1):,} training interactions; model {exp.config.model} "
                f"({sum(p.numel() for p in exp.model.parameters()):,} parameters) on {exp.device}"
                + (f" x {exp.ranks.world} processes" if exp.ranks.enabled else "")
            )
        for epoch in range(start_epoch, cfg.epochs + 1):
            if self.stop_reason():  # a resumed run that had already stopped
                break
            t0 = time.perf_counter()
            loss = self.train_epoch(epoch)
            seconds = time.perf_counter() - t0
            record = {"epoch": epoch, "loss": loss, "train_seconds": round(seconds, 3)}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                t1 = time.perf_counter()
                record |= exp.evaluate_splits(["valid", "valid_cold"])
                record["eval_seconds"] = round(time.perf_counter() - t1, 3)
                diagnostics = exp.diagnostics()
                if diagnostics:
                    record["diagnostics"] = diagnostics
                valid = record[cfg.select_on]
                best = self.state["best_valid"]
                improved = best is None or valid[metric] > best[metric]
                if improved:
                    self.state.update(best_epoch=epoch, best_valid=valid, bad_evals=0)
                    self._save(
                        {
                            "model": exp.model.state_dict(),
                            "epoch": epoch,
                            "data": exp.data_info["fingerprint"],
                        },
                        "best.pt",
                    )
                else:
                    self.state["bad_evals"] += 1
                self.log(
                    f"epoch {epoch:3d}  loss {loss:.4f}  {cfg.select_on} {metric} {valid[metric]:.4f}  "
                    f"ndcg@{metric.split('@')[1]} {valid['ndcg@' + metric.split('@')[1]]:.4f}  "
                    + describe(record.get("diagnostics"))
                    + f"  ({seconds:.1f} s train, {record['eval_seconds']:.1f} s eval)"
                    + ("  *best*" if improved else "")
                )
            else:
                self.log(f"epoch {epoch:3d}  loss {loss:.4f}  ({seconds:.1f} s)")
            self.state["epoch"] = epoch
            self.state["history"].append(record)
            self.scalars(
                epoch, loss=loss, valid=record.get("valid"), valid_cold=record.get("valid_cold")
            )
            self.state["stopped"] = self.stop_reason()
            self._save(self._checkpoint(), "last.pt")
            self.write_metrics()
            if self.state["stopped"]:
                break
        if self.state["best_epoch"] is None:
            raise MMGraphError(
                "no validation evaluation happened; raise train.epochs or lower train.eval_every"
            )
        name = selected_checkpoint(exp.config)
        load_into(exp.model, self._load(name), self.run_dir / name)
        self.plot()
        if not test:
            return self.write_metrics()
        t2 = time.perf_counter()
        tested = exp.evaluate_splits(["test", "test_cold"])
        test, cold = tested["test"], tested.get("test_cold")
        where = (
            f"best epoch {self.state['best_epoch']}"
            if cfg.select == "best"
            else f"the last epoch, {self.state['epoch']} (train.select=last)"
        )
        self.log(
            f"test at {where} ({time.perf_counter() - t2:.1f} s): "
            + "  ".join(f"{k} {test[k]:.4f}" for k in test if k.startswith(("recall", "ndcg")))
        )
        if cold is not None:
            self.log(
                f"test, cold items only ({int(exp.graph.cold.sum()):,} ranked): "
                + "  ".join(f"{k} {cold[k]:.4f}" for k in cold if k.startswith(("recall", "ndcg")))
            )
        self.scalars(self.state["best_epoch"], test=test, test_cold=cold)
        return self.write_metrics(test, cold)

    def stop_reason(self) -> str | None:
        """Why training stops after the epochs so far: ``"patience"`` (``train.patience``
        validations without improvement; ``train.select=best`` only), ``"time limit"`` (the
        epochs' training and validation seconds reached ``train.time_limit``), ``"epochs"``
        (``train.epochs`` done), or ``None`` to go on."""
        cfg, state = self.exp.config.train, self.state
        if state["bad_evals"] >= cfg.patience and cfg.select == "best":
            return "patience"
        spent = sum(h["train_seconds"] + h.get("eval_seconds", 0.0) for h in state["history"])
        if cfg.time_limit and spent >= cfg.time_limit:
            return "time limit"
        return "epochs" if state["epoch"] >= cfg.epochs else None

    def summary(self, test: dict | None = None, test_cold: dict | None = None) -> dict:
        """What ``metrics.json`` holds: data, protocol, the selected epoch (the best validation
        epoch, or the last with ``train.select=last``) with its validation metrics and model
        diagnostics, ``test`` (and ``test_cold``), the per-epoch history and the environment."""
        exp = self.exp
        last = exp.config.train.select == "last"
        selected = self.state["epoch"] if last else self.state["best_epoch"]
        record = next((h for h in self.state["history"] if h["epoch"] == selected), {})
        out = {
            "dataset": exp.data_info["dataset"],
            "synthetic": exp.data_info["synthetic"],
            "data_fingerprint": exp.data_info["fingerprint"],
            "model": exp.config.model,
            "protocol": exp.protocol(),
            "selected_on": exp.config.train.select_on,
            "select": exp.config.train.select,
            "selected_epoch": selected,
            "best_epoch": self.state["best_epoch"],
            "stopped": self.state.get("stopped"),
            "valid": record.get(exp.config.train.select_on) if last else self.state["best_valid"],
            "diagnostics": record.get("diagnostics"),
            "test": test,
            "history": self.state["history"],
            "env": self.env,
        }
        if test_cold is not None:
            out["test_cold"] = test_cold
        return out

    def write_metrics(self, test: dict | None = None, test_cold: dict | None = None) -> dict:
        out = self.summary(test, test_cold)
        if self.exp.ranks.main:
            atomic_write_text(json.dumps(out, indent=1), self.run_dir / "metrics.json")
        return out

    def close(self) -> None:
        self.step = None  # the DDP wrapper must go before its process group (distributed.teardown)
        if self._log_file is not None:
            self._log_file.close()
        if self.board is not None:
            self.board.close()
