"""Reusable PyG layers: meta (hypernetwork) linear layers, meta fusion, modality convolutions."""

from mmgraph.nn.adjacency import (
    edge_weights,
    normalized_adjacency,
    smooth,
    smooth_users_items,
    spmm,
)
from mmgraph.nn.encoders import BagOfWordsEncoder, ModalityEncoder
from mmgraph.nn.fusion import MetaFusion, MetaInfoExtractor, StaticFusion
from mmgraph.nn.knn import cosine_knn, knn_propagate, knn_propagate_mix, knn_weights
from mmgraph.nn.losses import bpr_loss
from mmgraph.nn.meta_linear import CPMetaLinear, MetaLinear
from mmgraph.nn.modality_conv import ModalityConv

__all__ = [
    "BagOfWordsEncoder",
    "CPMetaLinear",
    "MetaFusion",
    "MetaInfoExtractor",
    "MetaLinear",
    "ModalityConv",
    "ModalityEncoder",
    "StaticFusion",
    "bpr_loss",
    "cosine_knn",
    "edge_weights",
    "knn_propagate",
    "knn_propagate_mix",
    "knn_weights",
    "normalized_adjacency",
    "smooth",
    "smooth_users_items",
    "spmm",
]
