"""The model contract: an abstract base, ``forward(graph) -> (user, item)``, declared
capabilities, and graphs that offer only what they hold."""

import re
import typing

import pytest
import torch
from helpers import assert_recommender
from test_baselines import tiny_graph

from mmgraph.errors import MMGraphError
from mmgraph.models import (
    BPRMF,
    MODELS,
    GraphView,
    LightGCN,
    MetaMMF,
    RecGraph,
    Recommender,
    SampledGraph,
    build_model,
    check_options,
    model_option_notes,
    model_option_types,
    model_options,
    option_specs,
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
def test_every_model_keeps_the_recommender_contract(name):
    g = tiny_graph()
    assert_recommender(lambda: build_model(name, g), g)


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


def test_every_numeric_option_declares_its_range():
    for name in MODELS:
        types, specs = model_option_types(name), option_specs(MODELS[name])
        numeric = [k for k, t in types.items() if {int, float} & {t, *typing.get_args(t)}]
        assert [k for k in numeric if k not in specs] == [], name


def test_options_are_keyword_only_and_exclude_what_the_graph_gives():
    for name in MODELS:
        assert not {"num_users", "num_items", "modality_dims", "bag_vocab"} & set(
            model_options(name)
        )


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("lightgcn", {"num_layers": -1}, "num_layers=-1 must be an integer >= 0"),
        ("lightgcn", {"embedding_dim": 0}, "embedding_dim=0 must be an integer >= 1"),
        ("metammf", {"graph_dropout": [0.5, 1.0]}, "must be numbers each >= 0 and < 1"),
        ("metammf", {"fusion": "dense"}, "fusion='dense' must be one of 'meta-cp'"),
        ("lgmrec", {"keep_rate": 0.0}, "keep_rate=0.0 must be a finite number > 0 and <= 1"),
        ("lgmrec", {"tau": 0.0}, "tau=0.0 must be a finite number > 0"),
        ("lattice", {"lambda_coeff": 1.5}, "lambda_coeff=1.5 must be a finite number >= 0"),
        ("freedom", {"reg_weight": float("nan")}, "reg_weight=nan must be a finite number"),
        ("bm3", {"layers": 2}, "unknown option"),
    ],
)
def test_options_are_checked_against_their_declared_range(name, options, message):
    with pytest.raises(MMGraphError, match=re.escape(message)):
        check_options(name, options)
    check_options(name, {})


@pytest.mark.parametrize("variant", ["design", "paper-gcn", "paper-mf"])
def test_resolved_options_are_what_the_constructor_builds(variant):
    resolved = MetaMMF.resolved_options({"variant": variant})
    assert None not in [resolved[k] for k in ("id_dim", "propagation", "reg_weight")]
    model = MetaMMF.from_graph(tiny_graph(), variant=variant)
    assert model.propagation == resolved["propagation"]
    assert model.propagation_layers == resolved["propagation_layers"]
    assert model.graph_dropout == resolved["graph_dropout"]
    assert model.reg_weight == resolved["reg_weight"]
    assert model.item_id.embedding_dim == resolved["id_dim"]
    assert model_option_notes("metammf")["id_dim"] == ">= 0; paper-gcn: 32, paper-mf: 32"
