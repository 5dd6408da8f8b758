"""The item-side inputs of feature-based recommenders: dense features and encoded bags of words."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor
from torch.nn import Module, ModuleDict

from mmgraph.models.base import Recommender
from mmgraph.models.graph import RecGraph
from mmgraph.nn import BagOfWordsEncoder


class ItemInputs(Module):
    """Each modality's item input ``[I, d_m]``: dense features as stored in the graph, and
    bag-of-words modalities (text given as (item, word) pairs, as in MMGCN's TikTok) through a
    learned :class:`~mmgraph.nn.BagOfWordsEncoder` of size ``word_dim``.

    Args:
        modality_dims (dict): Dense modality name -> feature dim.
        bag_vocab (dict, optional): Bag-of-words modality name -> vocabulary size.
        word_dim (int): Word embedding size. (default: 64)
        owner (str): The model's name, for error messages.
    """

    def __init__(
        self,
        modality_dims: Mapping[str, int],
        bag_vocab: Mapping[str, int] | None = None,
        word_dim: int = 64,
        owner: str = "model",
    ):
        super().__init__()
        bag_vocab = dict(bag_vocab or {})
        if not modality_dims and not bag_vocab:
            raise ValueError(f"{owner} needs at least one modality")
        self.owner = owner
        self.text = ModuleDict({m: BagOfWordsEncoder(v, word_dim) for m, v in bag_vocab.items()})
        self.dims = dict(modality_dims) | {m: word_dim for m in bag_vocab}

    def reset_parameters(self) -> None:
        for encoder in self.text.values():
            encoder.reset_parameters()

    def forward(self, graph: RecGraph) -> dict[str, Tensor]:
        missing = [m for m in self.dims if m not in graph.features and m not in graph.bags]
        if missing:
            raise ValueError(
                f"{self.owner} was built with modalities {list(self.dims)}, the graph lacks {missing}"
            )
        return {
            m: (
                self.text[m](graph.bags[m], graph.num_items)
                if m in self.text
                else graph.features[m]
            )
            for m in self.dims
        }


class FeatureRecommender(Recommender):
    """A recommender built from a graph's users, items, modality dims and vocabularies."""

    @classmethod
    def from_graph(cls, graph: RecGraph, **kwargs):
        dims = {m: x.size(1) for m, x in graph.features.items()}
        return cls(graph.num_users, graph.num_items, dims, graph.bag_vocab, **kwargs)
