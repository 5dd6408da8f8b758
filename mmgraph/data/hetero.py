"""Turn validated arrays (:class:`RecData`) into the package's :class:`HeteroData` graph."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from mmgraph.data.records import RecData

EDGE = ("user", "interacts", "item")
REV_EDGE = ("item", "rev_interacts", "user")


def to_hetero(rec: RecData) -> HeteroData:
    """Build the user-item graph described in DESIGN.md section 2.

    * ``data['user'].num_nodes``, ``data['item'].num_nodes``;
    * ``data['item'][m]``: float32 ``[I, D_m]`` for each dense modality ``m``;
      ``data['item'][m + '_bag']``: int64 ``[2, n]`` (item, word) pairs for a bag-of-words
      modality, whose vocabulary size is ``data.bag_vocab[m]``;
    * ``data.modalities``: all modality names, dense and bag-of-words, in order;
    * ``data[EDGE].edge_index``: training interactions (user -> item), and the reverse edge type
      ``('item', 'rev_interacts', 'user')`` as :class:`~torch_geometric.transforms.ToUndirected`
      makes it;
    * ``data[EDGE].val_edge_index`` / ``.test_edge_index``: held-out interactions, never used
      for message passing;
    * ``data.name``, ``data.synthetic``, ``data.source``, ``data.split_protocol``, and
      ``data.user_ids`` / ``data.item_ids`` (raw ids of the source, or ``None`` if identity);
    * ``data.cold_items``: int64 ids of the items held out of training (or ``None``).
    * ``data.fingerprint``: the source files' digest (:attr:`RecData.fingerprint`).
    """
    data = HeteroData()
    data["user"].num_nodes = rec.num_users
    data["item"].num_nodes = rec.num_items
    for m, x in rec.features.items():
        data["item"][m] = torch.from_numpy(np.ascontiguousarray(x))
    for m, bag in rec.bags.items():
        data["item"][f"{m}_bag"] = torch.from_numpy(np.ascontiguousarray(bag.index))
    data.modalities = rec.modalities
    data.bag_vocab = {m: bag.num_words for m, bag in rec.bags.items()}
    train = torch.from_numpy(np.ascontiguousarray(rec.train))
    data[EDGE].edge_index = train
    data[EDGE].val_edge_index = torch.from_numpy(np.ascontiguousarray(rec.val))
    data[EDGE].test_edge_index = torch.from_numpy(np.ascontiguousarray(rec.test))
    data[REV_EDGE].edge_index = train.flip(0)
    data.name = rec.name
    data.synthetic = rec.synthetic
    data.source = rec.source
    data.split_protocol = rec.split_protocol
    data.fingerprint = rec.fingerprint
    data.user_ids = rec.user_ids
    data.item_ids = rec.item_ids
    data.cold_items = (
        None if rec.cold_items is None else torch.from_numpy(np.asarray(rec.cold_items))
    )
    return data
