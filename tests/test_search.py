"""Per-model search spaces (configs/search/<model>.yaml) and per-model training defaults."""

import json

import pytest

from mmgraph.models import MODELS, check_options
from mmgraph.runs.api import resolve_config, train_run
from mmgraph.runs.search import SEARCH_DIR, load_search_space
from mmgraph.train.config import TRAIN_DEFAULTS, ConfigError

TRAINED = [name for name, cls in MODELS.items() if cls.capabilities.trainable]


@pytest.mark.parametrize("name", TRAINED)
def test_every_trained_model_has_a_search_space_whose_points_are_valid(name):
    space = load_search_space(name)
    assert space.path == SEARCH_DIR / f"{name}.yaml" and space.reference != "not stated"
    points = space.points()
    assert 2 <= len(points) <= 20, (
        "a grid of 2-20 points keeps the TikTok comparison within a few hours"
    )
    for point in points:
        cfg = resolve_config("tiktok", sets=[f"{k}={v}" for k, v in point.items()], model=name)
        cfg.train.check()
        check_options(cfg.model, cfg.model_args)
        for key, value in point.items():  # each value reached the run, with its type
            section, _, option = key.partition(".")
            got = cfg.model_args[option] if section == "model" else getattr(cfg.train, option)
            assert got == value and type(got) is type(value), (key, got, value)


def test_yaml_numbers_without_a_dot_are_numbers(tmp_path):
    (tmp_path / "bprmf.yaml").write_text(
        "model: bprmf\nreference: test\ngrid:\n  reg_weight: [1e-3, 2]\n"
    )
    space = load_search_space("bprmf", tmp_path)
    assert space.grid == {"model.reg_weight": [1e-3, 2]} and space.points() == [
        {"model.reg_weight": 1e-3},
        {"model.reg_weight": 2},
    ]
    assert load_search_space("lightgcn", tmp_path).points() == [{}]  # no file: the defaults only


@pytest.mark.parametrize(
    "text, message",
    [
        ("model: lightgcn\ngrid:\n  reg_weight: [1]\n", "names model 'lightgcn', not 'bprmf'"),
        ("grid:\n  model.num_layers: [1, 2]\n", "model 'bprmf' has no option 'num_layers'"),
        ("grid:\n  nonsense: [1, 2]\n", "unknown option 'nonsense'"),
        ("grid:\n  reg_weight: []\n", "grid axis reg_weight has no values"),
        ("grid: [1, 2]\n", "grid must map option names to lists"),
        ("grid: {reg_weight: [1\n", "cannot parse"),
    ],
)
def test_a_bad_search_file_is_named_with_the_fix(tmp_path, text, message):
    (tmp_path / "bprmf.yaml").write_text(text)
    with pytest.raises(ConfigError, match="bprmf.yaml") as info:
        load_search_space("bprmf", tmp_path)
    assert message in str(info.value)


def test_models_train_with_their_reference_settings_unless_a_run_sets_them():
    lightgcn = resolve_config("tiktok", model="lightgcn").train
    assert {
        k: getattr(lightgcn, k) for k in TRAIN_DEFAULTS
    } == TRAIN_DEFAULTS  # MMRec's overall.yaml
    assert (lightgcn.lr, lightgcn.batch_size, lightgcn.num_negatives, lightgcn.negatives) == (
        1e-3,
        2048,
        1,
        "trained",
    )
    design = resolve_config("tiktok", model="metammf").train
    assert (design.lr, design.network_lr_scale, design.batch_size, design.num_negatives) == (
        0.005,
        0.25,
        8192,
        5,
    )
    paper = resolve_config("tiktok", model="metammf", sets=["model.variant=paper-gcn"]).train
    assert (paper.lr, paper.batch_size, paper.negatives, paper.network_weight_decay) == (
        1e-3,
        600,
        "all",
        1e-6,
    )
    explicit = resolve_config(
        "tiktok", model="lightgcn", sets=["train.lr=0.01", "train.batch_size=100"]
    ).train
    assert (explicit.lr, explicit.batch_size, explicit.weight_decay) == (0.01, 100, 0.0)


def test_the_saved_config_holds_the_resolved_settings(tmp_path):
    cfg = resolve_config(
        "kwai",
        model="bprmf",
        **{"data.synthetic": True, "data.scale": 0.01, "train.epochs": 1, "train.device": "cpu"},
    )
    run_dir, metrics = train_run(cfg, tmp_path, quiet=True)
    saved = json.loads((run_dir / "config.json").read_text())["train"]
    assert {k: saved[k] for k in TRAIN_DEFAULTS} == TRAIN_DEFAULTS
    assert (
        "1 negative(s) per positive" in metrics["protocol"]
        and "with a training interaction" in metrics["protocol"]
    )
    assert metrics["stopped"] == "epochs"
