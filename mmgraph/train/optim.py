"""The optimizer: Adam per parameter group, SparseAdam for sparse tables."""

from __future__ import annotations

import torch

from mmgraph.errors import MMGraphError
from mmgraph.models import Recommender


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
