import torch
from conftest import write_mmgcn
from torch_geometric.transforms import ToUndirected

from mmgraph.data import EDGE, REV_EDGE, load_dataset, load_records, to_hetero


def test_graph_layout(tmp_path):
    rec = load_records("tiny", write_mmgcn(tmp_path / "d", text_words=True))
    data = to_hetero(rec)
    data.validate()
    assert data["user"].num_nodes == 4 and data["item"].num_nodes == 6
    assert data.modalities == ["visual", "acoustic", "textual"]
    assert data["item"].visual.shape == (6, 3) and data["item"].textual_bag.shape == (2, 12)
    assert data.bag_vocab == {"textual": 7}
    assert torch.equal(data[EDGE].edge_index, torch.from_numpy(rec.train))
    assert data[EDGE].val_edge_index.shape == (2, 3) and data[EDGE].test_edge_index.shape == (2, 4)
    assert data.synthetic is False


def test_reverse_edges_equal_to_undirected(tmp_path):
    data = load_dataset("tiny", write_mmgcn(tmp_path / "d"))
    ref = data.clone()
    del ref[REV_EDGE]
    ref = ToUndirected()(ref)
    assert torch.equal(ref[REV_EDGE].edge_index, data[REV_EDGE].edge_index)
