"""A run's context: the device, data, graph, model and splits a config builds."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch_geometric
from torch import Tensor

import mmgraph
from mmgraph.data import EDGE, load_dataset
from mmgraph.distributed import Dist, local_device, setup
from mmgraph.errors import MMGraphError
from mmgraph.eval.itemsets import UserItemSets
from mmgraph.eval.protocol import describe_protocol, rank_splits
from mmgraph.models import RecGraph, Recommender, build_model
from mmgraph.train.config import RunConfig
from mmgraph.train.negatives import negative_exclusions
from mmgraph.train.neighbors import NeighborBatches
from mmgraph.utils.seed import seed_everything


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
            seed=config.train.seed if d.seed is None else d.seed,
            split=d.split,
            normalize=d.normalize,
            pca=d.pca,
            cold_items=d.cold_items,
        )
        graph = RecGraph.from_data(data, device)
        torch.manual_seed(config.train.seed)  # model initialization independent of data loading
        model = build_model(config.model, graph, **config.model_args).to(device)
        if config.train.compile:  # in place: forward compiles, the state dict keeps its keys
            model.compile()
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

    def environment(self) -> dict:
        """The versions, device and commit this run ran with (see :func:`environment`)."""
        return environment(self.device)

    def data_changed_since(self, ckpt: dict) -> bool:
        """Whether the data loaded now differs from the data ``ckpt`` was trained on (by the
        source files' digest; unknown, so ``False``, for synthetic data and older checkpoints)."""
        then, now = ckpt.get("data"), self.data_info["fingerprint"]
        return bool(then and now and then != now)

    def evaluate(self, split: str, ks=None) -> dict:
        """Full-ranking metrics on ``valid`` or ``test`` (see :mod:`mmgraph.eval.metrics`);
        ``valid_cold`` / ``test_cold`` (a dataset with cold items) rank only the cold items."""
        return self.evaluate_splits([split], ks)[split]

    @torch.no_grad()
    def evaluate_splits(
        self, splits: list[str], ks=None, per_user: bool = False
    ) -> dict[str, dict]:
        """:meth:`evaluate` for several splits, embedding the graph once; splits this dataset
        does not have (``*_cold`` without cold items) are left out.  ``per_user=True`` adds each
        split's per-user metrics (``"per_user"``, see :func:`~mmgraph.eval.metrics.full_ranking`)."""
        self.model.eval()
        with self.autocast():
            user, item = self.model(self.graph)
        user, item = user.float(), item.float()  # scores and metrics in fp32
        t = self.config.train
        return rank_splits(
            lambda users: self.model.full_scores(user, item, users),
            self.splits,
            splits,
            num_items=self.graph.num_items,
            cold=self.graph.cold,
            ks=ks or t.ks,
            batch_size=t.eval_batch_size,
            mask_valid_at_test=t.mask_valid_at_test,
            ranks=self.ranks,
            per_user=per_user,
        )

    @torch.no_grad()
    def diagnostics(self) -> dict:
        """The model's :meth:`~mmgraph.models.Recommender.diagnostics` on the whole graph, in
        evaluation mode (e.g. MetaMMF's dynamic share per meta layer)."""
        self.model.eval()
        return self.model.diagnostics(self.graph)

    def autocast(self) -> torch.autocast:
        """bf16 autocast on the run's device when ``train.amp`` is on (a no-op otherwise)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.train.amp)

    def protocol(self) -> str:
        """The sentence that states how this run is trained and evaluated (see
        :func:`~mmgraph.eval.protocol.describe_protocol`)."""
        return describe_protocol(
            self.config.train,
            num_items=self.graph.num_items,
            cold=self.graph.cold,
            unsampled=self.unsampled,
            split=self.data_info["split"],
        )


def fanout(config: RunConfig, model: Recommender) -> list[int]:
    """``train.fanout`` checked against the hops the model reads (default: 10 per hop)."""
    if model.capabilities.hops is None:
        raise MMGraphError(
            f"model '{config.model}' needs the whole graph at every step; --sampler "
            "neighbor trains lightgcn, bprmf and metammf"
        )
    hops = model.capabilities.hops(model)
    given = config.train.fanout
    if given and len(given) != hops:
        raise MMGraphError(
            f"--fanout {','.join(map(str, given))} samples {len(given)} hop(s), but "
            f"{config.model} reads {hops} (its graph layers); give {hops} values or "
            "change the model's layers"
        )
    return list(given) or [10] * hops
