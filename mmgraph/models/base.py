"""The interface every recommender in mmgraph offers the trainer and the evaluator."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Embedding, EmbeddingBag, Module, Parameter

from mmgraph.models.graph import RecGraph


class Recommender(Module):
    """Base class: embed the whole graph once per step, then score pairs or full rankings.

    Subclasses implement :meth:`embed`; dot-product scoring and a zero regularizer are the
    defaults.
    """

    def embed(self, graph: RecGraph) -> tuple[Tensor, Tensor]:
        """Representations of all users ``[U, d]`` and all items ``[I, d]``."""
        raise NotImplementedError

    def score(self, user_emb: Tensor, item_emb: Tensor, users: Tensor, items: Tensor) -> Tensor:
        """Scores ``[B]`` of the pairs ``(users[b], items[b])``."""
        return (user_emb[users] * item_emb[items]).sum(-1)

    def full_scores(self, user_emb: Tensor, item_emb: Tensor, users: Tensor) -> Tensor:
        """Scores ``[B, I]`` of every item for each user in ``users``."""
        return user_emb[users] @ item_emb.t()

    def regularization(self, users: Tensor, items: Tensor) -> Tensor:
        """Extra loss term for a batch (e.g. L2 on the embeddings it used); zero by default."""
        return torch.zeros((), device=users.device)

    @staticmethod
    def l2_penalty(weight: float, *rows: Tensor) -> Tensor:
        """``weight`` times the summed mean squared norms of embedding rows a batch used (the
        L2 regularizer of LightGCN and MetaMMF on their layer-0 tables)."""
        if not weight:
            return torch.zeros((), device=rows[0].device)
        return weight * sum(r.pow(2).sum(-1).mean() for r in rows)

    def parameter_groups(self) -> dict[str, list[Parameter]]:
        """``"embeddings"``: free lookup tables (user, item, word embeddings); ``"network"``:
        every other parameter (feature projections, fusion, hypernetwork).  The trainer can give
        the two their own learning rate and weight decay."""
        tables = {id(m.weight) for m in self.modules() if isinstance(m, (Embedding, EmbeddingBag))}
        groups: dict[str, list[Parameter]] = {"embeddings": [], "network": []}
        for p in self.parameters():
            groups["embeddings" if id(p) in tables else "network"].append(p)
        return groups
