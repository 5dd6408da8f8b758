import json
import math

import pytest
import torch
from click.testing import CliRunner
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from mmgraph.cli import main
from mmgraph.models import MODELS, LightGCN, RecGraph
from mmgraph.runs.api import resolve_config, train_run
from mmgraph.runs.context import Experiment
from mmgraph.train.optim import make_optimizer
from mmgraph.train.trainer import Trainer

FAST = {
    "data.synthetic": True,
    "data.scale": 0.01,
    "train.epochs": 4,
    "train.batch_size": 512,
    "train.lr": 0.01,
    "train.device": "cpu",
}


def config(model="metammf", **extra):
    return resolve_config("tiktok", **(FAST | {"model": model} | extra))


def test_run_writes_config_metrics_checkpoints_and_log(tmp_path):
    run_dir, metrics = train_run(config(), tmp_path, quiet=True)
    assert {p.name for p in run_dir.iterdir()} == {
        "config.json",
        "metrics.json",
        "best.pt",
        "last.pt",
        "log.txt",
        "curves.png",
    }
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert (
        saved["synthetic"] is True and saved["dataset"] == "tiktok" and saved["model"] == "metammf"
    )
    assert set(saved["test"]) >= {
        "recall@10",
        "recall@20",
        "ndcg@10",
        "ndcg@20",
        "precision@20",
        "hr@20",
    }
    assert len(saved["history"]) == 4 and saved["best_epoch"] in (1, 2, 3, 4)
    assert saved["valid"]["recall@20"] == max(h["valid"]["recall@20"] for h in saved["history"])
    assert saved["env"]["torch"] == torch.__version__
    assert json.loads((run_dir / "config.json").read_text())["data"]["synthetic"] is True
    # a second run never reuses the folder
    second, _ = train_run(config(**{"train.epochs": 1}), tmp_path, quiet=True)
    assert second != run_dir and (run_dir / "best.pt").exists()


@pytest.mark.parametrize(
    "model", ["metammf", "lightgcn", "freedom", "lattice"]
)  # the last two: per-epoch graphs
def test_resume_after_interruption_gives_the_same_metrics(tmp_path, monkeypatch, model):
    # --deterministic: without it, CPU scatter-adds in backward may differ in the last bits
    det = {"train.deterministic": True}
    _, straight = train_run(config(model, **det), tmp_path / "a", quiet=True)

    original = Trainer.train_epoch

    def crash_at_epoch_3(self, epoch):
        if epoch == 3:
            raise KeyboardInterrupt  # killed between epochs: last.pt holds epoch 2
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", crash_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_run(config(model, **det), tmp_path / "b", quiet=True)
    monkeypatch.setattr(Trainer, "train_epoch", original)
    (run_dir,) = (tmp_path / "b").iterdir()
    _, resumed = train_run(None, resume=run_dir, quiet=True)
    assert resumed["test"] == straight["test"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in straight["history"]]


def test_early_stopping_and_test_at_best_epoch(tmp_path):
    _, m = train_run(
        config(**{"train.epochs": 30, "train.patience": 2, "train.lr": 0.2}), tmp_path, quiet=True
    )
    epochs = len(m["history"])
    assert epochs < 30  # stopped early
    best = m["best_epoch"]
    assert epochs - best == 2 and m["stopped"] == "patience"  # two evaluations without improvement


def test_lightgcn_equals_pyg_lightgcn():
    torch.manual_seed(0)
    graph = RecGraph(3, 4, torch.tensor([[0, 0, 1, 2], [0, 1, 2, 3]]))
    ours = LightGCN.from_graph(graph, embedding_dim=8, num_layers=3)
    ref = PyGLightGCN(7, 8, num_layers=3)
    ref.embedding.weight.data.copy_(ours.embedding.weight.data)
    out = ref.get_embedding(graph.homogeneous_edge_index())
    user, item = ours(graph)
    assert torch.allclose(torch.cat([user, item]), out, atol=1e-6)


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_train_then_evaluate(tmp_path):
    result = run_cli(
        "train",
        "kwai",
        "--synthetic",
        "--scale",
        "0.01",
        "--epochs",
        "2",
        "--batch-size",
        "512",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
        "--quiet",
        "--set",
        "cp_rank=4",
        "--set",
        "train.patience=3",
    )
    assert result.exit_code == 0, result.output
    assert "kwai (SYNTHETIC stand-in), metammf" in result.output and "| recall |" in result.output
    (run_dir,) = tmp_path.iterdir()
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["model"]["cp_rank"] == 4 and cfg["train"]["patience"] == 3
    result = run_cli("evaluate", str(run_dir), "--k", "5,50")
    assert result.exit_code == 0, result.output
    assert "| metric | @5 | @50 |" in result.output


@pytest.mark.parametrize("fmt", ["toml", "yaml", "json"])
def test_config_files(tmp_path, fmt):
    text = {
        "toml": '[data]\nsynthetic = true\nscale = 0.01\n[model]\nname = "lightgcn"\nnum_layers = 1\n'
        "[train]\nepochs = 1\nbatch_size = 512\n",
        "yaml": "data: {synthetic: true, scale: 0.01}\nmodel: {name: lightgcn, num_layers: 1}\n"
        "train: {epochs: 1, batch_size: 512}\n",
        "json": json.dumps(
            {
                "data": {"synthetic": True, "scale": 0.01},
                "model": {"name": "lightgcn", "num_layers": 1},
                "train": {"epochs": 1, "batch_size": 512},
            }
        ),
    }[fmt]
    path = tmp_path / f"c.{fmt}"
    path.write_text(text)
    result = run_cli(
        "train", "tiktok", "--config", str(path), "--out", str(tmp_path / "runs"), "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert "tiktok (SYNTHETIC stand-in), lightgcn" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "kwai", "--synthetic", "--model", "gat"], "unknown model 'gat'"),
        (["train", "kwai", "--synthetic", "--set", "nonsense=1"], "unknown option 'nonsense'"),
        (["train", "kwai", "--synthetic", "--set", "lr"], "write key=value"),
        (
            ["train", "kwai", "--synthetic", "--set", "train.epochs=many"],
            "train.epochs='many' is not a valid int",
        ),
        (
            ["train", "kwai", "--synthetic", "--set", "model.depth=3"],
            "model 'metammf' has no option 'depth'",
        ),
        (
            ["train", "kwai", "--synthetic", "--scale", "0.01", "--set", "fusion=attention"],
            "fusion='attention' must be one of",
        ),
        (
            ["train", "kwai", "--synthetic", "--config", "/nonexistent.toml"],
            "config file not found",
        ),
        (
            ["train", "kwai", "--synthetic", "--set", "network_lr_scale=-1"],
            "train.network_lr_scale must be a finite",
        ),
        (
            ["train", "kwai", "--synthetic", "--set", "clip_grad_norm=big"],
            "train.clip_grad_norm='big' is not a valid float",
        ),
        (
            ["train", "kwai", "--synthetic", "--batch-size", "0"],
            "--batch-size must be an integer >= 1",  # named as the user gave it
        ),
        (
            ["train", "kwai", "--synthetic", "--set", "metric=ndcg@50"],
            "train.metric 'ndcg@50' must be one of",
        ),
        (
            ["train", "kwai", "--synthetic", "--scale", "0.01", "--model", "popularity"],
            "has nothing to train",
        ),
        (["train", "--resume", "/nonexistent/run"], "not a run folder"),
        (["evaluate", "/nonexistent/run"], "not a run folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = run_cli(*args, *(["--out", str(tmp_path)] if args[0] == "train" else []))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu(tmp_path):
    result = run_cli(
        "train",
        "kwai",
        "--synthetic",
        "--scale",
        "0.01",
        "--device",
        "cuda",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 2 and "no CUDA GPU is visible" in result.output
    assert not any(tmp_path.iterdir())


def test_unwritable_output_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_cli(
        "train", "kwai", "--synthetic", "--scale", "0.01", "--out", str(tmp_path / "file" / "runs")
    )
    assert result.exit_code == 2 and "cannot create the output folder" in result.output


def test_embeddings_networks_and_meta_get_their_own_rate_and_decay():
    cfg = config(
        **{
            "train.lr": 0.02,
            "train.network_lr_scale": 0.25,
            "train.network_weight_decay": 0.01,
            "train.weight_decay": 1e-6,
            "train.meta_lr_scale": 0.5,
            "train.meta_weight_decay": 0.0,
        }
    )
    model = Experiment.build(cfg).model
    groups = model.parameter_groups()
    names = {id(p): n for n, p in model.named_parameters()}
    # free tables: user / item ID embeddings, the per-modality user preferences, word embeddings,
    # and the learned default item ID of cold items
    assert {names[id(p)] for p in groups["embeddings"]} == {
        "user.weight",
        "item_id.weight",
        "inputs.text.textual.embedding.weight",
        "default_item_id",
        *(f"encoders.{m}.user_preference.weight" for m in ("visual", "acoustic", "textual")),
    }
    # the hypernetwork: the extractor and every meta tensor (CP factors), never the static weights
    meta = {names[id(p)] for p in groups["meta"]}
    assert meta == {
        *(f"fusion.extractor.lin{i}.{w}" for i in (1, 2) for w in ("weight", "bias")),
        *(f"fusion.layers.{k}.factor_{f}" for k in (0, 1) for f in ("in", "out", "meta")),
    }
    assert "fusion.layers.0.lin.weight" in {names[id(p)] for p in groups["network"]}
    every = [id(p) for g in groups.values() for p in g]
    assert sorted(every) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    opt = make_optimizer(model, cfg.train)
    assert [(g["name"], g["lr"], g["weight_decay"]) for g in opt.param_groups] == [
        ("embeddings", 0.02, 1e-6),
        ("network", 0.005, 0.01),
        ("meta", 0.01, 0.0),
    ]
    # the static fusion has no meta group; a model with no networks (LightGCN) has one group
    static = Experiment.build(config(**{"model.fusion": "static"})).model
    assert not static.parameter_groups()["meta"]
    assert (
        len(make_optimizer(Experiment.build(config("lightgcn")).model, cfg.train).param_groups) == 1
    )


def test_gradient_clipping_bounds_the_step(tmp_path, monkeypatch):
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm):
        params = list(params)
        original(params, max_norm)
        norms.append(
            torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in params if p.grad is not None])
            )
        )
        return norms[-1]

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    train_run(config(**{"train.epochs": 1, "train.clip_grad_norm": 1e-3}), tmp_path, quiet=True)
    assert norms and all(n <= 1e-3 * (1 + 1e-4) for n in norms)


@pytest.mark.parametrize("model", sorted(n for n in MODELS if MODELS[n].capabilities.trainable))
def test_amp_runs_every_model_in_bf16_and_scores_in_fp32(tmp_path, model):
    _, m = train_run(config(model, **{"train.amp": True, "train.epochs": 2}), tmp_path, quiet=True)
    assert all(math.isfinite(h["loss"]) for h in m["history"]) and 0 <= m["test"]["recall@20"] <= 1


def test_amp_autocasts_the_fusion_and_keeps_the_ranking_close():
    exp = Experiment.build(config("metammf", **{"train.amp": True}))
    with exp.autocast():
        fusion = exp.model.fusion
        fused = fusion(
            {m: torch.randn(5, 64) for m in exp.model.input_dims},
            torch.randn(5, fusion.extractor.in_channels),
        )
    assert fused.dtype == torch.bfloat16
    amp = exp.evaluate("valid")
    exp.config.train.amp = False
    full = exp.evaluate("valid")
    assert abs(amp["recall@20"] - full["recall@20"]) < 0.05


def test_compile_matches_eager(tmp_path):
    # no dropout: compiled code draws its dropout masks from another generator than eager
    options = {"train.epochs": 2, "train.deterministic": True, "model.dropout": 0.0}
    _, eager = train_run(config("metammf", **options), tmp_path / "eager", quiet=True)
    _, compiled = train_run(
        config("metammf", **options, **{"train.compile": True}), tmp_path / "compiled", quiet=True
    )
    for a, b in zip(eager["history"], compiled["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert compiled["test"]["recall@20"] == pytest.approx(eager["test"]["recall@20"], abs=1e-3)


def test_defaults_keep_the_fusion_dynamic_and_coupled_decay_kills_it(tmp_path):
    # the planted SYNTHETIC stand-in, default options: the dynamic share at the selected epoch
    # stays near its initial size; decaying the meta group (what the network group's decay did
    # to it before the groups were split) drives it towards zero, and the diagnostic shows it
    base = {"train.epochs": 5, "train.lr": 0.02, "train.patience": 100}
    _, alive = train_run(config(**base), tmp_path, quiet=True, test=False)
    _, dead = train_run(
        config(**base, **{"train.meta_weight_decay": 1.0}), tmp_path, quiet=True, test=False
    )
    shares = alive["diagnostics"]["dynamic_share"]
    assert len(shares) == 2 and min(shares) > 0.05, shares
    assert max(dead["history"][-1]["diagnostics"]["dynamic_share"]) < 0.2 * min(
        alive["history"][-1]["diagnostics"]["dynamic_share"]
    )
    assert all("diagnostics" in h for h in alive["history"])  # at every validation
    assert (
        alive["diagnostics"]
        == next(h for h in alive["history"] if h["epoch"] == alive["selected_epoch"])["diagnostics"]
    )
    log = (next(tmp_path.iterdir()) / "log.txt").read_text()
    assert "dynamic share" in log


def test_select_last_reports_and_serves_the_last_epoch(tmp_path):
    from mmgraph.runs.api import load_run

    run_dir, m = train_run(
        config(**{"train.select": "last", "train.patience": 1, "train.epochs": 4}),
        tmp_path,
        quiet=True,
    )
    assert (
        m["select"] == "last" and m["selected_epoch"] == 4 and len(m["history"]) == 4
    )  # no early stop
    assert m["valid"] == m["history"][-1]["valid"]
    exp = load_run(run_dir)  # the served checkpoint is last.pt
    assert exp.evaluate_splits(["test"])["test"] == m["test"]
    assert "train.select=last" in m["protocol"]
    with pytest.raises(Exception, match="train.select"):
        config(**{"train.select": "first"}).train.check()


def test_negatives_come_from_the_trained_items_unless_asked_for_all(tmp_path, monkeypatch):
    import mmgraph.train.trainer as trainer_module
    from mmgraph.train.negatives import negative_exclusions

    g = RecGraph(
        2, 5, torch.tensor([[0, 0, 1], [0, 1, 2]])
    )  # items 3 and 4 have no training interaction
    assert negative_exclusions(g, "trained").tolist() == [False, False, False, True, True]
    assert negative_exclusions(g, "all") is None
    g.cold = torch.tensor([False, False, False, False, True])
    assert negative_exclusions(g, "all").tolist() == [
        False,
        False,
        False,
        False,
        True,
    ]  # cold: never negatives
    exp = Experiment.build(config("bprmf"))
    untrained = torch.bincount(exp.graph.edge_index[1], minlength=exp.graph.num_items) == 0
    assert untrained.any() and torch.equal(exp.unsampled, untrained)
    drawn, real = [], trainer_module.sample_negatives
    monkeypatch.setattr(
        trainer_module, "sample_negatives", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1]
    )
    trainer = Trainer(exp)
    trainer.train_epoch(1)
    trainer.close()
    assert drawn and not untrained[drawn[0]].any()
    assert (
        "negative(s) per positive from the" in exp.protocol()
        and "with a training interaction" in exp.protocol()
    )


def test_a_time_limit_stops_a_run_after_the_epoch_that_reaches_it(tmp_path):
    _, metrics = train_run(config(**{"train.time_limit": 1e-6}), tmp_path, quiet=True)
    assert metrics["stopped"] == "time limit" and len(metrics["history"]) == 1
    assert "1e-06 s limit" in metrics["protocol"]


def test_the_data_seed_fixes_the_data_while_the_training_seed_varies():
    def graph(**options):
        cfg = resolve_config("kwai", model="bprmf", **{"data.synthetic": True, "data.scale": 0.01})
        for key, value in options.items():
            setattr(cfg.data if key == "data_seed" else cfg.train, key.removeprefix("data_"), value)
        return Experiment.build(cfg).graph.edge_index

    assert torch.equal(graph(data_seed=3, seed=0), graph(data_seed=3, seed=1))
    assert not torch.equal(graph(seed=0), graph(seed=1))  # default: the training seed
    assert torch.equal(graph(seed=3), graph(data_seed=3, seed=0))
    result = CliRunner().invoke(
        main, ["datasets", "info", "kwai", "--synthetic", "--scale", "0.01", "--data-seed", "3"]
    )
    assert result.exit_code == 0 and "seed 3" in result.output
