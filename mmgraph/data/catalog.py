"""What the package knows about each named dataset: format, statistics, modalities, source."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    format: str  # "mmgcn" | "mmrec"
    users: int
    items: int
    interactions: int
    modalities: dict[str, int] = field(default_factory=dict)  # name -> feature dim
    files: tuple[str, ...] = ()  # required
    source: str = ""
    note: str = ""
    optional_files: tuple[str, ...] = ()
    bag_modalities: tuple[str, ...] = ()  # text given as (item, word id) pairs


CATALOG: dict[str, DatasetSpec] = {
    "movielens": DatasetSpec(
        "movielens",
        "mmgcn",
        55_485,
        5_986,
        1_239_508,
        {"visual": 2048, "acoustic": 128, "textual": 100},
        (
            "train.npy",
            "val_full.npy",
            "test_full.npy",
            "FeatureVideo_normal.npy",
            "FeatureAudio_avg_normal.npy",
            "FeatureText_stl_normal.npy",
        ),
        "MMGCN authors' release (github.com/weiyinwei/MMGCN, Data/movielens)",
        optional_files=("user_item_dict.npy",),
    ),
    "tiktok": DatasetSpec(
        "tiktok",
        "mmgcn",
        36_656,
        76_085,
        726_065,
        {"visual": 128, "acoustic": 128, "textual": 128},
        ("train.npy", "val_full.npy", "test_full.npy", "feat_v.pt", "feat_a.pt", "feat_t.pt"),
        "MMGCN authors' release (github.com/weiyinwei/MMGCN, Data/tiktok)",
        "feat_t.pt holds (item, word id) pairs, encoded by a learned bag of words",
        optional_files=("user_item_dict.npy",),
        bag_modalities=("textual",),
    ),
    "kwai": DatasetSpec(
        "kwai",
        "mmgcn",
        7_010,
        86_483,
        298_492,
        {"visual": 2048, "textual": 100},
        ("train.npy", "val_full.npy", "test_full.npy", "feat_v.pt"),
        "MMGCN / GRCN authors' release (github.com/weiyinwei/MMGCN, Data/Kwai)",
        "no acoustic modality; a larger 22,611 x 329,510 x 1,664,305 version also circulates",
        optional_files=("user_item_dict.npy", "feat_t.pt"),
    ),
    "baby": DatasetSpec(
        "baby",
        "mmrec",
        19_445,
        7_050,
        160_792,
        {"image": 4096, "text": 384},
        ("baby.inter", "image_feat.npy", "text_feat.npy"),
        "MMRec (github.com/enoche/MMRec), Amazon Baby 5-core",
    ),
    "sports": DatasetSpec(
        "sports",
        "mmrec",
        35_598,
        18_357,
        296_337,
        {"image": 4096, "text": 384},
        ("sports.inter", "image_feat.npy", "text_feat.npy"),
        "MMRec (github.com/enoche/MMRec), Amazon Sports and Outdoors 5-core",
    ),
    "clothing": DatasetSpec(
        "clothing",
        "mmrec",
        39_387,
        23_033,
        278_677,
        {"image": 4096, "text": 384},
        ("clothing.inter", "image_feat.npy", "text_feat.npy"),
        "MMRec (github.com/enoche/MMRec), Amazon Clothing, Shoes and Jewelry 5-core",
    ),
    "microlens": DatasetSpec(
        "microlens",
        "mmrec",
        0,
        0,
        0,
        {"image": 0, "text": 0},
        ("microlens.inter", "image_feat.npy", "text_feat.npy"),
        "MicroLens (github.com/westlake-repl/MicroLens), converted to the MMRec layout",
        "statistics depend on the release (100K / 1M); counts are read from the files",
    ),
}

SYNTHETIC_NAMES = ("kwai", "tiktok", "movielens")
