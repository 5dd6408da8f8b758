"""Raw files -> validated arrays (:class:`RecData`) -> :class:`~torch_geometric.data.HeteroData`.

One module per on-disk format (:mod:`.formats`, each described by a ``Format``), the synthetic
stand-ins (:mod:`.synthetic`), safe readers for pickled files (:mod:`.safe_load`), feature
preprocessing (:mod:`.features`) and the processed-dataset cache (:mod:`.cache`).
"""

from mmgraph.data.catalog import CATALOG, SYNTHETIC_NAMES, DatasetSpec
from mmgraph.data.formats.generic import load_generic
from mmgraph.data.formats.metammf_toy import load_metammf_toy
from mmgraph.data.formats.mmgcn import load_mmgcn
from mmgraph.data.formats.mmrec import load_mmrec
from mmgraph.data.hetero import EDGE, REV_EDGE, to_hetero
from mmgraph.data.records import BagOfWords, RecData, build_records
from mmgraph.data.registry import (
    datasets_dir,
    default_root,
    detect_format,
    load_dataset,
    load_records,
)
from mmgraph.data.safe_load import RestrictedUnpickler, load_npy, load_pt
from mmgraph.data.splits import split_per_user
from mmgraph.data.summary import format_summary, summarize
from mmgraph.data.synthetic import make_synthetic

__all__ = [
    "CATALOG",
    "SYNTHETIC_NAMES",
    "DatasetSpec",
    "EDGE",
    "REV_EDGE",
    "BagOfWords",
    "RecData",
    "RestrictedUnpickler",
    "build_records",
    "datasets_dir",
    "default_root",
    "detect_format",
    "format_summary",
    "load_dataset",
    "load_generic",
    "load_metammf_toy",
    "load_mmgcn",
    "load_mmrec",
    "load_npy",
    "load_pt",
    "load_records",
    "make_synthetic",
    "split_per_user",
    "summarize",
    "to_hetero",
]
