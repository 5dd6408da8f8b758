import pytest
import torch

from mmgraph.nn import MetaFusion, MetaInfoExtractor, StaticFusion

DIMS = {"visual": 6, "acoustic": 4, "textual": 3}


def inputs(n=5):
    torch.manual_seed(1)
    return {m: torch.randn(n, d) for m, d in DIMS.items()}


@pytest.mark.parametrize("mode", ["full", "cp"])
def test_zeroed_meta_weights_equal_static_fusion(mode):
    torch.manual_seed(0)
    meta = MetaFusion(DIMS, 2, [5, 4], mode=mode, rank=3).eval()
    static = StaticFusion(DIMS, 2, [5, 4]).eval()
    with torch.no_grad():
        for layer, lin in zip(meta.layers, static.layers):
            (layer.meta_weight if mode == "full" else layer.factor_meta).zero_()
            lin.load_state_dict(layer.lin.state_dict())
    xs = inputs()
    assert torch.allclose(meta(xs), static(xs), atol=1e-6)


def test_dict_list_and_concatenated_inputs_agree():
    fusion = MetaFusion(DIMS, 3, [4]).eval()
    xs = inputs()
    a = fusion(xs)
    assert torch.allclose(a, fusion(list(xs.values())))
    assert torch.allclose(a, fusion(torch.cat(list(xs.values()), -1)))


def test_meta_input_drives_per_item_fusion():
    fusion = MetaFusion(DIMS, 3, [4], meta_in_channels=2).eval()
    xs = {m: x[:1].expand(2, -1) for m, x in inputs().items()}  # two identical items...
    out, s = fusion(xs, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), return_meta=True)
    assert s.shape == (2, 5)
    assert not torch.allclose(out[0], out[1])  # ...fused differently by their meta input


def test_static_combines():
    xs = [torch.randn(4, 3), torch.randn(4, 3)]
    mean = StaticFusion([3, 3], 3, combine="mean")
    with torch.no_grad():
        mean.layers[0].weight.copy_(torch.eye(3))
        mean.layers[0].bias.zero_()
    assert torch.allclose(mean(xs), (xs[0] + xs[1]) / 2)
    with pytest.raises(ValueError, match="equal modality dims"):
        StaticFusion([3, 2], 3, combine="sum")


def test_errors():
    fusion = MetaFusion(DIMS, 3)
    with pytest.raises(ValueError, match="missing modalities"):
        fusion({"visual": torch.randn(2, 6)})
    with pytest.raises(ValueError, match="expected modality dims"):
        fusion([torch.randn(2, 6), torch.randn(2, 4), torch.randn(2, 9)])
    with pytest.raises(ValueError, match="mode"):
        MetaFusion(DIMS, 3, mode="tucker")


def test_extractor_is_two_layer_mlp_and_takes_parts():
    ext = MetaInfoExtractor(13, meta_channels=5, hidden_channels=8)
    x = torch.randn(4, 13)
    ref = ext.lin2(torch.relu(ext.lin1(x)))
    assert torch.allclose(ext(x), ref, atol=1e-6)
    assert torch.allclose(ext([x[:, :10], x[:, 10:]]), ref, atol=1e-6)  # no concatenation needed
    with pytest.raises(ValueError, match="expected 13"):
        ext([x[:, :10]])


def test_compile_matches_eager():
    fusion = MetaFusion(DIMS, 3, [4]).eval()
    xs = inputs()
    compiled = torch.compile(fusion)
    assert torch.allclose(compiled(xs), fusion(xs), atol=1e-5)


@pytest.mark.parametrize(
    "name", ["MetaLinear", "CPMetaLinear", "StaticFusion", "BagOfWordsEncoder"]
)
def test_layers_compile_and_match_eager(name):
    from mmgraph.nn import BagOfWordsEncoder, CPMetaLinear, MetaLinear

    torch.manual_seed(0)
    if name == "BagOfWordsEncoder":
        layer, args = BagOfWordsEncoder(7, 3), (torch.tensor([[0, 0, 2], [1, 6, 3]]), 4)
    elif name == "StaticFusion":
        layer, args = StaticFusion(DIMS, 3, [4]).eval(), (inputs(),)
    else:
        layer = MetaLinear(6, 3, 2) if name == "MetaLinear" else CPMetaLinear(6, 3, 2, rank=4)
        args = (torch.randn(5, 6), torch.randn(5, 2))
    assert torch.allclose(torch.compile(layer)(*args), layer(*args), atol=1e-5)


@pytest.mark.parametrize("mode", ["cp", "full"])
def test_dynamic_share_at_initialisation_for_standardized_inputs(mode):
    # the extractor emits unit-RMS meta vectors for inputs with unit second moment, so the meta
    # layers start at their init_ratio: every item's fusion is the shared one plus a small part
    torch.manual_seed(0)
    shares, stds = [], []
    for _ in range(10):
        fusion = MetaFusion({"visual": 96, "acoustic": 32}, 32, [64], mode=mode, init_ratio=0.1)
        xs = {"visual": torch.randn(1024, 96), "acoustic": torch.randn(1024, 32)}
        with torch.no_grad():
            share, meta, out = fusion.dynamic_shares(xs)
        shares.append(share.mean(0))
        stds.append(meta.pow(2).mean().sqrt())
    assert torch.stack(stds).mean().item() == pytest.approx(1.0, rel=0.15)
    for layer_share in torch.stack(shares).mean(0).tolist():
        assert layer_share == pytest.approx(0.1, rel=0.25)
    # the diagnostic pass gives the same output as the forward
    assert torch.allclose(fusion(xs), out, atol=1e-6)
    # zero dynamic tensors: a static fusion, share exactly zero
    for p in (
        fusion.layers[0].meta_parameters()[-1:]
        if mode == "cp"
        else fusion.layers[0].meta_parameters()
    ):
        torch.nn.init.zeros_(p)
    assert fusion.dynamic_shares(xs)[0][:, 0].abs().max() == 0


def test_meta_parameters_are_the_hypernetwork():
    fusion = MetaFusion([4, 3], 2, [5], bias=False)
    meta = {id(p) for p in fusion.meta_parameters()}
    assert meta >= {id(p) for p in fusion.extractor.parameters()}
    assert all(
        id(layer.lin.weight) not in meta and layer.lin.bias is None for layer in fusion.layers
    )
    assert len(meta) == 4 + 3 * len(fusion.layers)
    assert MetaInfoExtractor(7, 5, None).lin1.out_channels == 7  # None: the released d -> d -> k
