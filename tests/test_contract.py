"""The model contract: an abstract base, ``forward(graph) -> (user, item)``, declared
capabilities, and graphs that offer only what they hold."""

import pytest
import torch
from test_baselines import tiny_graph

from mmgraph.models import (
    BPRMF,
    MODELS,
    Capabilities,
    GraphView,
    LightGCN,
    MetaMMF,
    RecGraph,
    Recommender,
    SampledGraph,
    build_model,
)


def test_the_base_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Recommender()

    class NoForward(Recommender):
        @classmethod
        def from_graph(cls, graph):
            return cls()

    with pytest.raises(TypeError, match="forward"):
        NoForward.from_graph(tiny_graph())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_is_called_on_a_graph_for_users_and_items(name):
    g = tiny_graph()
    model = build_model(name, g).eval()
    assert isinstance(model.capabilities, Capabilities)
    with torch.no_grad():
        user, item = model(g)
    assert user.shape[0] == g.num_users and item.shape[0] == g.num_items
    assert user.shape[1] == item.shape[1]
    scores = model.full_scores(user, item, torch.arange(g.num_users))
    assert scores.shape == (g.num_users, g.num_items) and torch.isfinite(scores).all()


def test_declared_capabilities():
    g = tiny_graph()
    trainable = {n for n, cls in MODELS.items() if cls.capabilities.trainable}
    assert set(MODELS) - trainable == {"popularity", "content-knn"}
    assert [n for n, cls in MODELS.items() if cls.capabilities.cold_start] == ["metammf"]
    sampled = {n for n, cls in MODELS.items() if cls.capabilities.hops is not None}
    assert sampled == {"lightgcn", "bprmf", "metammf"}
    hops = {
        "lightgcn 2 layers": LightGCN.from_graph(g, num_layers=2),
        "bprmf": BPRMF.from_graph(g),
        "metammf 1 + 3": MetaMMF.from_graph(g),
        "metammf 1 + 0": MetaMMF.from_graph(g, propagation="none"),
    }
    assert {k: m.capabilities.hops(m) for k, m in hops.items()} == {
        "lightgcn 2 layers": 2,
        "bprmf": 0,
        "metammf 1 + 3": 4,
        "metammf 1 + 0": 1,
    }


def test_a_sampled_graph_offers_only_what_a_subgraph_holds():
    whole_only = ["item_knn", "item_graph", "user_means", "interactions", "with_new_items", "to"]
    assert all(hasattr(RecGraph, name) for name in whole_only)
    assert not any(hasattr(SampledGraph, name) for name in whole_only)
    assert issubclass(SampledGraph, GraphView) and not issubclass(SampledGraph, RecGraph)


def test_self_loop_adjacency_is_row_normalized_a_plus_i():
    g = tiny_graph()
    n = g.num_users + g.num_items
    a = torch.zeros(n, n)
    u, i = g.edge_index[0], g.edge_index[1] + g.num_users
    a[u, i] = a[i, u] = 1
    a = a + torch.eye(n)
    expected = a / a.sum(1, keepdim=True)
    adj_t = g.adjacency("mean", self_loops=True)
    assert torch.allclose(adj_t.to_dense(), expected)  # adj_t[target, source]: each row a mean
    assert g.adjacency("mean", self_loops=True) is adj_t  # cached
    assert not torch.equal(g.adjacency("mean").to_dense(), adj_t.to_dense())


def test_a_compiled_model_matches_eager():
    g = tiny_graph()
    torch.manual_seed(0)
    model = LightGCN.from_graph(g, embedding_dim=4, num_layers=2)
    eager = model(g)
    model.compile()
    assert list(model.state_dict()) == ["embedding.weight"]
    for a, b in zip(model(g), eager):
        assert torch.allclose(a, b, atol=1e-6)
