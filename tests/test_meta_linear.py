import pytest
import torch

from mmgraph.nn import CPMetaLinear, MetaLinear

N, IN, OUT, K, R = 5, 7, 4, 3, 2


def explicit(layer, x, s):
    """The per-item weight product, materialized: y_i = x_i W_i + b."""
    return torch.einsum("ni,nio->no", x, layer.item_weights(s)) + layer.lin.bias


def grads(layer, fn, x, s, g):
    layer.zero_grad()
    x, s = x.clone().requires_grad_(), s.clone().requires_grad_()
    (fn(x, s) * g).sum().backward()
    return [x.grad, s.grad] + [p.grad.clone() for p in layer.parameters()]


@pytest.mark.parametrize(
    "make", [lambda: MetaLinear(IN, OUT, K), lambda: CPMetaLinear(IN, OUT, K, R)]
)
def test_equals_explicit_per_item_product(make):
    torch.manual_seed(0)
    layer = make()
    x, s, g = torch.randn(N, IN), torch.randn(N, K), torch.randn(N, OUT)
    assert torch.allclose(layer(x, s), explicit(layer, x, s), atol=1e-5)
    ours = grads(layer, layer, x, s, g)
    ref = grads(layer, lambda a, b: explicit(layer, a, b), x, s, g)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-5)


def test_items_get_different_weights():
    torch.manual_seed(0)
    layer = MetaLinear(IN, OUT, K)
    x = torch.randn(1, IN).expand(2, IN)
    s = torch.randn(2, K)
    y = layer(x, s)
    assert not torch.allclose(y[0], y[1])  # same input, different meta vector


def test_cp_equals_full_layer_with_rebuilt_basis():
    torch.manual_seed(0)
    cp, full = CPMetaLinear(IN, OUT, K, R), MetaLinear(IN, OUT, K)
    full.lin.load_state_dict(cp.lin.state_dict())
    with torch.no_grad():
        full.meta_weight.copy_(cp.basis().reshape(IN, K * OUT))
    x, s = torch.randn(N, IN), torch.randn(N, K)
    assert torch.allclose(cp(x, s), full(x, s), atol=1e-5)


def test_cp_parameters_grow_with_rank_not_with_in_times_out_times_k():
    count = lambda m: sum(p.numel() for p in m.parameters())
    static = 2276 * 1024 + 1024
    assert count(CPMetaLinear(2276, 1024, 5, rank=16)) == static + 16 * (2276 + 1024 + 5)
    assert count(MetaLinear(2276, 1024, 5)) == static + 2276 * 5 * 1024


def test_zero_meta_vector_is_the_static_layer():
    layer = CPMetaLinear(IN, OUT, K, R)
    x = torch.randn(N, IN)
    assert torch.allclose(layer(x, torch.zeros(N, K)), layer.lin(x))


def test_shape_errors():
    layer = MetaLinear(IN, OUT, K)
    with pytest.raises(ValueError, match="meta has 2 channels"):
        layer(torch.randn(N, IN), torch.randn(N, 2))
    with pytest.raises(ValueError, match="expected x"):
        layer(torch.randn(N, IN), torch.randn(N + 1, K))
    with pytest.raises(ValueError, match="rank"):
        CPMetaLinear(IN, OUT, K, rank=0)


def test_repr_and_reset():
    layer = CPMetaLinear(IN, OUT, K, R)
    assert repr(layer) == "CPMetaLinear(7, 4, meta_channels=3, rank=2)"
    before = layer.factor_in.clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.factor_in)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MetaLinear(64, 48, 5),
        lambda: CPMetaLinear(64, 48, 5, rank=8),
        lambda: MetaLinear(200, 16, 3, init_ratio=0.3),
        lambda: CPMetaLinear(16, 200, 7, rank=4, init_ratio=0.3),
    ],
)
def test_dynamic_term_starts_at_init_ratio_of_the_static_term(make):
    # for unit-scale inputs and unit-RMS meta vectors: E||h dW_i|| / E||h W|| = init_ratio, averaged
    # over fresh initialisations (one draw of the weights fluctuates by about 1 / sqrt(d_in d_out))
    torch.manual_seed(0)
    ratios = []
    for _ in range(20):
        layer = make()
        x, s = torch.randn(512, layer.in_channels), torch.randn(512, layer.meta_channels)
        static, dynamic = layer.parts(x, s)
        ratios.append((dynamic.pow(2).sum() / static.pow(2).sum()).sqrt())
    assert torch.stack(ratios).mean().item() == pytest.approx(layer.init_ratio, rel=0.1)
    # the parts are the layer: static (no bias) + dynamic + bias
    assert torch.allclose(layer(x, s), static + dynamic + layer.lin.bias, atol=1e-5)


def test_meta_parameters_are_the_dynamic_tensors_only():
    full, cp = MetaLinear(4, 3, 2), CPMetaLinear(4, 3, 2, rank=2, bias=False)
    assert [id(p) for p in full.meta_parameters()] == [id(full.meta_weight)]
    assert {id(p) for p in cp.meta_parameters()} == {
        id(cp.factor_in),
        id(cp.factor_out),
        id(cp.factor_meta),
    }
    assert cp.lin.bias is None
    with pytest.raises(ValueError, match="init_ratio"):
        MetaLinear(4, 3, 2, init_ratio=-1)
