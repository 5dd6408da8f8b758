"""Shared assertions for tests, in the spirit of ``torch_geometric.testing.asserts``."""

from __future__ import annotations

import io
from collections.abc import Callable

import torch

from mmgraph.models import Capabilities, RecGraph, Recommender


def assert_recommender(build: Callable[[], Recommender], graph: RecGraph) -> Recommender:
    """What every recommender promises on ``graph``: ``model(graph)`` gives finite ``[U, d]``
    and ``[I, d]`` representations, the same twice in evaluation mode; ``full_scores`` ranks
    every item for every user; a trainable model's batch loss is finite and reaches its
    parameters; and its state dict, loaded into a freshly built model, gives the same outputs.
    ``build`` makes the model (twice, for the state-dict round trip); returns the first one."""
    torch.manual_seed(0)
    model = build().eval()
    assert isinstance(model.capabilities, Capabilities)
    with torch.no_grad():
        user, item = model(graph)
        again = [_dense(x) for x in model(graph)]
    assert user.shape[0] == graph.num_users and item.shape[0] == graph.num_items
    assert user.shape[1] == item.shape[1]
    assert all(torch.isfinite(_dense(x)).all() for x in (user, item))
    assert all(torch.equal(_dense(a), b) for a, b in zip((user, item), again))
    scores = model.full_scores(user, item, torch.arange(graph.num_users))
    assert scores.shape == (graph.num_users, graph.num_items) and torch.isfinite(scores).all()

    if model.capabilities.trainable:
        model.train()
        model.start_epoch(graph, torch.Generator().manual_seed(0))
        users = graph.edge_index[0]
        negs = (graph.edge_index[1] + 1).remainder(graph.num_items).unsqueeze(1)
        loss = model.batch_loss(graph, users, graph.edge_index[1], negs)
        assert loss.dim() == 0 and torch.isfinite(loss)
        loss.backward()
        assert any(p.grad is not None for p in model.parameters())
        model.eval()

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)  # another initialization, overwritten by the load
    fresh = build().eval()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    with torch.no_grad():
        for a, b in zip(model(graph), fresh(graph)):
            assert torch.allclose(_dense(a), _dense(b), atol=1e-6)
    return model


def _dense(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a dense tensor (content kNN scores through sparse matrices)."""
    return x if x.layout == torch.strided else x.to_dense()
