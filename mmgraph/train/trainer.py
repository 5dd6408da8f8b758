"""The training loop: BPR with per-epoch negatives, early stopping on validation, one test."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from mmgraph.distributed import all_sum, data_parallel
from mmgraph.errors import MMGraphError
from mmgraph.train.callbacks import Callback
from mmgraph.train.negatives import sample_negatives
from mmgraph.train.optim import make_optimizer
from mmgraph.utils.faults import fault_point

if TYPE_CHECKING:  # the runs layer builds the context; the loop only reads it
    from mmgraph.runs.context import Experiment


def describe(diagnostics: dict | None) -> str:
    """The epoch line's note on how dynamic the fusion is (empty without diagnostics)."""
    if not diagnostics or "dynamic_share" not in diagnostics:
        return ""
    shares = "/".join(f"{v:.3f}" for v in diagnostics["dynamic_share"])
    return f"  dynamic share {shares}  s std {diagnostics['meta_std']:.3f}"


class Trainer:
    """Trains an :class:`~mmgraph.runs.Experiment`'s model; :meth:`fit` returns the final metrics.

    What a run writes (checkpoints, log, ``metrics.json``, TensorBoard, curves) is done by
    ``callbacks`` (:mod:`mmgraph.train.callbacks`, :class:`mmgraph.runs.checkpoint.Checkpoints`),
    called in order."""

    def __init__(
        self,
        exp: Experiment,
        callbacks: Sequence[Callback] = (),
        *,
        quiet: bool = False,
        log: Callable[[str], None] | None = None,
    ):
        self.exp, self.quiet = exp, quiet or not exp.ranks.main
        self.callbacks = list(callbacks)
        cfg = exp.config.train
        self.optimizer = make_optimizer(exp.model, cfg)
        # (users, pos, negs) -> loss; through DDP, which averages gradients over ranks, under torchrun
        self.step = data_parallel(exp.model, exp.model.batch_loss, exp.ranks)
        self.generator = torch.Generator(device=exp.device).manual_seed(cfg.seed)
        self.state = {
            "epoch": 0,
            "best_epoch": None,
            "best_valid": None,
            "bad_evals": 0,
            "history": [],
        }
        self.env = exp.environment() | {"processes": exp.ranks.world}
        self._echo = log or (lambda msg: tqdm.write(msg))
        # set by a checkpointing callback: the last complete checkpoint, and the one it loaded
        # back into the model when training ended
        self.last_checkpoint: Path | None = None
        self.restored: str | None = None

    def emit(self, hook: str, *args) -> None:
        """Call ``hook`` (a :class:`~mmgraph.train.callbacks.Callback` method) on every callback."""
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def log(self, msg: str) -> None:
        """A line of the run's log: to the callbacks and, unless quiet, the console (main process only)."""
        if not self.exp.ranks.main:
            return
        self.emit("on_message", msg)
        if not self.quiet:
            self._echo(msg)

    # Loop ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> float:
        exp, cfg = self.exp, self.exp.config.train
        model, graph = exp.model, exp.graph
        model.train()
        model.start_epoch(graph, self.generator)
        train = exp.graph.edge_index
        neg = sample_negatives(
            exp.splits["train"], train[0], cfg.num_negatives, self.generator, exclude=exp.unsampled
        )
        perm = torch.randperm(train.size(1), generator=self.generator, device=exp.device)
        total = torch.zeros((), device=exp.device)
        batches = perm.split(cfg.batch_size)
        ranks = exp.ranks
        if ranks.enabled and batches[-1].numel() < ranks.world:  # every rank needs a share
            if len(batches) == 1:
                raise MMGraphError(
                    f"{train.size(1)} training interactions cannot be shared by "
                    f"{ranks.world} processes; use fewer"
                )
            batches = batches[:-2] + (torch.cat(batches[-2:]),)
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=self.quiet, unit="batch")
        loader = exp.neighbors.epoch(train[0], train[1], neg) if exp.neighbors else None
        skip_nan, skipped, counted = cfg.on_nan == "skip-batch", 0, 0
        for step, batch in enumerate(bar):
            share = ranks.shard(batch)  # this rank's slice of the global batch
            if loader is None:  # the whole graph, global ids
                g, users, pos, negs = graph, train[0, share], train[1, share], neg[share]
            else:  # the subgraph sampled around the share's pairs, local ids
                g, users, pos, negs = exp.neighbors.subgraph(
                    loader, share, train.size(1), neg.size(1)
                )
            with exp.autocast():  # the loss itself is computed in fp32 (bpr_loss casts)
                loss = self.step(g, users, pos, negs)
            fault_point(f"batch:{epoch}:{step}")
            if skip_nan and not torch.isfinite(loss.detach()):  # a host sync per step
                skipped += 1
                continue
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over ranks: weigh each by its share of the batch
            (
                loss * (share.numel() * ranks.world / batch.numel()) if ranks.enabled else loss
            ).backward()
            if cfg.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
            self.optimizer.step()
            total += loss.detach() * share.numel()
            counted += batch.numel()
            if not self.quiet and step % 10 == 0:  # .item() syncs with the device: not every step
                bar.set_postfix(loss=f"{loss.item():.4f}")
        last = self.last_checkpoint or "none yet"
        if skipped:
            self.log(
                f"epoch {epoch}: skipped {skipped} of {len(batches)} batches with a non-finite loss (--on-nan skip-batch)"
            )
            if skipped == len(batches):
                raise MMGraphError(
                    f"every batch of epoch {epoch} had a non-finite loss; last good checkpoint: "
                    f"{last}; lower train.lr or check the features"
                )
        mean = (all_sum(total, ranks) / max(counted, 1)).item()
        if not math.isfinite(mean):
            raise MMGraphError(
                f"training loss became {mean} in epoch {epoch}; last good checkpoint: {last}; "
                "lower train.lr, set train.clip_grad_norm, check the features, or "
                "skip such batches with --on-nan skip-batch"
            )
        return mean

    def fit(self, test: bool = True) -> dict:
        """Train until ``train.epochs`` or early stopping, reload the best checkpoint and, unless
        ``test=False`` (a sweep tests only the point it selects), evaluate the test split."""
        exp, cfg = self.exp, self.exp.config.train
        metric = cfg.metric
        start_epoch = self.state["epoch"] + 1
        if start_epoch == 1:
            self.log(
                f"{exp.data_info['dataset']} ({'SYNTHETIC' if exp.data_info['synthetic'] else 'real data'}): "
                f"{exp.graph.num_users:,} users, {exp.graph.num_items:,} items, "
                f"{exp.graph.edge_index.size(1):,} training interactions; model {exp.config.model} "
                f"({sum(p.numel() for p in exp.model.parameters()):,} parameters) on {exp.device}"
                + (f" x {exp.ranks.world} processes" if exp.ranks.enabled else "")
            )
        for epoch in range(start_epoch, cfg.epochs + 1):
            if self.stop_reason():  # a resumed run that had already stopped
                break
            t0 = time.perf_counter()
            loss = self.train_epoch(epoch)
            seconds = time.perf_counter() - t0
            record = {"epoch": epoch, "loss": loss, "train_seconds": round(seconds, 3)}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                t1 = time.perf_counter()
                record |= exp.evaluate_splits(["valid", "valid_cold"])
                record["eval_seconds"] = round(time.perf_counter() - t1, 3)
                diagnostics = exp.diagnostics()
                if diagnostics:
                    record["diagnostics"] = diagnostics
                valid = record[cfg.select_on]
                best = self.state["best_valid"]
                improved = best is None or valid[metric] > best[metric]
                if improved:
                    self.state.update(best_epoch=epoch, best_valid=valid, bad_evals=0)
                else:
                    self.state["bad_evals"] += 1
                self.log(
                    f"epoch {epoch:3d}  loss {loss:.4f}  {cfg.select_on} {metric} {valid[metric]:.4f}  "
                    f"ndcg@{metric.split('@')[1]} {valid['ndcg@' + metric.split('@')[1]]:.4f}  "
                    + describe(record.get("diagnostics"))
                    + f"  ({seconds:.1f} s train, {record['eval_seconds']:.1f} s eval)"
                    + ("  *best*" if improved else "")
                )
            else:
                improved = None
                self.log(f"epoch {epoch:3d}  loss {loss:.4f}  ({seconds:.1f} s)")
            self.state["epoch"] = epoch
            self.state["history"].append(record)
            self.state["stopped"] = self.stop_reason()
            self.emit("on_epoch_end", record, improved)
            if self.state["stopped"]:
                break
        if self.state["best_epoch"] is None:
            raise MMGraphError(
                "no validation evaluation happened; raise train.epochs or lower train.eval_every"
            )
        self.emit("on_train_end")
        if (
            not self.restored
            and cfg.select == "best"
            and self.state["best_epoch"] != self.state["epoch"]
        ):
            raise MMGraphError(
                "the model holds the last epoch's weights, not the best epoch's: give the Trainer "
                "a checkpointing callback (mmgraph.runs.checkpoint.Checkpoints) to select on validation"
            )
        if not test:
            return self.finish(None, None)
        t2 = time.perf_counter()
        tested = exp.evaluate_splits(["test", "test_cold"])
        test, cold = tested["test"], tested.get("test_cold")
        where = (
            f"best epoch {self.state['best_epoch']}"
            if cfg.select == "best"
            else f"the last epoch, {self.state['epoch']} (train.select=last)"
        )
        self.log(
            f"test at {where} ({time.perf_counter() - t2:.1f} s): "
            + "  ".join(f"{k} {test[k]:.4f}" for k in test if k.startswith(("recall", "ndcg")))
        )
        if cold is not None:
            self.log(
                f"test, cold items only ({int(exp.graph.cold.sum()):,} ranked): "
                + "  ".join(f"{k} {cold[k]:.4f}" for k in cold if k.startswith(("recall", "ndcg")))
            )
        return self.finish(test, cold)

    def stop_reason(self) -> str | None:
        """Why training stops after the epochs so far: ``"patience"`` (``train.patience``
        validations without improvement; ``train.select=best`` only), ``"time limit"`` (the
        epochs' training and validation seconds reached ``train.time_limit``), ``"epochs"``
        (``train.epochs`` done), or ``None`` to go on."""
        cfg, state = self.exp.config.train, self.state
        if state["bad_evals"] >= cfg.patience and cfg.select == "best":
            return "patience"
        spent = sum(h["train_seconds"] + h.get("eval_seconds", 0.0) for h in state["history"])
        if cfg.time_limit and spent >= cfg.time_limit:
            return "time limit"
        return "epochs" if state["epoch"] >= cfg.epochs else None

    def summary(self, test: dict | None = None, test_cold: dict | None = None) -> dict:
        """What ``metrics.json`` holds: data, protocol, the selected epoch (the best validation
        epoch, or the last with ``train.select=last``) with its validation metrics and model
        diagnostics, ``test`` (and ``test_cold``), the per-epoch history and the environment."""
        exp = self.exp
        last = exp.config.train.select == "last"
        selected = self.state["epoch"] if last else self.state["best_epoch"]
        record = next((h for h in self.state["history"] if h["epoch"] == selected), {})
        out = {
            "dataset": exp.data_info["dataset"],
            "synthetic": exp.data_info["synthetic"],
            "data_fingerprint": exp.data_info["fingerprint"],
            "model": exp.config.model,
            "protocol": exp.protocol(),
            "selected_on": exp.config.train.select_on,
            "select": exp.config.train.select,
            "selected_epoch": selected,
            "best_epoch": self.state["best_epoch"],
            "stopped": self.state.get("stopped"),
            "valid": record.get(exp.config.train.select_on) if last else self.state["best_valid"],
            "diagnostics": record.get("diagnostics"),
            "test": test,
            "history": self.state["history"],
            "env": self.env,
        }
        if test_cold is not None:
            out["test_cold"] = test_cold
        return out

    def finish(self, test: dict | None, test_cold: dict | None) -> dict:
        summary = self.summary(test, test_cold)
        self.emit("on_fit_end", summary)
        return summary

    def close(self) -> None:
        self.step = None  # the DDP wrapper must go before its process group (distributed.teardown)
        for callback in self.callbacks:
            callback.close()
